"""Insert and read back on both engines: every column type, duplicates, hostile params."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sinks.base import Database, SinkWriteError
from sinks.tables import DLQ, EVENTS, STATIONS, TableSpec
from tests.integration.sinks.factories import (
    AWKWARD,
    T0,
    all_nulls,
    dlq_row,
    event_row,
    station_row,
)
from tests.unit.sinks.test_sql import HOSTILE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DUSHANBE = ZoneInfo("Asia/Dushanbe")


@pytest.fixture
def db(engine_db: Database) -> Database:
    return engine_db


def read_back(db: Database, spec: TableSpec, order_by: str) -> list[tuple[object, ...]]:
    cols = ", ".join(spec.column_names)
    return db.query(f"SELECT {cols} FROM {db.database}.{spec.name} ORDER BY {order_by}")


def test_events_round_trip_every_column(db: Database) -> None:
    full = event_row(1, event_type="seizure", payload=AWKWARD, drug="heroin'; --",
                     station_id="ST-001", period_start=T0, period_end=T0 + timedelta(hours=1))
    nulls = event_row(2, station_id="ST-002", **all_nulls(EVENTS))
    as_text = event_row(
        3,
        station_id="ST-003",
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "t")),
        occurred_at=datetime(2024, 5, 1, 17, 0, tzinfo=UTC).astimezone(DUSHANBE),
        reported_at=datetime(2024, 5, 1, 12, 0),  # naive = UTC
    )
    db.insert("events", EVENTS.column_names, [full, nulls, as_text])
    got = read_back(db, EVENTS, "station_id")
    assert got[0] == full
    assert got[1] == nulls
    assert all(got[1][EVENTS.index(c)] is None for c in all_nulls(EVENTS))
    i = EVENTS.index
    assert got[2][i("event_id")] == uuid.uuid5(uuid.NAMESPACE_URL, "t")  # str in, UUID out
    assert got[2][i("occurred_at")] == datetime(2024, 5, 1, 17, 0, tzinfo=UTC)
    assert got[2][i("reported_at")] == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_dlq_arrays_and_stations_round_trip(db: Database) -> None:
    rows = [
        dlq_row(1, dlq_id="a", reasons=["invalid", "future_event"], details=AWKWARD),
        dlq_row(2, dlq_id="b", reasons=[], payload="\x00binary-ish\\", element_index=-1),
        dlq_row(3, dlq_id="c", reasons=HOSTILE),
    ]
    db.insert("dlq", DLQ.column_names, rows)
    assert read_back(db, DLQ, "dlq_id") == rows
    stations = [station_row(1, station_id="TJ-1", name="Pyanj ‘Bridge’"),
                station_row(2, station_id="TJ-2", **all_nulls(STATIONS))]
    db.insert("stations", STATIONS.column_names, stations)
    assert read_back(db, STATIONS, "station_id") == stations


def test_duplicates_are_two_rows_physically_and_one_through_final(db: Database) -> None:
    d = db.database
    db.command(f"SYSTEM STOP MERGES {d}.events")
    try:
        first = event_row(7, ingested_at=T0)
        again = event_row(7, ingested_at=T0 + timedelta(minutes=5))  # a redelivery
        db.insert("events", EVENTS.column_names, [first])
        db.insert("events", EVENTS.column_names, [again])
        assert db.query(f"SELECT count() FROM {d}.events") == [(2,)]
        assert db.query(f"SELECT count() FROM {d}.events FINAL") == [(1,)]
        assert db.query(f"SELECT count() FROM {d}.events_current") == [(1,)]
        assert db.query(f"SELECT ingested_at FROM {d}.events FINAL") == [
            (T0 + timedelta(minutes=5),)
        ]
    finally:
        db.command(f"SYSTEM START MERGES {d}.events")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_parameters_come_back_unchanged(db: Database, text: str) -> None:
    assert db.query("SELECT %(v)s, length(%(v)s)", {"v": text}) == [(text, len(text.encode()))]


def test_parameters_filter_rows(db: Database) -> None:
    rows = [dlq_row(i, dlq_id=f"id{i}", reason=r) for i, r in enumerate(["it's", "a\\b", "x"])]
    db.insert("dlq", DLQ.column_names, rows)
    got = db.query(
        f"SELECT dlq_id FROM {db.database}.dlq WHERE reason IN %(r)s AND failed_at = %(t)s "
        "ORDER BY dlq_id",
        {"r": ("it's", "a\\b"), "t": T0},
    )
    assert got == [("id0",), ("id1",)]


def test_query_values_have_the_same_python_types_on_both_engines(db: Database) -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    got = db.query(
        "SELECT %(u)s, %(t)s, toUInt64(18446744073709551615), toInt32(-5), 1.5, "
        "['a', 'b'], CAST(NULL AS Nullable(String)), toDate('2024-02-29')",
        {"u": u, "t": T0},
    )
    assert got == [(u, T0, 18446744073709551615, -5, 1.5, ["a", "b"], None,
                    T0.date().replace(month=2, day=29))]


def test_bad_writes_are_write_errors(db: Database) -> None:
    with pytest.raises(SinkWriteError):
        db.insert("no_such_table", ("a",), [(1,)])
    with pytest.raises(SinkWriteError):
        db.insert("events", EVENTS.column_names, [event_row(1, persons="many")])
    with pytest.raises(SinkWriteError):
        db.query("SELECT no_such_column FROM system.one")
    db.insert("events", EVENTS.column_names, [event_row(1)])  # still usable afterwards
    assert db.query(f"SELECT count() FROM {db.database}.events") == [(1,)]
