"""`blo alerts list` / `blo alerts ack` as a subprocess against the session's real ClickHouse
server (18.16) and Tansu broker: what the listing shows, what the acknowledgement puts on
the alert input topic, and how `--wait` ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker, free_port
from schemas.alert_input import Acknowledgement, decode
from sinks.clickhouse import ServerDatabase
from streams.alert_input import WINDOW_ROW_WIDTH
from streams.alerts.rows import Alert, whole
from tests.fixtures_kafka import consume_records
from tests.unit.blo.alert_rows import T0, insert_alerts, make_alert

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


class Cli:
    def __init__(self, broker: TansuBroker, server: ClickHouseServer, db: ServerDatabase,
                 topic: str, workdir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
        self.env.update(BLO_KAFKA_BOOTSTRAP=broker.bootstrap,
                        BLO_CLICKHOUSE_URL=server.url(db.database),
                        BLO_KAFKA_TOPIC_ALERT_INPUT=topic, BLO_WEB_PORT=str(free_port()),
                        BLO_DATA_DIR=str(workdir))
        self.bootstrap = broker.bootstrap
        self.topic = topic
        self.workdir = workdir

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "blo", "alerts", *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env=self.env, cwd=self.workdir, check=False,
                              capture_output=True, text=True, timeout=120)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, cwd=self.workdir, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def listing(self, *args: str) -> list[dict[str, Any]]:
        res = self.run("list", "--format", "json", *args)
        assert res.returncode == 0, res.stderr
        docs: list[dict[str, Any]] = json.loads(res.stdout)
        return docs

    def input_records(self, expected: int) -> list[Any]:
        return consume_records(self.bootstrap, self.topic, expected, timeout_s=15)


def ack_of(value: bytes) -> Acknowledgement:
    """The acknowledgement an alert input record carries (fails if it carries another)."""
    d = decode(value, window_row_width=WINDOW_ROW_WIDTH)
    assert isinstance(d, Acknowledgement), d
    return d


@pytest.fixture
def cli(kafka_broker: TansuBroker, clickhouse_server: ClickHouseServer,
        make_clickhouse_db: Callable[..., ServerDatabase],
        fresh_topic: Callable[..., str], tmp_path: Path) -> tuple[Cli, ServerDatabase]:
    db = make_clickhouse_db()
    return Cli(kafka_broker, clickhouse_server, db, fresh_topic(1, hint="alert-input"),
               tmp_path), db


@pytest.fixture
def stored(cli: tuple[Cli, ServerDatabase]) -> dict[str, Alert]:
    _, db = cli
    a1 = make_alert(message="first version")
    a2 = a1.next_version(state="resolved", resolved_at=T0 + 7200, updated_at=T0 + 7200,
                         message="TJ-PYANJ: back to 10.0 kg")
    b = make_alert(rule_id="silence-station", kind="silence", severity="warning",
                   scope_key="KZ-NURZHOL", station_id="KZ-NURZHOL", fired_at=T0 + 9000,
                   acked=True, acked_by="night shift", acked_at=T0 + 9100)
    pair = make_alert(rule_id="paired-seizures", kind="paired", severity="info", scope="pair",
                      scope_key="AF-SHER-KHAN+TJ-PYANJ", station_id="", fired_at=T0 + 5000)
    insert_alerts(db, a1, b, pair)
    insert_alerts(db, a2)  # a second part: the listing must collapse the versions
    return {"a": a2, "b": b, "pair": pair}


def test_list_shows_the_current_state_and_filters(cli: tuple[Cli, ServerDatabase],
                                                  stored: dict[str, Alert]) -> None:
    c, _ = cli
    s = {k: str(v.alert_id) for k, v in stored.items()}
    assert [d["alert_id"] for d in c.listing()] == [s["a"], s["b"], s["pair"]]  # worst first
    docs = c.listing("--sort", "time")
    assert [d["alert_id"] for d in docs] == [s["b"], s["pair"], s["a"]]
    assert [(d["version"], d["state"]) for d in docs] == [
        (1, "firing"), (1, "firing"), (2, "resolved")]
    assert docs[2]["resolved_at"] == "2024-05-01T12:00:00Z" and docs[0]["resolved_at"] is None
    assert docs[2]["message"] == "TJ-PYANJ: back to 10.0 kg"
    assert (docs[0]["acked"], docs[0]["acked_by"]) == (True, "night shift")

    assert [d["alert_id"] for d in c.listing("--open")] == [s["b"], s["pair"]]
    assert all(d["muted"] is None for d in docs)
    assert [d["alert_id"] for d in c.listing("--rule", "silence-station")] == [s["b"]]
    assert [d["alert_id"] for d in c.listing("--station", "TJ-PYANJ")] == [s["a"], s["pair"]]
    assert [d["alert_id"] for d in c.listing("--station", "TJ-PYANJ", "--open")] == [s["pair"]]
    assert c.listing("--station", "x' OR 1=1 --") == []

    table = c.run("list", "--open")
    assert table.returncode == 0, table.stderr
    assert len(table.stdout.splitlines()) == 5  # header, rule, two alerts, the counts
    assert table.stdout.splitlines()[-1] == (
        "showing 2 of 2 alerts: critical 0, warning 1, info 1; 2 firing, 0 resolved; "
        "1 acknowledged")
    empty = c.run("list", "--open", "--severity", "critical")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert empty.stderr.strip() == "no open alerts (severity critical)"


def test_ack_puts_one_acknowledgement_on_the_input_topic(cli: tuple[Cli, ServerDatabase],
                                                         stored: dict[str, Alert]) -> None:
    c, _ = cli
    aid = str(stored["pair"].alert_id)
    before = time.time()
    res = c.run("ack", aid, "--by", "duty-officer", "--comment", "seen", "--no-wait")
    after = time.time()
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"acknowledgement sent to {c.topic}"
    assert "already acknowledged" not in res.stderr

    records = c.input_records(1)
    assert len(records) == 1
    d = ack_of(records[0].value)
    assert (d.alert_id, d.by, d.comment) == (aid, "duty-officer", "seen")
    assert before - 1 <= d.at_s <= after + 1


def test_ack_of_an_acknowledged_alert_says_so_and_still_sends(
        cli: tuple[Cli, ServerDatabase], stored: dict[str, Alert]) -> None:
    c, _ = cli
    aid = str(stored["b"].alert_id)
    res = c.run("ack", aid, "--by", "day shift", "--no-wait")
    assert res.returncode == 0, res.stderr
    assert "already acknowledged by night shift" in res.stderr
    records = c.input_records(1)
    assert [(a.alert_id, a.by, a.comment) for a in map(ack_of, (r.value for r in records))
            ] == [(aid, "day shift", "")]


def test_ack_of_an_unknown_alert_produces_nothing(cli: tuple[Cli, ServerDatabase],
                                                  stored: dict[str, Alert]) -> None:
    c, _ = cli
    unknown = "00000000-0000-4000-8000-000000000000"
    res = c.run("ack", unknown, "--by", "duty-officer", "--no-wait")
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: no alert {unknown}"
    assert c.input_records(0) == []


def test_wait_without_a_worker_times_out(cli: tuple[Cli, ServerDatabase],
                                         stored: dict[str, Alert]) -> None:
    c, _ = cli
    res = c.run("ack", str(stored["pair"].alert_id), "--by", "duty-officer", "--timeout", "2")
    assert res.returncode == 1
    assert ("acknowledgement sent, but no worker has written it within 2s (is a worker "
            "running with BLO_ALERTS_ENABLED=true?)") in res.stderr
    assert len(c.input_records(1)) == 1  # it was sent all the same


def test_wait_ends_when_the_acknowledged_version_is_written(
        cli: tuple[Cli, ServerDatabase], stored: dict[str, Alert]) -> None:
    """The test plays the alert engine: it reads the acknowledgement from the input topic and
    writes the version the engine writes (AlertBook.acknowledge: next version, state kept)."""
    c, db = cli
    alert = stored["pair"]
    proc = c.popen("ack", str(alert.alert_id), "--by", "duty-officer", "--comment", "on it",
                   "--timeout", "60")
    try:
        records = c.input_records(1)
        assert len(records) == 1
        d = ack_of(records[0].value)
        who, comment = d.by, d.comment
        # a version written in between without this acknowledgement does not end the wait
        unrelated = alert.next_version(value=70.0, updated_at=alert.updated_at + 60)
        insert_alerts(db, unrelated)
        time.sleep(1.5)
        assert proc.poll() is None
        insert_alerts(db, unrelated.next_version(acked=True, acked_by=who, acked_at=whole(d.at_s),
                                                 ack_comment=comment, updated_at=whole(d.at_s)))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == f"acknowledged {alert.alert_id}: version 3 (firing)"
    acked = c.listing("--rule", "paired-seizures")[0]
    assert (acked["version"], acked["acked_by"], acked["ack_comment"]) == (3, "duty-officer",
                                                                          "on it")


def test_bulk_ack_acknowledges_exactly_the_alerts_the_filter_names(
        cli: tuple[Cli, ServerDatabase]) -> None:
    """Gap alerts an import raised (before imports stopped alarming): acknowledged at once by
    rule, scope and time; other stations, rules, times and acknowledged ones are left alone.
    The test plays the alert engine for the wait, as above."""
    c, db = cli
    y2018 = int(datetime(2018, 3, 1, tzinfo=UTC).timestamp())

    def gap(station: str, at: int, **kw: Any) -> Alert:
        return make_alert(rule_id="sequence-gap", kind="sequence_gap", severity="warning",
                          scope_key=f"{station}:{at}-{at + 5}", station_id=station,
                          window_kind="", fired_at=at, updated_at=at, **kw)

    named = [gap("US-3604", y2018 + i * 86_400 * 30) for i in range(4)]
    named.append(named.pop().next_version(state="resolved", resolved_at=y2018 + 10**7,
                                          updated_at=y2018 + 10**7))
    others = [gap("US-2504", y2018),                                  # another station
              gap("US-3604", y2018 + 400 * 86_400),                   # 2019
              gap("US-3604", y2018 + 86_400, acked=True, acked_by="x", acked_at=y2018),
              make_alert(scope_key="US-3604", station_id="US-3604", fired_at=y2018)]  # rule
    insert_alerts(db, *named, *others)
    want = sorted(str(a.alert_id) for a in named)
    flt = ("--rule", "sequence-gap", "--scope", "US-3604", "--since", "2018-01-01",
           "--until", "2019-01-01")

    dry = c.run("ack", *flt, "--by", "duty-officer", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("4 alerts match (rule sequence-gap, scope US-3604, since "
                                 "2018-01-01 00:00:00 UTC, until 2019-01-01 00:00:00 UTC; "
                                 "not yet acknowledged): 3 firing, 1 resolved")
    refused = subprocess.run(c.argv("ack", *flt, "--by", "duty-officer"), input="n\n",
                             env=c.env, cwd=c.workdir, capture_output=True, text=True,
                             timeout=60, check=False)
    assert refused.returncode == 1 and "nothing acknowledged" in refused.stderr
    assert c.input_records(0) == []
    only_open = c.run("ack", *flt, "--open", "--by", "duty-officer", "--dry-run")
    assert only_open.stdout.startswith("3 alerts match")

    proc = c.popen("ack", *flt, "--by", "duty-officer", "--comment", "import, not lost",
                   "--yes", "--timeout", "60")
    try:
        acks = [ack_of(r.value) for r in c.input_records(4)]
        assert sorted(a.alert_id for a in acks) == want
        assert {(a.by, a.comment, a.at_s) for a in acks} == {
            ("duty-officer", "import, not lost", acks[0].at_s)}
        insert_alerts(db, *(a.next_version(acked=True, acked_by="duty-officer",
                                           acked_at=whole(acks[0].at_s),
                                           ack_comment="import, not lost",
                                           updated_at=whole(acks[0].at_s)) for a in named))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "acknowledged 4 alerts"
    assert len(c.input_records(5)) == 4  # one record per named alert, nothing else
    nothing = c.run("ack", *flt, "--by", "duty-officer", "--yes")
    assert nothing.returncode == 0 and nothing.stdout.startswith("0 alerts match")


# -- exact counts, grouping, mutes ------------------------------------------------------------
def _many(db: ServerDatabase) -> list[Alert]:
    """250 alerts: 120 gaps at 3 stations (KZ), 100 warnings at KG-AK-JOL, 30 criticals of a
    border roll-up; a quarter resolved."""
    out = []
    for i in range(250):
        if i < 120:
            st = ("KZ-KORDAI", "KZ-KARASU", "KZ-NURZHOL")[i % 3]
            a = make_alert(rule_id="sequence-gap", kind="sequence_gap", severity="warning",
                           scope_key=f"{st}:{i}-{i + 2}", station_id=st, fired_at=T0 + i)
        elif i < 220:
            a = make_alert(rule_id="refused-1h", severity="info", scope_key="KG-AK-JOL",
                           station_id="KG-AK-JOL", fired_at=T0 + i)
        else:
            a = make_alert(rule_id="opiates-border-day", scope="border", scope_key="KG-KZ",
                           station_id="", fired_at=T0 + i)
        out.append(a if i % 4 else a.next_version(state="resolved", resolved_at=T0 + 999))
    insert_alerts(db, *out)
    from sinks.tables import STATIONS
    from streams.registry_reader import station_row
    from tests.unit.streams.test_ingest import station

    db.insert("stations", STATIONS.column_names, [station_row(station(
        s, country=s[:2], neighbour_country="KG" if s[:2] == "KZ" else "KZ"),
        datetime.now(UTC)) for s in ("KZ-KORDAI", "KZ-KARASU", "KZ-NURZHOL", "KG-AK-JOL")])
    return out


def test_list_counts_every_match_and_groups(cli: tuple[Cli, ServerDatabase]) -> None:
    c, db = cli
    _many(db)
    res = c.run("list", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) == 100
    assert res.stderr.strip() == ("showing 100 of 250 alerts: critical 30, warning 120, "
                                  "info 100; 187 firing, 63 resolved; 0 acknowledged")
    docs = json.loads(c.run("list", "--format", "json", "--limit", "250").stdout)
    sev = [d["severity"] for d in docs]
    assert sev == ["critical"] * 30 + ["warning"] * 120 + ["info"] * 100
    res = c.run("list", "--country", "KZ", "--open", "--format", "json", "--limit", "5")
    assert res.stderr.startswith("showing 5 of 112 alerts: critical 22, warning 90, info 0;")
    table = c.run("list", "--group")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["rule_id", "scope_key", "alerts", "firing"]
    rows = [line.split() for line in lines[2:-1]]
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("opiates-border-day", "KG-KZ", "30", "22", "critical"),
        ("sequence-gap", "KZ-NURZHOL", "40", "30", "warning"),
        ("sequence-gap", "KZ-KARASU", "40", "30", "warning"),
        ("sequence-gap", "KZ-KORDAI", "40", "30", "warning"),
        ("refused-1h", "KG-AK-JOL", "100", "75", "info")]
    assert lines[-1].startswith("showing 5 of 5 groups (250 alerts: ")


def test_mute_and_unmute_go_to_the_engine_and_mutes_are_listed(
        cli: tuple[Cli, ServerDatabase]) -> None:
    from schemas.alert_input import MuteRequest
    from sinks.tables import ALERT_MUTES
    from streams.alerts.mutes import Mute

    c, db = cli
    _many(db)
    now = int(time.time())
    active = Mute("00000000-0000-4000-8000-00000000000a", 1, "sequence-gap", "station",
                  "KZ-KORDAI", "post rebooting", "duty", now - 60, now + 3600,
                  updated_at=now - 60)
    gone = Mute("00000000-0000-4000-8000-00000000000b", 1, "", "country", "KZ", "drill",
                "duty", now - 7200, now - 3600, updated_at=now - 7200)
    db.insert("alert_mutes", ALERT_MUTES.column_names, [active.row(), gone.row()])

    listed = c.run("mutes", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [(m["mute_id"], m["status"]) for m in json.loads(listed.stdout)] == [
        (active.mute_id, "active"), (gone.mute_id, "expired")]
    table = c.run("mutes", "--active")
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 3
    assert "post rebooting" in table.stdout and "59 min" in table.stdout

    # the listing marks the muted alerts and counts them apart
    res = c.run("list", "--open", "--muted", "--format", "json", "--limit", "500")
    docs = json.loads(res.stdout)
    assert len(docs) == 30 and {d["muted"]["mute_id"] for d in docs} == {active.mute_id}
    assert "30 firing (30 muted)" in res.stderr
    res = c.run("list", "--open", "--format", "json", "--limit", "1")
    assert res.stderr.startswith("showing 1 of 187 alerts") and "187 firing (30 muted)" in \
        res.stderr
    unmuted = json.loads(c.run("list", "--open", "--unmuted", "--format", "json", "--limit",
                               "500").stdout)
    assert len(unmuted) == 157 and all(d["muted"] is None for d in unmuted)

    res = c.run("mute", "--rule", "refused-1h", "--scope", "KG", "--for", "2h",
                "--reason", "known outage", "--by", "duty", "--no-wait")
    assert res.returncode == 0, res.stderr
    bad = [c.run("mute", "--for", "2h", "--reason", "x"),
           c.run("mute", "--rule", "r", "--for", "2 hours", "--reason", "x"),
           c.run("mute", "--rule", "r", "--for", "40d", "--reason", "x"),
           c.run("mute", "--scope", "NOWHERE-POST", "--for", "1h", "--reason", "x")]
    assert [b.returncode for b in bad] == [2, 2, 2, 2], [b.stderr for b in bad]
    assert "no station NOWHERE-POST" in bad[3].stderr
    gone_again = c.run("unmute", gone.mute_id, "--no-wait")
    assert gone_again.returncode == 0 and "already ended" in gone_again.stderr
    assert c.run("unmute", "00000000-0000-4000-8000-0000000000ff").returncode == 2
    res = c.run("unmute", active.mute_id, "--by", "chief", "--no-wait")
    assert res.returncode == 0, res.stderr
    records = [decode(r.value, window_row_width=WINDOW_ROW_WIDTH) for r in c.input_records(2)]
    assert all(isinstance(r, MuteRequest) for r in records)
    create, end = records
    assert isinstance(create, MuteRequest) and isinstance(end, MuteRequest)
    assert (create.op, create.rule_id, create.scope_key, create.for_s, create.reason,
            create.by) == ("create", "refused-1h", "KG", 7200, "known outage", "duty")
    assert (end.op, end.mute_id, end.by) == ("expire", active.mute_id, "chief")
    # waiting for a worker that is not there ends, and says so
    res = c.run("mute", "--scope", "KZ", "--for", "1h", "--reason", "x", "--timeout", "1")
    assert res.returncode == 1 and "no worker has stored it" in res.stderr
