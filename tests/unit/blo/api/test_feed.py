"""The feed of significant events (``/api/v1/feed``) and the post page's series, as pure
parts over embedded chDB: the SQL of blo/api/queries.py run on real rows, then shaped by
blo/api/shape.py. The readers' view of ``events``: corrections and voids are honoured,
``occurred_at`` is filtered after collapsing, only the visible stations are read, and a
detention carries counts and an offence, never anything else of its payload."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from blo.api.params import FEED_TYPES, FeedParams, ParamError, parse, parse_station_id
from blo.api.queries import feed_details_sql, feed_sql, post_series_sql
from blo.api.routes.posts import ranges
from blo.api.scope import Scope, StationInfo, filter_refusal, visibility
from blo.api.shape import feed_detail_ids, feed_items, post_series
from sinks.chdb import ChdbDatabase
from sinks.tables import EVENTS, WINDOW_STATS, TableSpec

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGISTRY = [StationInfo("KZ-KORDAI", "KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
            StationInfo("KG-AK-JOL", "KG", "customs", "KG-KZ", "KZ-KORDAI"),
            StationInfo("TJ-PYANJ", "TJ", "joint", "AF-TJ", "")]
KZ = visibility(Scope(countries=frozenset({"KZ"})), REGISTRY)
ALL = visibility(Scope(all=True), REGISTRY)
COUNTRIES = {i.station_id: i.country for i in REGISTRY}


def _default(ch_type: str) -> Any:
    if ch_type.startswith("Nullable"):
        return None
    if ch_type.startswith("DateTime"):
        return datetime(1970, 1, 1, tzinfo=UTC)
    if ch_type == "UUID":
        return uuid.uuid4()
    if ch_type == "String":
        return ""
    return 0.0 if ch_type.startswith("Float") else 0


def _row(table: TableSpec, **values: Any) -> tuple[Any, ...]:
    assert not set(values) - set(table.column_names)
    return tuple(values[c] if c in values else _default(t) for c, t in table.columns)


def event(eid: uuid.UUID, sid: str, etype: str, at: datetime, **kw: Any) -> tuple[Any, ...]:
    return _row(EVENTS, event_id=eid, station_id=sid, event_type=etype, occurred_at=at,
                reported_at=at, ingested_at=kw.pop("ingested_at", at), schema_version=1,
                country=COUNTRIES[sid], **kw)


IDS = {name: uuid.uuid5(uuid.NAMESPACE_URL, name) for name in (
    "heroin", "hashish", "detention", "incident", "crossing", "voided", "moved", "old",
    "tj-seizure", "kg-seizure")}


@pytest.fixture
def db(chdb_db: ChdbDatabase) -> ChdbDatabase:
    h = timedelta(hours=1)
    rows = [
        event(IDS["heroin"], "KZ-KORDAI", "seizure", NOW - 2 * h, drug="heroin",
              quantity=120.0, quantity_unit="kg", quantity_kg=120.0, arrests=2),
        event(IDS["hashish"], "KZ-KORDAI", "seizure", NOW - 5 * h, drug="hashish",
              quantity=800.0, quantity_unit="g", quantity_kg=0.8),
        event(IDS["detention"], "KZ-KORDAI", "detention", NOW - 3 * h, persons=3,
              payload=json.dumps({"event_type": "detention", "persons": 3,
                                  "offence": "smuggling",
                                  "nationalities": [{"country": "AF", "count": 3}],
                                  "sex": {"male": 3}})),
        event(IDS["incident"], "KZ-KORDAI", "incident", NOW - 1 * h, persons=4,
              payload=json.dumps({"event_type": "incident", "incident_type": "crisis",
                                  "impact": "high", "confidence": "medium", "persons": 4})),
        event(IDS["crossing"], "KZ-KORDAI", "crossing", NOW - 1 * h, persons=1),
        # voided: the original and the withdrawn copy (voided = 1, higher revision)
        event(IDS["voided"], "KZ-KORDAI", "seizure", NOW - 4 * h, drug="opium",
              quantity_kg=5.0),
        event(IDS["voided"], "KZ-KORDAI", "seizure", NOW - 4 * h, drug="opium",
              quantity_kg=5.0, revision=1, voided=1, ingested_at=NOW),
        # corrected: its revision moved it out of the feed's range (same month); its
        # original alone would be in it
        event(IDS["moved"], "KZ-KORDAI", "seizure", NOW - 6 * h, drug="heroin",
              quantity_kg=1.0),
        event(IDS["moved"], "KZ-KORDAI", "seizure", NOW - timedelta(days=20), drug="heroin",
              quantity_kg=1.5, revision=1, ingested_at=NOW),
        event(IDS["old"], "KZ-KORDAI", "seizure", NOW - timedelta(days=10), drug="heroin",
              quantity_kg=9.0),
        event(IDS["tj-seizure"], "TJ-PYANJ", "seizure", NOW - 1 * h, drug="heroin",
              quantity_kg=50.0),
        event(IDS["kg-seizure"], "KG-AK-JOL", "seizure", NOW - 1 * h, drug="heroin",
              quantity_kg=7.0),
    ]
    chdb_db.insert("events", EVENTS.column_names, rows)
    return chdb_db


def read_feed(db: ChdbDatabase, stations: tuple[str, ...], since: datetime | None = None,
              limit: int = 50, types: tuple[str, ...] = FEED_TYPES) -> list[dict[str, Any]]:
    lo = parse(FeedParams, {"since": since.isoformat()} if since else {}).lower_bound(NOW)
    rows = db.query(*feed_sql(db.database, stations, lo, NOW, limit, types))
    ids = feed_detail_ids(rows)
    payloads = db.query(*feed_details_sql(db.database, stations, ids, lo, NOW)) if ids else []
    return feed_items(rows, payloads, COUNTRIES)


def test_the_feed_is_the_significant_events_of_the_visible_stations_newest_first(
        db: ChdbDatabase) -> None:
    items = read_feed(db, KZ.station_ids())
    assert [i["event_id"] for i in items] == [
        str(IDS[n]) for n in ("incident", "heroin", "detention", "hashish")]
    heroin = items[1]
    assert heroin == {"event_id": str(IDS["heroin"]), "station_id": "KZ-KORDAI",
                      "country": "KZ", "event_type": "seizure",
                      "occurred_at": "2026-11-28T10:00:00Z",
                      "ingested_at": "2026-11-28T10:00:00Z", "drug": "heroin", "kg": 120.0,
                      "arrests": 2}
    assert items[3]["kg"] == 0.8
    assert {k: items[0][k] for k in ("incident_type", "impact", "confidence", "persons")} == {
        "incident_type": "crisis", "impact": "high", "confidence": "medium", "persons": 4}
    # a detention: its count and offence, nothing else of the payload (no nationalities,
    # no breakdowns; never a name)
    detention = items[2]
    assert set(detention) == {"event_id", "station_id", "country", "event_type",
                              "occurred_at", "ingested_at", "persons", "offence"}
    assert (detention["persons"], detention["offence"]) == (3, "smuggling")


def test_voided_and_corrected_events_are_read_as_they_are_now(db: ChdbDatabase) -> None:
    ids = {i["event_id"] for i in read_feed(db, KZ.station_ids())}
    assert str(IDS["voided"]) not in ids
    # moved by its revision to 20 days ago: outside the default 7 days...
    assert str(IDS["moved"]) not in ids
    # ...and found there, as revised, when the feed reaches back that far
    items = read_feed(db, KZ.station_ids(), since=NOW - timedelta(days=25))
    moved = [i for i in items if i["event_id"] == str(IDS["moved"])]
    assert len(moved) == 1 and moved[0]["kg"] == 1.5
    assert moved[0]["occurred_at"] == "2026-11-08T12:00:00Z"


def test_since_limit_and_type_narrow_the_feed(db: ChdbDatabase) -> None:
    assert [i["event_id"] for i in read_feed(db, KZ.station_ids(), limit=2)] == [
        str(IDS["incident"]), str(IDS["heroin"])]
    recent = read_feed(db, KZ.station_ids(), since=NOW - timedelta(hours=2, minutes=30))
    assert [i["event_type"] for i in recent] == ["incident", "seizure"]
    seizures = read_feed(db, KZ.station_ids(), types=("seizure",))
    assert {i["event_type"] for i in seizures} == {"seizure"} and len(seizures) == 2
    # the bound: never more than 31 days back, 7 by default
    p = parse(FeedParams, {"since": "2020-01-01T00:00:00Z"})
    assert p.lower_bound(NOW) == NOW - timedelta(days=31)
    assert parse(FeedParams, {}).lower_bound(NOW) == NOW - timedelta(days=7)


def test_scope_the_feed_reads_only_visible_stations_never_the_paired_ones(
        db: ChdbDatabase) -> None:
    assert KZ.paired == frozenset({"KG-AK-JOL"})  # seen in aggregate only: not its events
    assert {i["station_id"] for i in read_feed(db, KZ.station_ids())} == {"KZ-KORDAI"}
    assert {i["station_id"] for i in read_feed(db, ALL.station_ids())} == {
        "KZ-KORDAI", "TJ-PYANJ", "KG-AK-JOL"}
    # a station filter outside the scope is refused (403), a visible one is not
    assert filter_refusal(KZ.scope, KZ, station="TJ-PYANJ")
    assert filter_refusal(KZ.scope, KZ, station="KG-AK-JOL")
    assert filter_refusal(KZ.scope, KZ, station="KZ-KORDAI") == ""
    # a token that sees no station reads nothing (the SQL stays valid)
    nobody = visibility(Scope(countries=frozenset({"UZ"})), REGISTRY)
    assert read_feed(db, nobody.station_ids()) == []


def test_the_feed_sql_binds_every_value_and_filters_time_after_collapsing() -> None:
    sql, params = feed_sql("blo", ("KZ-KORDAI",), NOW - timedelta(days=7), NOW, 50,
                           FEED_TYPES)
    assert "KZ-KORDAI" not in sql and "seizure" not in sql
    assert params["stations"] == ("KZ-KORDAI",) and params["types"] == FEED_TYPES
    inner_where = re.findall(r"FROM blo\.events WHERE (.*?) GROUP BY", sql)
    assert len(inner_where) == 1
    # before collapsing: the station and the month partition only
    assert "occurred_at >=" not in inner_where[0].replace("toYYYYMM(occurred_at) >=", "")
    assert "event_type" not in inner_where[0]
    assert "toYYYYMM(occurred_at) >= 202611" in inner_where[0]
    outer = sql.split("GROUP BY", 1)[1]
    assert "occurred_at >= toDateTime(%(lo)s)" in outer and "event_type IN %(types)s" in outer
    dsql, dparams = feed_details_sql("blo", ("KZ-KORDAI",), ("x",), NOW, NOW)
    assert dparams["ids"] == ("x",) and "'x'" not in dsql


def test_feed_parameters_are_validated() -> None:
    for bad in ({"limit": "0"}, {"limit": "501"}, {"event_type": "crossing"},
                {"since": "yesterday"}, {"other": "1"}):
        with pytest.raises(ParamError):
            parse(FeedParams, bad)
    for bad_id in ("", "x" * 65, "a\nb"):
        with pytest.raises(ParamError):
            parse_station_id(bad_id)
    assert parse_station_id("KZ-KORDAI") == "KZ-KORDAI"


def test_the_post_series_is_per_window_and_event_type(chdb_db: ChdbDatabase) -> None:
    h = NOW.replace(minute=0)
    rows = [_row(WINDOW_STATS, window_kind="1h", station_id=sid, event_type=et,
                 window_start=h - timedelta(hours=k), window_end=h - timedelta(hours=k - 1),
                 country=COUNTRIES[sid], events=n, seizure_kg=kg)
            for sid, et, k, n, kg in (("KZ-KORDAI", "crossing", 1, 10, 0.0),
                                      ("KZ-KORDAI", "seizure", 1, 1, 120.0),
                                      ("KZ-KORDAI", "crossing", 3, 4, 0.0),
                                      ("KZ-KORDAI", "crossing", 30, 9, 0.0),  # > 24 h ago
                                      ("TJ-PYANJ", "crossing", 1, 99, 0.0))]
    chdb_db.insert("window_stats", WINDOW_STATS.column_names, rows)
    rng = ranges(("1m", "1h", "day"), NOW)
    assert rng == {"24h": ("1h", NOW - timedelta(hours=24)),
                   "7d": ("day", NOW - timedelta(days=7))}
    assert ranges(("1m", "1h"), NOW)["7d"][0] == "1h"
    window, t0 = rng["24h"]
    pts = post_series(chdb_db.query(*post_series_sql(chdb_db.database, window, t0, NOW,
                                                     "KZ-KORDAI", 1000)))
    assert pts == [
        {"t": "2026-11-28T09:00:00Z", "event_type": "crossing", "events": 4,
         "seizure_kg": 0.0},
        {"t": "2026-11-28T11:00:00Z", "event_type": "crossing", "events": 10,
         "seizure_kg": 0.0},
        {"t": "2026-11-28T11:00:00Z", "event_type": "seizure", "events": 1,
         "seizure_kg": 120.0}]
