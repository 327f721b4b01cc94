from datetime import UTC, datetime
from uuid import uuid4

import orjson

from sinks.tables import EVENTS
from streams.enriched import enriched_records


def _row(station: str, n: int) -> tuple:
    values = {name: None for name in EVENTS.column_names}
    values.update(event_id=uuid4(), station_id=station, country=station[:2], persons=n,
                  occurred_at=datetime(2026, 1, 1, tzinfo=UTC), payload="{...}")
    return tuple(values[name] for name in EVENTS.column_names)


def test_records_group_events_per_station_in_order_and_bounded() -> None:
    rows = [_row("KZ-A", i) for i in range(5)] + [_row("TJ-B", 9)] + [_row("KZ-A", 5)]
    recs = enriched_records(rows, max_events=4)
    by_key: dict[bytes, list[dict]] = {}
    for key, value in recs:
        events = orjson.loads(value)
        assert len(events) <= 4
        by_key.setdefault(key, []).extend(events)
    assert [e["persons"] for e in by_key[b"KZ-A"]] == [0, 1, 2, 3, 4, 5]
    assert [e["country"] for e in by_key[b"TJ-B"]] == ["TJ"]
    first = by_key[b"KZ-A"][0]
    assert "payload" not in first and first["occurred_at"] == "2026-01-01T00:00:00+00:00"
    assert first["event_id"] == str(rows[0][0])
