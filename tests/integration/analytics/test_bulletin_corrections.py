"""The method note's corrections on each real engine: a late event recorded twice (a
redelivery, before a merge) counts once, and the data version covers the counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from blo.analytics.bulletin.figures import corrections_query, data_version
from blo.analytics.periods import Period
from sinks.base import Database

OCT = Period.parse("2026-10")


def _late(db: Database, event_id: uuid.UUID, station: str, recorded: datetime) -> None:
    start = datetime(2026, 9, 30, 19, tzinfo=UTC)  # KZ's October (UTC+5) in UTC
    db.insert("late_events", ["event_id", "station_id", "window_kind", "window_start",
                              "window_end", "recorded_at"],
              [(event_id, station, "month", start, datetime(2026, 10, 31, 19, tzinfo=UTC),
                recorded)])


def test_a_late_event_recorded_twice_counts_once(engine_db: Database) -> None:
    db = engine_db
    q = corrections_query(db.database, ["KZ-KORDAI"], OCT)
    assert [int(v) for v in db.query(q.sql, q.params)[0]] == [0, 0, 0]
    late = uuid.uuid4()
    _late(db, late, "KZ-KORDAI", datetime(2026, 11, 2, tzinfo=UTC))
    _late(db, late, "KZ-KORDAI", datetime(2026, 11, 2, 0, 5, tzinfo=UTC))  # redelivered
    _late(db, uuid.uuid4(), "KG-AK-JOL", datetime(2026, 11, 2, tzinfo=UTC))  # not asked for
    assert [int(v) for v in db.query(q.sql, q.params)[0]] == [0, 0, 1]
    _late(db, uuid.uuid4(), "KZ-KORDAI", datetime(2026, 11, 3, tzinfo=UTC))
    assert [int(v) for v in db.query(q.sql, q.params)[0]] == [0, 0, 2]


def test_the_data_version_covers_the_corrections() -> None:
    one = data_version((), (), {}, 0, (0, 0, 1)).digest
    assert one == data_version((), (), {}, 0, (0, 0, 1)).digest
    assert one != data_version((), (), {}, 0, (0, 0, 2)).digest
    assert one != data_version((), (), {}, 0, (1, 0, 1)).digest
