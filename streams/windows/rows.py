"""Row-level types: the window key, late-event rows, and reading ``window_stats`` rows back.

``window_stats`` rows (plain tuples in :class:`schemas.rows.WindowStatsRow` order) are built
by :mod:`streams.windows.emit`, ``late_events`` rows (:class:`schemas.rows.LateEventRow`)
here. Times become aware UTC datetimes only in rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from schemas.rows import LateEventRow, WindowStatsRow
from streams.windows.assign import utc
from streams.windows.stats import WindowStats

STATUSES = ("provisional", "final", "corrected")


class WindowKey(NamedTuple):
    """The identity of a ``window_stats`` row (its ReplacingMergeTree sorting key)."""

    window_kind: str  # the spec's name
    window_start: int  # epoch seconds
    station_id: str
    event_type: str
    measure: str
    dimension: str


class LateEvent(NamedTuple):
    """A late event's miss of one window, before it becomes a ``late_events`` row."""

    event_id: Any
    station_id: str
    window_kind: str
    window_start: int
    window_end: int
    event_type: str
    occurred_at: datetime
    watermark: float


def late_row(late: LateEvent, recorded_at: datetime) -> LateEventRow:
    return LateEventRow(late.event_id, late.station_id, late.window_kind,
                        utc(late.window_start), utc(late.window_end), late.event_type,
                        late.occurred_at, utc(late.watermark), recorded_at)


def _epoch(v: datetime) -> int:
    if v.tzinfo is None:  # clickhouse-driver may return naive UTC datetimes
        v = v.replace(tzinfo=UTC)
    return int(v.timestamp() // 1)


def emitted_from_row(values: Sequence[Any]) -> tuple[WindowKey, str, int, WindowStats]:
    """A ``window_stats`` row (all columns, table order; as read back, plain values) → the
    arguments of :meth:`WindowState.restore_emitted`: ``(key, status, version, stats)``."""
    row = WindowStatsRow._make(values)
    key = WindowKey(
        str(row.window_kind), _epoch(row.window_start), str(row.station_id),
        str(row.event_type), str(row.measure), str(row.dimension),
    )
    stats = WindowStats(
        int(row.events), int(row.persons), int(row.vehicles), int(row.refused),
        int(row.inbound), int(row.outbound), float(row.seizure_kg), float(row.seizure_kg_max),
        int(row.arrests), int(row.inspections_with_finds), float(row.value),
        _epoch(row.first_event_at), _epoch(row.last_event_at),
    )
    return key, str(row.status), int(row.version), stats
