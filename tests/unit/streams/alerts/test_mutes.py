"""Mutes (streams/alerts/mutes.py): what a mute covers, when it is active, and the book the
alert engine keeps (versions, redeliveries, unmuting)."""

from __future__ import annotations

import uuid

import pytest

from schemas.alert_input import MuteRequest, decode, mute_record
from sinks.tables import ALERT_MUTES
from streams.alert_input import WINDOW_ROW_WIDTH
from streams.alerts.mutes import (
    MAX_MUTE_S,
    Mute,
    MuteBook,
    matches,
    muting,
    ordered,
    request_problems,
    scope_of,
)
from tests.unit.streams.alerts.factories import STATIONS, T0

PLACES = dict(STATIONS)  # station → (country, border)


def mute(rule: str = "", key: str = "", *, start: int = T0, length: int = 3600,
         mid: str | None = None) -> Mute:
    return Mute(mid or str(uuid.uuid4()), 1, rule, scope_of(key), key, "maintenance", "duty",
                start, start + length, updated_at=start)


# (rule, scope, scope_key, station_id) of alerts of every kind
STATION = ("r1", "station", "TJ-PYANJ", "TJ-PYANJ")
GAP = ("gap", "station", "TJ-PYANJ:12-15", "TJ-PYANJ")
PAIR_ACROSS = ("paired", "pair", "AF-SHERKHAN+TJ-PYANJ", "")  # across AF-TJ
PAIR_INSIDE = ("paired", "pair", "TJ-ISHKASHIM+TJ-PYANJ", "")  # both TJ, both on AF-TJ
COUNTRY = ("r1", "country", "TJ", "")
BORDER = ("r1", "border", "AF-TJ", "")
ALL = ("r1", "all", "all", "")
INTERIOR = ("r1", "station", "TJ-DUSHANBE-AIRPORT", "TJ-DUSHANBE-AIRPORT")
UNKNOWN = ("r1", "station", "XX-NOWHERE", "XX-NOWHERE")
ALERTS = {"station": STATION, "gap": GAP, "pair_across": PAIR_ACROSS,
          "pair_inside": PAIR_INSIDE, "country": COUNTRY, "border": BORDER, "all": ALL,
          "interior": INTERIOR, "unknown": UNKNOWN}


def covered(m: Mute) -> set[str]:
    return {name for name, a in ALERTS.items() if matches(m, *a, PLACES)}


@pytest.mark.parametrize("key, kind", [
    ("", ""), ("KZ", "country"), ("KG-KZ", "border"), ("TJ-PYANJ", "station"),
    ("US-3604", "station"), ("TJ-DUSHANBE-AIRPORT", "station")])
def test_scope_of(key: str, kind: str) -> None:
    assert scope_of(key) == kind


@pytest.mark.parametrize("key", ["all", "A+B", "S:12-15", "kz land", "x' OR 1=1"])
def test_scope_of_refuses_other_keys(key: str) -> None:
    with pytest.raises(ValueError):
        scope_of(key)


def test_what_each_scope_covers() -> None:
    # a station: its own alerts and gaps, never a pair (the other post is not inside)
    assert covered(mute(key="TJ-PYANJ")) == {"station", "gap"}
    # a country: its posts, pairs wholly inside it, its roll-up; not its borders' roll-ups
    assert covered(mute(key="TJ")) == {"station", "gap", "pair_inside", "country", "interior"}
    # a border: the posts on it and the BLO pairs across it, its roll-up
    assert covered(mute(key="AF-TJ")) == {"station", "gap", "pair_across", "pair_inside",
                                          "border"}
    # no scope: everything of the rule(s), roll-ups of all included
    assert covered(mute(rule="r1")) == {"station", "country", "border", "all", "interior",
                                        "unknown"}
    assert covered(mute(rule="paired", key="AF-TJ")) == {"pair_across", "pair_inside"}
    assert covered(mute(rule="r1", key="KG-KZ")) == set()


def test_an_active_mute_mutes_until_it_ends() -> None:
    m = mute(key="TJ-PYANJ", start=T0, length=600)
    assert not m.active(T0 - 1) and m.active(T0) and m.active(T0 + 599)
    assert not m.active(T0 + 600) and m.status(T0 + 600) == "expired"
    assert muting([m], *STATION, PLACES, T0 + 10) == m
    assert muting([m], *STATION, PLACES, T0 + 600) is None  # expired by itself


