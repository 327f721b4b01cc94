"""DateTime columns → epoch seconds for clickhouse-driver, converting repeated objects once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sinks.clickhouse import epoch_column, epoch_seconds


def test_epoch_column_equals_the_per_value_conversion() -> None:
    t = datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC)
    almaty = timezone(timedelta(hours=5))
    shared = datetime(2025, 1, 1, tzinfo=UTC)
    values: list[object] = [
        shared, shared, shared,  # one object repeated (a batch's ingested_at)
        t, t.replace(tzinfo=None),  # naive = UTC
        datetime(2024, 3, 1, 5, 0, tzinfo=almaty),  # an aware non-UTC time
        None, 0, shared, datetime(2025, 1, 1, tzinfo=UTC),  # equal, not the same object
    ]
    got = epoch_column(values)
    assert got == [epoch_seconds(v) for v in values]
    assert got[:5] == [1735689600] * 3 + [1709251199] * 2
    assert got[5] == int(datetime(2024, 3, 1, 0, 0, tzinfo=UTC).timestamp())
    assert got[6:8] == [None, 0]
    assert epoch_column([]) == []
