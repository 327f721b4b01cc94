"""The glue between the worker and the pure window core (:mod:`streams.windows`).

* **Input.** :meth:`WindowRuntime.add` counts the rows of events that were never stored
  nor seen before (:attr:`streams.ingest.BatchOutcome.new_rows`), so a redelivered event is
  not counted twice.
* **Output.** :meth:`WindowRuntime.tick` (a timer) closes, corrects and purges windows and
  writes what the core emits: ``window_stats`` and ``late_events`` rows through the sink, and
  the window rows, batched per station, to the windows topic.
* **Where the state lives, and recovery.** The state is in memory only. When partitions are
  assigned (start-up, rebalance, restart after a crash), :meth:`WindowRuntime.restore`
  rebuilds the state of their stations from ClickHouse, which holds every event the
  previous owner wrote (deduplicated by ``FINAL``) and every window row it emitted: the
  last emitted row of each key (``window_stats FINAL``), the watermark of each (station,
  stream) from the latest stored event time, and the stored events of the windows that may
  still change (from ``latest event time - (out-of-orderness + grace + allowed lateness +
  longest window)``). Records redelivered after the restart are found by the conflict
  lookup (they are stored), so they are not counted again; records whose rows never reached
  ClickHouse are counted when they are processed again. A window whose final row was
  written before the crash is not emitted again unless its figures changed. Nothing of this
  depends on Kafka end offsets, compaction or transactions (see docs/windows.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Container, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from blo.metrics import Metrics
from sinks.base import ReadingSink, Row
from sinks.read_model import events as event_reads
from sinks.read_model import windows as window_reads
from sinks.tables import EVENTS, LATE_EVENTS, WINDOW_STATS
from streams.alert_input import window_input_records
from streams.windows import Emission, WindowConfig, WindowState, emitted_from_row
from streams.windows.assign import max_length_s
from streams.windows.corrections import (
    READ_GROUPS_PER_QUERY,
    by_station_batches,
    historical_rows,
    read_ranges,
)

if TYPE_CHECKING:
    from streams.ingest import Correction

log = logging.getLogger("blo.windows")

Producer = Callable[[str, bytes, bytes], Awaitable[Any]]

_P = EVENTS.index("kafka_partition")
_T = EVENTS.index("occurred_at")
_ET = EVENTS.index("event_type")
_TIME_COLUMNS = tuple(EVENTS.index(c) for c in
                      ("occurred_at", "reported_at", "ingested_at", "period_start", "period_end"))
_EVENT_ID = EVENTS.index("event_id")
_STATION = EVENTS.index("station_id")
_W_STATION = WINDOW_STATS.index("station_id")
_W_COUNTRY = WINDOW_STATS.index("country")
_W_BORDER = WINDOW_STATS.index("border")
_W_TZ = WINDOW_STATS.index("station_tz")
_L_STATION = LATE_EVENTS.index("station_id")
_L_KIND = LATE_EVENTS.index("window_kind")
_RECORD_MAX_ROWS = 500  # window rows per Kafka record (one station's rows, JSON array)


def aware_utc(v: Any) -> Any:
    if isinstance(v, datetime) and v.tzinfo is None:
        return v.replace(tzinfo=UTC)  # clickhouse-driver returns naive UTC for DateTime('UTC')
    return v


REWIND_SPANS = 3
"""A restore starts at most this many restore spans (out-of-orderness + grace + allowed
lateness + the longest window) behind a station's watermark to rewrite final rows a crash
lost (:func:`durable_frontiers`): a worker SIGKILLed in a fast backlog lost final rows
three and a half hours of event time behind its watermark, with a span of two hours."""


def durable_frontiers(rows: Sequence[Sequence[Any]], earliest: Sequence[Sequence[Any]],
                      steps: dict[str, float], watermarks: dict[tuple[str, str], float],
                      cap_s: float) -> dict[tuple[str, str], float]:
    """Per live (station, stream), how far its closed windows are durably written, where
    that is behind its watermark: the earliest last final window end (``rows`` of
    :func:`sinks.read_model.windows.final_window_ends`) among the window kinds whose next
    window should have closed by the watermark (``steps``: seconds from one window end to
    the next, plus the grace, per configured kind), but never more than ``cap_s`` before
    the watermark (a kind with no event for a while looks behind too: the cap bounds what
    that costs the restore).

    A configured kind without any final row in the range looked at is durably written up
    to the station's first stored event there (``earliest``:
    :func:`sinks.read_model.events.earliest_event_times`): a crash early in a backlog can
    lose every final row a station had, and a station whose first windows have not closed
    yet is not behind. A station without a stored live event in the range says nothing.

    Count reports are left out: their calendar windows hold whole periods, and a post that
    changed its reporting period would look behind for ever. After a crash that lost final
    rows, the kinds that lost them are behind; in an uninterrupted run of a steady post none
    is."""
    ends: dict[tuple[str, str], float] = {}
    for station, reports, kind, end in rows:
        if not int(reports) and str(kind) in steps:
            ends[(str(station), str(kind))] = aware_utc(end).timestamp()
    first = {str(station): aware_utc(t).timestamp() for station, t in earliest}
    stations = {s for s, _ in ends} | first.keys()
    out: dict[tuple[str, str], float] = {}
    for station in stations:
        key = (station, "live")
        wm = watermarks.get(key)
        if wm is None:
            continue
        for kind, step in steps.items():
            end = ends.get((station, kind), first.get(station))
            if end is None:
                continue
            t = max(end, wm - cap_s)
            if t + step <= wm and (key not in out or t < out[key]):
                out[key] = t
    return out


def restored_event_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """An ``events`` row read back from ClickHouse in the form the stream builds it: aware
    UTC datetimes and a UUID event id (engines and drivers differ)."""
    out = list(row)
    for i in _TIME_COLUMNS:
        out[i] = aware_utc(out[i])
    eid = out[_EVENT_ID]
    if not isinstance(eid, UUID):
        out[_EVENT_ID] = UUID(str(eid))
    return tuple(out)


def window_records(rows: Sequence[Row]) -> list[tuple[bytes, bytes]]:
    """Window rows → Kafka records: per station, JSON arrays of objects keyed by column
    name (times RFC 3339 UTC), at most :data:`_RECORD_MAX_ROWS` rows per record."""
    names = WINDOW_STATS.column_names
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_station[r[_W_STATION]].append(dict(zip(names, r, strict=True)))
    out = []
    for station, objs in by_station.items():
        for i in range(0, len(objs), _RECORD_MAX_ROWS):
            out.append((station.encode(), orjson.dumps(objs[i:i + _RECORD_MAX_ROWS],
                                                       option=orjson.OPT_UTC_Z)))
    return out


class WindowRuntime:
    def __init__(
        self,
        *,
        config: WindowConfig,
        sink: ReadingSink,
        database: str,
        metrics: Metrics,
        produce: Producer | None,
        topic: str | None,
        raw_topic: str,
        alert_topic: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = WindowState(config)
        self.sink = sink
        self.database = database
        self.metrics = metrics
        self.produce = produce
        self.topic = topic
        self.raw_topic = raw_topic
        self.alert_topic = alert_topic
        self.clock = clock
        # Set once the state of the assigned partitions is restored; cleared from the moment
        # partitions are revoked (and at start) until the next restore is done, so no record
        # of a rebalanced partition is counted before its state is rebuilt.
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()  # one tick or restore at a time
        self._lag_labels: set[str] = set()  # stations whose lag gauge this worker set
        self._stations: set[str] = set()
        # from one final window end to the next, per kind, with the grace and a tick's slack
        self._steps = {
            w.name: float(w.hop_s if w.kind == "hopping" and w.hop_s else max_length_s(w))
            + config.grace_s + 60.0 for w in config.windows}
        self.span_s = int(config.out_of_orderness_s + config.grace_s
                          + config.allowed_lateness_s
                          + max(max_length_s(s) for s in config.windows)) + 60

    # -- input -----------------------------------------------------------------------------
    def add(self, rows: Sequence[Row]) -> None:
        add = self.state.add
        for row in rows:
            add(row, row[_P])

    # -- corrections -----------------------------------------------------------------------
    async def correct(self, corrections: Sequence[Correction]) -> int:
        """Recount every window the old and new rows of ``corrections`` touch, from the
        stored events (the caller wrote the corrections first: docs/corrections.md).
        Windows in memory emit at the next tick; the others get their ``corrected`` rows
        now (window_stats, the windows topic, the alert engine). Returns the rows written
        now."""
        touched = [w for c in corrections
                   for r in (*c.old_rows, *((c.new_row,) if c.new_row is not None else ()))
                   for w in self.state.touched(r)]
        if not touched:
            return 0
        db, q = self.database, self.sink.query
        async with self._lock:
            raw = []
            for groups in by_station_batches(read_ranges(touched)):
                raw += await q(*event_reads.events_of_keys(db, groups))
            historical = self.state.recount(touched, [restored_event_row(r) for r in raw])
            if not historical:
                return 0
            keys = [(w.window_kind, w.start, w.station, *w.key) for w, _ in historical]
            stored = {}
            for at in range(0, len(keys), READ_GROUPS_PER_QUERY):
                for row in await q(*window_reads.window_rows_of_keys(
                        db, keys[at:at + READ_GROUPS_PER_QUERY]), table="window_stats"):
                    key, status, version, stats = emitted_from_row(row)
                    stored[key] = (status, version, stats, (
                        str(row[_W_COUNTRY]), str(row[_W_BORDER]), str(row[_W_TZ])))
            rows = historical_rows(historical, stored, self.config, self.clock())
            await self._emit(Emission(rows, [], {"corrected": len(rows)}), ledger=False)
        return len(rows)

    # -- output ----------------------------------------------------------------------------
    async def tick(self, caught_up: Container[int]) -> None:
        if not self.ready.is_set():
            return
        async with self._lock:
            em = self.state.tick(self.clock(), caught_up)
            await self._emit(em, ledger=True)
        self._gauges()

    async def _emit(self, em: Emission, *, ledger: bool) -> None:
        m = self.metrics
        for status, n in em.emitted.items():
            if n:
                m.window_rows.labels(status).inc(n)
        if em.unwindowed_reports:
            m.unwindowed_reports.inc(em.unwindowed_reports)
        late = em.late if ledger else []
        for r in late:
            m.late_events.labels(r[_L_STATION], r[_L_KIND]).inc()
        if not em.rows and not late:
            return
        if self.produce is not None and em.rows:
            records = [(self.topic, k, v) for k, v in window_records(em.rows)] \
                if self.topic else []
            if self.alert_topic:  # the alert engine follows every window row
                records += [(self.alert_topic, k, v)
                            for k, v in window_input_records(em.rows)]
            await asyncio.gather(*(self.produce(t, k, v) for t, k, v in records))
        await self.sink.submit({"window_stats": em.rows, "late_events": late})

    def _gauges(self) -> None:
        m = self.metrics
        m.windows_open.set(self.state.open_windows)
        now = self.clock()
        marks = self.state.watermarks()
        for station, wm in marks.items():
            m.window_event_time_lag.labels(station).set(max(0.0, now - wm))
        # a station whose partition went to another worker: its frozen lag must not linger
        for station in self._lag_labels - marks.keys():
            try:
                m.window_event_time_lag.remove(station)
            except KeyError:
                pass
        self._lag_labels = set(marks)

    # -- partitions ------------------------------------------------------------------------
    def hold(self) -> None:
        """A rebalance started: process nothing until the next :meth:`restore`."""
        self.ready.clear()

    def forget(self, partitions: Sequence[int]) -> None:
        self.state.forget_partitions(partitions)

    async def restore(self, partitions: Sequence[int]) -> None:
        """Rebuild the window state of ``partitions`` of the raw topic from ClickHouse (see
        the module docstring). Processing waits for it (:attr:`ready`)."""
        if not partitions:
            self.ready.set()
            return
        self.ready.clear()
        started = time.monotonic()
        try:
            async with self._lock:
                n_events, n_rows = await self._restore(sorted(set(partitions)))
        finally:
            self.ready.set()
        took = time.monotonic() - started
        self.metrics.window_restores.inc()
        self.metrics.window_restore_seconds.observe(took)
        log.info("window state of partitions %s restored in %.2f s: %d stored events, %d "
                 "window rows", sorted(set(partitions)), took, n_events, n_rows)

    async def _restore(self, partitions: list[int]) -> tuple[int, int]:
        db, topic, q = self.database, self.raw_topic, self.sink.query
        latest = await q(*event_reads.latest_event_times(db, topic, partitions))
        if not latest:
            return 0, 0
        newest: dict[tuple[str, str], int] = {}
        for station, reports, t in latest:
            stream = "reports" if int(reports) else "live"
            newest[(str(station), stream)] = int(aware_utc(t).timestamp())
        stations = tuple(sorted({s for s, _ in newest}))
        ooo = self.config.out_of_orderness_s
        # the watermark each (station, stream) is restored to: where it was, but no later
        # than its closed windows are durably written (the sink writes tables apart, so a
        # crash can lose final rows of windows whose events, and later ones, are stored)
        watermark = {k: t - ooo for k, t in newest.items()}
        # how far back a restore may start: REWIND_SPANS restore spans behind the watermark
        cap = REWIND_SPANS * self.span_s
        looked_back = int(min(watermark.values())) - cap - self.span_s
        watermark.update(durable_frontiers(
            await q(*window_reads.final_window_ends(db, stations, looked_back)),
            await q(*event_reads.earliest_event_times(db, topic, partitions, looked_back)),
            self._steps, watermark, cap))
        horizon = {k: int(t + ooo) - self.span_s for k, t in watermark.items()}
        since = min(horizon.values())

        # 1. what window_stats last held for each key that may still change
        emitted = await q(*window_reads.window_rows_since(db, stations, since))
        for row in emitted:
            key, status, version, stats = emitted_from_row(row)
            self.state.restore_emitted(key, status, version, stats)
        # 2. the watermarks as they were (or where the durable final rows end)
        for (station, stream), t in watermark.items():
            self.state.restore_watermark(station, stream, t)
        # 3. the stored events of those windows (payload not needed)
        events = await q(*event_reads.stored_events_since(db, topic, partitions, stations,
                                                          since))
        add = self.state.add
        n = 0
        for raw in events:
            row = restored_event_row(raw)
            stream = "reports" if row[_ET] == "count_report" else "live"
            h = horizon.get((row[_STATION], stream))
            if h is None or row[_T].timestamp() < h:
                continue
            add(row, int(row[_P]))
            n += 1
        # Finals that were due but not written before the crash go out now. Ledger rows of
        # this pass are not written: an event re-added behind the restored watermark was
        # counted when it first arrived; events that really were late have their rows.
        em = self.state.tick(self.clock(), ())
        await self._emit(em, ledger=False)
        return n, len(emitted)
