"""``blo windows rebuild``: recompute window rows from ``events`` and supersede the stored
ones by version.

For a range [T1, T2) (and optionally some stations) every window that overlaps the range is
recomputed from the stored events (``events FINAL``), in event-time order, with the window
configuration in force, and written as ``final`` rows with a version newer than any row
written before (versions are wall-clock microseconds). A key that ``window_stats`` holds in
such a window but that no stored event produces any more (e.g. after a registry correction
changed an event type or a drug) is superseded by a row of zero figures. So are late
events: a rebuild counts every stored event, including those the live stream had to leave
in the ``late_events`` ledger. The ledger itself is left as it is (a record of what arrived
late).

Use it after a backfill published in file order (``blo import-csv --order file``), after a
registry correction, or after changing the window configuration. The worker keeps its own
state for windows that are still open: rebuild ranges that have closed (the command warns
otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package
from sinks.base import Database, Row
from sinks.tables import EVENTS, WINDOW_STATS
from streams.window_runtime import STORED_EVENT_COLUMNS, aware_utc, restored_event_row
from streams.windows import WindowConfig, WindowState, emitted_from_row
from streams.windows.assign import max_length_s

_W = {name: i for i, name in enumerate(WINDOW_STATS.column_names)}
_KEY = ("window_kind", "window_start", "station_id", "event_type", "measure", "dimension")
_P = EVENTS.index("kafka_partition")
CHUNK_ROWS = 20_000


@dataclass
class RebuildReport:
    events: int = 0
    rows: int = 0
    zeroed: int = 0
    skipped_open: int = 0  # windows that may still be open in the worker, left to it
    by_kind: dict[str, int] = field(default_factory=dict)


def expanded_range(config: WindowConfig, t1: int, t2: int, zones: Iterable[str]
                   ) -> tuple[int, int]:
    """The event-time range to read so that every window overlapping [t1, t2) is whole:
    widened by the longest configured window, and to local month edges in every zone."""
    longest = max(max_length_s(s) for s in config.windows)
    lo, hi = t1 - longest, t2 + longest
    for tz in set(zones):
        z = ZoneInfo(tz)
        a = datetime.fromtimestamp(lo, z)
        lo = min(lo, int(datetime(a.year, a.month, 1, tzinfo=z).timestamp()))
    return lo, hi


def _key_of(row: Sequence[Any]) -> tuple[Any, ...]:
    return (row[_W["window_kind"]], _epoch(row[_W["window_start"]]),
            *(row[_W[c]] for c in _KEY[2:]))


def rebuild_rows(config: WindowConfig, events: Iterable[Sequence[Any]],
                 stored: Iterable[Sequence[Any]], t1: int, t2: int, read_lo: int, read_hi: int,
                 now_s: float, closed_before: float | None = None
                 ) -> tuple[list[Row], RebuildReport]:
    """Pure: the ``window_stats`` rows that replace those of windows overlapping [t1, t2).

    ``events``: ``events`` rows (EVENTS column order) read for [read_lo, read_hi), in
    event-time order per station; ``stored``: the ``window_stats`` rows currently in the
    readers' view for those windows (to zero keys that have disappeared). Windows ending
    after ``closed_before`` (default: ``now_s`` - grace - allowed lateness) may still be
    open in the worker and are left to it (counted in ``skipped_open``)."""
    if closed_before is None:
        closed_before = now_s - config.grace_s - config.allowed_lateness_s
    state = WindowState(config)
    report = RebuildReport()
    for raw in events:
        row = restored_event_row(raw)
        state.add(row, int(row[_P]))
        report.events += 1
    em = state.close_all(now_s)

    def overlaps(start: int, end: int) -> bool:
        return start < t2 and end > t1 and start >= read_lo and end <= read_hi

    def wanted(start: int, end: int) -> bool:
        return overlaps(start, end) and end <= closed_before

    out: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    for r in em.rows:
        start, end = _epoch(r[_W["window_start"]]), _epoch(r[_W["window_end"]])
        if overlaps(start, end) and not wanted(start, end):
            report.skipped_open += 1
        if wanted(start, end):
            out.append(r)
            seen.add(_key_of(r))
            kind = r[_W["window_kind"]]
            report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
    version = max((int(r[_W["version"]]) for r in out), default=int(now_s * 1_000_000))
    updated = datetime.fromtimestamp(int(now_s), UTC)
    for old in stored:
        start, end = _epoch(old[_W["window_start"]]), _epoch(old[_W["window_end"]])
        if not wanted(start, end) or _key_of(old) in seen:
            continue
        old_version = emitted_from_row(tuple(old))[2]
        version = max(version, old_version) + 1
        out.append(_zero_row(old, version, updated))
        report.zeroed += 1
    report.rows = len(out)
    return out, report


def _epoch(v: Any) -> int:
    if isinstance(v, datetime):
        return int((v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp())
    return int(v)


_ZEROED = {name: 0.0 if ch_type == "Float64" else 0 for name, ch_type in WINDOW_STATS.columns
           if name in ("events", "persons", "vehicles", "refused", "inbound", "outbound",
                       "seizure_kg", "seizure_kg_max", "arrests", "inspections_with_finds",
                       "value")}


def _zero_row(r: Sequence[Any], version: int, updated: datetime) -> Row:
    """A stored row superseded by zero figures (status corrected, a newer version)."""
    out = [aware_utc(v) for v in r]
    for name, zero in _ZEROED.items():
        out[_W[name]] = zero
    out[_W["status"]] = "corrected"
    out[_W["version"]] = version
    out[_W["updated_at"]] = updated
    return tuple(out)


def rebuild(db: Database, config: WindowConfig, t1: int, t2: int,
            stations: Sequence[str] = (), now: Callable[[], float] | None = None,
            progress: Callable[[str], None] = lambda s: None) -> RebuildReport:
    """Read, recompute, write (see the module docstring). Returns what was done."""
    import time

    clock = now or time.time
    d = db.database
    where_st = " AND station_id IN %(stations)s" if stations else ""
    params: dict[str, Any] = {"stations": tuple(stations)} if stations else {}
    zones = [str(z) for (z,) in db.query(
        f"SELECT DISTINCT station_tz FROM {d}.events WHERE occurred_at >= "
        f"toDateTime(%(t1)s) AND occurred_at < toDateTime(%(t2)s){where_st}",
        params | {"t1": t1, "t2": t2})] or ["UTC"]
    lo, hi = expanded_range(config, t1, t2, zones)
    params |= {"lo": max(0, lo), "hi": hi}
    progress(f"reading events {_iso(lo)} .. {_iso(hi)}")
    events = db.query(
        f"SELECT {STORED_EVENT_COLUMNS} FROM {d}.events FINAL WHERE occurred_at >= toDateTime(%(lo)s) "
        f"AND occurred_at < toDateTime(%(hi)s){where_st} ORDER BY station_id, occurred_at",
        params)
    cols = ", ".join(WINDOW_STATS.column_names)
    stored = db.query(
        f"SELECT {cols} FROM {d}.window_stats FINAL WHERE window_start >= toDateTime(%(lo)s) "
        f"AND window_start < toDateTime(%(hi)s){where_st}", params)
    progress(f"recomputing from {len(events)} events ({len(stored)} stored window rows)")
    rows, report = rebuild_rows(config, events, stored, t1, t2, lo, hi, clock())
    names = WINDOW_STATS.column_names
    for i in range(0, len(rows), CHUNK_ROWS):
        db.insert("window_stats", names, rows[i:i + CHUNK_ROWS])
        progress(f"written {min(i + CHUNK_ROWS, len(rows))}/{len(rows)} rows")
    return report


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