def test_the_mute_ending_last_is_the_mute() -> None:
    short = mute(key="TJ", length=600, mid="b")
    long_ = mute(rule="r1", length=7200, mid="c")
    tie = mute(key="AF-TJ", length=7200, mid="a")
    assert ordered([short, long_, tie]) == [tie, long_, short]
    assert muting([short, long_, tie], *STATION, PLACES, T0 + 1) == tie
    assert muting([short, long_], *COUNTRY, PLACES, T0 + 1) == long_
    assert muting([short, long_], *COUNTRY, PLACES, T0 + 601) == long_
    assert muting([short], *COUNTRY, PLACES, T0 + 601) is None


@pytest.mark.parametrize("rule, key, for_s, reason, why", [
    ("", "", 3600, "x", "name a rule, a scope, or both"),
    ("r1", "", 0, "x", "duration"),
    ("r1", "", MAX_MUTE_S + 1, "x", "at most 30 days"),
    ("r1", "", 3600, "  ", "reason"),
    ("R 1", "", 3600, "x", "not a rule id"),
    ("", "A+B", 3600, "x", "a country (KZ), a border (KG-KZ) or a station"),
])
def test_request_problems(rule: str, key: str, for_s: float, reason: str, why: str) -> None:
    assert any(why in p for p in request_problems(rule, key, for_s, reason))


def test_a_good_request_has_no_problem() -> None:
    assert request_problems("r1", "KG-KZ", 6 * 3600, "roadworks") == []
    assert request_problems("", "TJ-PYANJ", MAX_MUTE_S, "outage") == []


def req(op: str, mid: str, at: float, **kw: object) -> MuteRequest:
    fields: dict[str, object] = {"rule_id": "r1", "scope_key": "KZ", "for_s": 3600.0,
                                 "reason": "drill", "by": "duty"}
    fields.update(kw)
    return MuteRequest(mid, op, at_s=at, **fields)  # type: ignore[arg-type]


def test_the_book_creates_ends_and_ignores_repeats() -> None:
    book, mid = MuteBook(), str(uuid.uuid4())
    created, why = book.apply(req("create", mid, T0 + 0.7))
    assert why == "" and created is not None
    assert (created.version, created.scope, created.created_at, created.ends_at) == (
        1, "country", T0, T0 + 3600)
    assert book.apply(req("create", mid, T0 + 5)) == (None, "already created")  # redelivered
    ended, _ = book.apply(req("expire", mid, T0 + 100, by="chief"))
    assert ended is not None
    assert (ended.version, ended.ends_at, ended.expired_by, ended.expired_at) == (
        2, T0 + 100, "chief", T0 + 100)
    assert ended.status(T0 + 100) == "unmuted" and book.active(T0 + 100) == []
    assert book.apply(req("expire", mid, T0 + 200)) == (None, "already expired")
    assert book.apply(req("expire", str(uuid.uuid4()), T0)) == (None, "no such mute")
    bad, why = book.apply(req("create", str(uuid.uuid4()), T0, reason=""))
    assert bad is None and "reason" in why


def test_the_book_restores_the_latest_version_and_rows_round_trip() -> None:
    book, mid = MuteBook(), str(uuid.uuid4())
    v1, _ = book.apply(req("create", mid, T0))
    v2, _ = book.apply(req("expire", mid, T0 + 60))
    assert v1 is not None and v2 is not None
    assert tuple(ALERT_MUTES.column_names) == type(v1.row())._fields
    again = MuteBook()
    again.restore([v2.row(), v1.row()])  # any order: the highest version wins
    assert again.mutes == {mid: v2}
    assert Mute.from_row(tuple(v1.row())) == v1


def test_a_mute_request_crosses_the_input_topic() -> None:
    r = req("create", str(uuid.uuid4()), T0 + 0.5, scope_key="KG-KZ", reason="roadworks: A2")
    _, value = mute_record(r)
    assert decode(value, window_row_width=WINDOW_ROW_WIDTH) == r
    with pytest.raises(ValueError):
        mute_record(req("delete", str(uuid.uuid4()), T0))
    with pytest.raises(ValueError):
        mute_record(req("create", "not-a-uuid", T0))
