"""The pure parts of blo/localservices/docker_engine.py: how a change of the machine's
network is told from the state recorded before dockerd started (the compose tests assert
there is none after it stopped)."""

from __future__ import annotations

from blo.localservices.docker_engine import NetworkState, _is_empty

BEFORE = NetworkState(
    tables={"filter": (":INPUT ACCEPT", ":FORWARD ACCEPT", ":OUTPUT ACCEPT",
                       "-A INPUT -s 192.0.2.9/32 -j DROP")},
    tables6={}, links=frozenset({"lo", "eth0"}), ip_forward="0",
)


def test_the_same_state_has_no_difference() -> None:
    assert BEFORE.differences(BEFORE) == []


def test_what_docker_leaves_behind_is_each_named() -> None:
    after = NetworkState(
        tables={
            "filter": (":INPUT ACCEPT", ":FORWARD DROP", ":OUTPUT ACCEPT", ":DOCKER - ",
                       "-A INPUT -s 192.0.2.9/32 -j DROP", "-A FORWARD -j DOCKER-USER"),
            "nat": (":PREROUTING ACCEPT", ":POSTROUTING ACCEPT"),
        },
        tables6={}, links=frozenset({"lo", "eth0", "docker0"}), ip_forward="1",
    )
    found = "\n".join(BEFORE.differences(after))
    assert "-A FORWARD -j DOCKER-USER" in found and ":FORWARD DROP" in found
    assert "iptables table nat appeared" in found
    assert "docker0" in found
    assert "ip_forward 0 -> 1" in found


def test_a_rule_someone_else_had_removed_is_a_difference_too() -> None:
    after = NetworkState(tables={"filter": BEFORE.tables["filter"][:3]}, tables6={},
                         links=BEFORE.links, ip_forward="0")
    assert "removed ['-A INPUT -s 192.0.2.9/32 -j DROP']" in BEFORE.differences(after)[0]


def test_an_empty_table_has_only_accepting_builtin_chains() -> None:
    assert _is_empty((":PREROUTING ACCEPT", ":POSTROUTING ACCEPT"))
    assert not _is_empty((":FORWARD DROP",))
    assert not _is_empty((":DOCKER - ",))
    assert not _is_empty((":FORWARD ACCEPT", "-A FORWARD -j ACCEPT"))
