"""Row-level types: the window key, late-event rows, and reading ``window_stats`` rows back.

``window_stats`` rows are built by :mod:`streams.windows.emit`; both follow
:data:`sinks.tables.WINDOW_STATS` / :data:`sinks.tables.LATE_EVENTS` column order exactly
(a unit test checks). Times become aware UTC datetimes only in rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from sinks.base import Row
from sinks.tables import WINDOW_STATS
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


def late_row(late: LateEvent, recorded_at: datetime) -> Row:
    return (late.event_id, late.station_id, late.window_kind, utc(late.window_start),
            utc(late.window_end), late.event_type, late.occurred_at, utc(late.watermark),
            recorded_at)


def _epoch(v: datetime) -> int:
    if v.tzinfo is None:  # clickhouse-driver may return naive UTC datetimes
        v = v.replace(tzinfo=UTC)
    return int(v.timestamp() // 1)


_I = {name: i for i, name in enumerate(WINDOW_STATS.column_names)}


def emitted_from_row(row: Row) -> tuple[WindowKey, str, int, WindowStats]:
    """A ``window_stats`` row (all columns, table order) → the arguments of
    :meth:`WindowState.restore_emitted`: ``(key, status, version, stats)``."""
    key = WindowKey(
        str(row[_I["window_kind"]]), _epoch(row[_I["window_start"]]),
        str(row[_I["station_id"]]), str(row[_I["event_type"]]), str(row[_I["measure"]]),
        str(row[_I["dimension"]]),
    )
    stats = WindowStats(
        int(row[_I["events"]]), int(row[_I["persons"]]), int(row[_I["vehicles"]]),
        int(row[_I["refused"]]), int(row[_I["inbound"]]), int(row[_I["outbound"]]),
        float(row[_I["seizure_kg"]]), float(row[_I["seizure_kg_max"]]),
        int(row[_I["arrests"]]), int(row[_I["inspections_with_finds"]]),
        float(row[_I["value"]]), _epoch(row[_I["first_event_at"]]),
        _epoch(row[_I["last_event_at"]]),
    )
    return key, str(row[_I["status"]]), int(row[_I["version"]]), stats
