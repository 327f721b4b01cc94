"""The inline ingest backend: the glue between the Faust agent, the pure ingest step and
the sink (:class:`streams.backend.IngestBackend`; the ingest process runs one too).

**Where offsets are committed.** Records are acknowledged in :meth:`IngestRuntime._ack`,
which runs only as the sink's ``on_durable`` callback — after every row the records
produced (events and dead letters) is in ClickHouse and every dead letter is on the DLQ
topic — and, through :class:`streams.frontier.AckFrontier`, only once every record fetched
before it on the same partition is done too (Faust would otherwise commit past a gap, e.g.
a record held for an unknown station). Faust commits the acknowledged offsets on its
commit interval and once more on shutdown. A crash at any point means redelivery, never
loss; redelivered rows collapse in the readers' view (``FINAL``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Protocol
from uuid import UUID

from prometheus_client.metrics_core import Metric

import sinks.base
from blo.metrics import Metrics
from schemas.alert_input import partition_progress_record
from schemas.parse import EVENT_TYPES
from schemas.rows import EventRow
from sinks.base import Database, SinkError
from sinks.read_model import events as event_reads
from streams.alert_input import station_progress_record
from streams.backend import TP, Acker, Positions, SinkHealth, Timer, slices_by_bytes
from streams.dead_letters import dlq_message, dlq_row
from streams.enriched import enriched_records
from streams.frontier import AckFrontier
from streams.guard import DlqFloodError, DlqGuard
from streams.ingest import BatchOutcome, IngestProcessor, RawRecord
from streams.window_runtime import WindowRuntime, restored_event_row

log = logging.getLogger("blo.ingest")
C_STATION = EventRow._fields.index("station_id")
C_EVENT_ID = EventRow._fields.index("event_id")
EventRowT = tuple[Any, ...]

Producer = Callable[[str, bytes, bytes], Awaitable[Any]]  # (topic, key, value) → delivery
class ReadingSink(sinks.base.ReadingSink, SinkHealth, Protocol):
    """The ingest runtime's sink: reads and writes (:class:`sinks.base.ReadingSink`), what
    ``/readyz`` reads of it, and when it would write at once
    (:meth:`sinks.batching.BatchingSink.writable`)."""

    async def writable(self, table: str, max_wait_s: float) -> None: ...


def caught_up_partitions(positions: Positions, processed_next: Mapping[TP, int],
                         raw_topic: str) -> set[int]:
    """Raw-topic partitions whose every fetched record is processed and whose fetch
    position is at the high watermark the broker reported with its last fetch response
    (never the end-offset lookup, wrong on Tansu). Only these may idle-close windows."""
    out = set()
    for (topic, partition), (hw, committed) in positions.items():
        if topic != raw_topic or hw is None:
            continue
        nxt = processed_next.get((topic, partition))
        if nxt is None:  # nothing processed since the assignment
            nxt = committed or 0
        if nxt >= hw:
            out.add(partition)
    return out


class IngestRuntime:
    """:class:`streams.backend.IngestBackend` in this process: built by
    :func:`streams.backend_factory.build_inline`."""

    def __init__(
        self,
        *,
        processor: IngestProcessor,
        sink: ReadingSink,
        db: Database,
        metrics: Metrics,
        guard: DlqGuard,
        produce: Producer,
        dlq_topic: str,
        raw_topic: str,
        dlq_payload_limit: int,
        on_fatal: Callable[[BaseException], None],
        enriched_topic: str | None = None,
        slice_max_bytes: int = 4 * 1024 * 1024,
        windows: WindowRuntime | None = None,
        alert_input_topic: str | None = None,
        positions: Callable[[], Positions] = dict,
        window_tick_s: float = 1.0,
        take_follows_sink_s: float = 0.0,
    ) -> None:
        self.processor = processor
        self.take_follows_sink_s = take_follows_sink_s
        self.sink = sink
        self.db = db
        self.metrics = metrics
        self.guard = guard
        self.produce = produce
        self.dlq_topic = dlq_topic
        self.raw_topic = raw_topic
        self.dlq_payload_limit = dlq_payload_limit
        self.enriched_topic = enriched_topic
        self.on_fatal = on_fatal
        self.slice_max_bytes = slice_max_bytes
        self.windows = windows
        self.alert_input_topic = alert_input_topic
        self.positions = positions  # the consumer's view: lag, caught-up partitions
        self.window_tick_s = window_tick_s
        # event types whose events the alert engine needs one by one (paired rules)
        self.alert_event_types: frozenset[str] = frozenset()
        # next offset after the last record processed, per partition (for "caught up")
        self.processed_next: dict[tuple[str, int], int] = {}
        # partitions assigned to this worker (None until the first assignment is known)
        self.assigned: set[tuple[str, int]] | None = None
        self.fatal: BaseException | None = None
        self.registry_ready = asyncio.Event()
        self.acker: Acker | None = None
        self.stopping = False
        # bumped whenever partitions are forgotten (a rebalance): a take begun before it
        # stops there instead of registering its records in the new assignment's frontier
        self.epoch = 0
        self._lock = asyncio.Lock()
        self._frontier = AckFrontier()  # its handles: the RawRecords themselves
        self._acked_next: dict[tuple[str, int], int] = {}

    # -- called by the agent -----------------------------------------------------------
    async def ready_to_take(self) -> None:
        """Wait, at most ``BLO_BATCH_TAKE_FOLLOWS_SINK_S``, until the sink would write the
        events of a take at once: the take loops call this once a small take has its first
        record, so that light traffic makes one take per insert (docs/performance.md,
        "Takes follow the sink")."""
        await self.sink.writable("events", self.take_follows_sink_s)

    async def start(self) -> None:
        """Nothing to start: the sink starts with the app's tasks."""

    def registry_loaded(self) -> None:
        self.registry_ready.set()

    async def metric_families(self) -> list[Metric] | None:
        return None  # all in this process's registry

    async def handle(self, records: list[RawRecord], ack: Acker) -> None:
        """Process one take of raw records; ``ack`` each once durable (:meth:`_ack`)."""
        self.acker = ack
        if self.fatal is not None or self.stopping:
            return  # stopping: leave everything unacknowledged (redelivered later)
        epoch = self.epoch  # as fetched: a rebalance while waiting below makes them stale
        if not self.registry_ready.is_set():
            log.info("waiting for the station registry before the first batch")
            await self.registry_ready.wait()
        windows = self.windows
        if windows is not None and not windows.ready.is_set():
            await windows.ready.wait()  # window state of new partitions being restored
            if self.fatal is not None or self.stopping:
                return
        if epoch != self.epoch:
            return  # fetched before a rebalance: read again from the committed offsets
        assigned = self.assigned
        if assigned is not None:  # fetched before a rebalance gave the partition away
            records = [r for r in records
                       if (r.source.topic, r.source.partition) in assigned]
        frontier = self._frontier
        for rec in records:
            src = rec.source
            frontier.received((src.topic, src.partition), src.offset, rec)
        self.metrics.records_consumed.labels(self.raw_topic).inc(len(records))
        self.metrics.take_records.observe(len(records))
        processed = self.processed_next
        for chunk in slices_by_bytes(records, self.slice_max_bytes):
            if not await self._process(chunk, epoch):
                return  # a rebalance came between two slices: the rest of the take is
                # redelivered (from the committed offsets) to whoever owns it now
            for rec in chunk:
                src = rec.source
                processed[(src.topic, src.partition)] = src.offset + 1

    async def release_holds(self) -> None:
        """Timer: process held records whose station arrived or whose hold expired."""
        if self.stopping or self.fatal is not None:
            return
        due = self.processor.due_holds(datetime.now(UTC))
        assigned = self.assigned
        if assigned is not None:  # held records of revoked partitions go to their new owner
            due = [r for r in due if (r.source.topic, r.source.partition) in assigned]
        if due:
            await self._process(due)
        self.metrics.events_held.set(self.processor.held_events)

    # -- internals ---------------------------------------------------------------------
    async def _process(self, records: list[RawRecord], epoch: int | None = None) -> bool:
        """Bad input never raises here (it becomes dead letters). What does raise stops the
        worker with the error instead of leaving a process that consumes nothing: a global
        DLQ flood (:mod:`streams.guard`; the tripping batch is written and acknowledged
        first, its dead letters included), a ClickHouse error retrying cannot fix, a topic that refuses the DLQ
        records. Nothing of a batch that failed is acknowledged, so it is redelivered.

        ``epoch``: the :attr:`epoch` the records were received in; if a rebalance came since
        (judged once the lock is ours: the revoke may have been waiting for it), nothing is
        processed and False is returned."""
        async with self._lock:
            if epoch is not None and epoch != self.epoch:
                return False
            try:
                # decode → validate → enrich (pure) | the one read | conflicts → rows (pure)
                plan = self.processor.prepare(records, datetime.now(UTC))
                found = await self._lookup_hashes(plan.stations, plan.missing) \
                    if plan.missing else {}
                live = await self._lookup_live(plan.revised_stations, plan.revised) \
                    if plan.revised else None
                outcome = self.processor.finish(plan, found, live)
                flood = self.guard.observe(
                    Counter(map(itemgetter(C_STATION), outcome.event_rows)),
                    [(d.station_id, d.reason) for d in outcome.dead_letters], time.monotonic())
                self._count(outcome)
                if self.windows is not None:
                    self.windows.add(outcome.new_rows)
                await self._write(outcome)
                if outcome.corrections:
                    await self._correct(outcome)
                if flood is not None:  # a global failure: stop once its dead letters are in
                    await self.sink.flush("dlq guard")
                    raise flood
            except (DlqFloodError, SinkError) as e:
                self._fail(e)
            except Exception as e:
                log.exception("unexpected failure while processing a batch")
                self._fail(e)
        return True

    async def _write(self, outcome: BatchOutcome) -> None:
        limit = self.dlq_payload_limit
        deliveries = [self.produce(self.dlq_topic, *dlq_message(d, limit))
                      for d in outcome.dead_letters]
        if self.enriched_topic and outcome.event_rows:
            deliveries += [self.produce(self.enriched_topic, k, v)
                           for k, v in enriched_records(outcome.event_rows)]
        if self.alert_input_topic and outcome.event_rows:
            progress = station_progress_record(outcome.event_rows, self.alert_event_types)
            if progress is not None:
                deliveries.append(self.produce(self.alert_input_topic, *progress))
        if deliveries:  # on the topics before the records are acknowledged
            await asyncio.gather(*deliveries)
        rows = {"events": outcome.event_rows,
                "dlq": [dlq_row(d, limit) for d in outcome.dead_letters]}
        if outcome.revision_rows:
            rows["event_revisions"] = outcome.revision_rows
        done = outcome.done

        async def on_durable() -> None:
            await self._ack(done)

        await self.sink.submit(rows, on_durable=on_durable)

    async def _correct(self, outcome: BatchOutcome) -> None:
        """Corrections and voids (docs/corrections.md): once their rows are written, the
        windows they touch are recounted from what ClickHouse holds."""
        m = self.metrics
        for c in outcome.corrections:
            m.events_corrected.labels("void" if c.new_row is None else "revision").inc()
        if self.windows is None:
            return
        await self.sink.flush("corrections")
        await self.windows.correct(outcome.corrections)

    async def _ack(self, done: list[RawRecord]) -> None:
        acker = self.acker
        if acker is None:
            return
        acked = 0
        for rec in done:
            key = (rec.source.topic, rec.source.partition)
            for ready in self._frontier.completed(key, rec.source.offset):
                await acker(ready)
                acked += 1
                self._acked_next[key] = ready.source.offset + 1
        self.metrics.offsets_acked.labels(self.raw_topic).inc(acked)

    async def drain(self, timeout: float) -> None:
        """Shutdown: let the batch in progress finish, flush the sink (which acknowledges
        what it wrote), all within ``timeout``. Held records and anything not written by
        then stay unacknowledged and are redelivered to the next worker."""
        self.stopping = True
        self.processor.release_all_holds()

        async def flush() -> None:
            async with self._lock:
                await self.sink.close()

        try:
            await asyncio.wait_for(flush(), timeout)
        except TimeoutError:
            log.error("final flush did not finish within %.0f s (ClickHouse unreachable?); "
                      "unwritten records will be redelivered", timeout)
        except Exception as e:  # noqa: BLE001 - a dead ClickHouse must not hang the shutdown
            log.error("final flush failed, unwritten records will be redelivered: %s", e)

    def forget_partitions(self, tps: Sequence[tuple[str, int]]) -> None:
        """Revoked partitions: their unacknowledged records go to the new owner."""
        self.epoch += 1
        for tp in tps:
            self._frontier.forget(tp)
            self._acked_next.pop(tp, None)
            self.processed_next.pop(tp, None)
            if self.assigned is not None:  # records of it still queued are not ours now
                self.assigned.discard(tp)
        if self.windows is not None:
            self.windows.forget([p for t, p in tps if t == self.raw_topic])

    async def assign(self, tps: set[TP]) -> None:
        """A new assignment: records of other partitions are skipped from now on, and the
        window state of its raw partitions is rebuilt before any of their records is counted.
        A restore that fails (ClickHouse unreachable for good, ...) stops the worker: no
        guessing."""
        self.assigned = set(tps)
        if self.windows is not None:
            try:
                await self.windows.restore(sorted(p for t, p in self.assigned
                                                  if t == self.raw_topic))
            except Exception as e:
                log.exception("could not restore the window state")
                self.fail(e)

    async def revoke(self, tps: Sequence[tuple[str, int]], flush_timeout: float) -> None:
        """Before partitions go: let the batch in progress finish and write what was
        processed, so whoever gets them next (possibly this worker again) rebuilds its window
        state from ClickHouse with every event counted so far; then forget them. If the
        writes cannot finish in time, the conflict cache is dropped too: redelivered records
        are then judged new or not by what ClickHouse really holds."""
        if self.windows is not None:
            self.windows.hold()  # until the new assignment's window state is restored
        async with self._lock:
            try:
                await asyncio.wait_for(self.sink.flush("rebalance"), flush_timeout)
            except Exception as e:  # noqa: BLE001 - timeout or sink failure: be conservative
                log.warning("could not write everything before the rebalance (%s); "
                            "forgetting the conflict cache", e or type(e).__name__)
                self.processor.forget_cache()
            self.forget_partitions(tps)

    def timers(self) -> list[Timer]:
        out = [Timer(0.5, "releasing held records", self.release_holds),
               Timer(2.0, "updating the lag", self.update_lag)]
        if self.windows is not None:
            out.append(Timer(self.window_tick_s, "window tick", self.tick_windows))
        return out

    async def update_lag(self) -> None:
        positions = self.positions()
        for key, nxt in self._acked_next.items():
            hw = positions.get(key, (None, None))[0]
            if hw is not None:
                topic, partition = key
                self.metrics.consumer_lag.labels(topic, str(partition)).set(max(0, hw - nxt))

    async def tick_windows(self) -> None:
        """One windows tick: close and emit what is due, then (with alerting) tell the alert
        engine which raw partitions of this worker are caught up."""
        windows = self.windows
        if windows is None:
            return
        positions, raw = self.positions(), self.raw_topic
        done = caught_up_partitions(positions, self.processed_next, raw)
        await windows.tick(done)
        if self.alert_input_topic is not None:
            parts = {p: p in done for (t, p) in positions if t == raw}
            if parts:
                await self.produce(self.alert_input_topic,
                                   *partition_progress_record(parts, time.time()))

    def _count(self, o: BatchOutcome) -> None:
        m = self.metrics
        m.events_consumed.labels(self.raw_topic).inc(o.events_seen)
        if o.superseded:
            m.events_superseded.inc(o.superseded)
        for et, n in o.accepted_by_type.items():
            m.events_valid.labels(et).inc(n)
        for d in o.dead_letters:  # label values stay bounded whatever the input says
            etype = d.event_type if d.event_type in EVENT_TYPES else "unknown"
            m.events_dead_lettered.labels(d.reason, etype).inc()
        for sid, ts in o.newest_by_station.items():
            g = m.station_freshness.labels(sid)
            if ts.timestamp() > g._value.get():
                g.set(ts.timestamp())
        m.events_held.set(self.processor.held_events)

    def fail(self, exc: BaseException) -> None:
        """Stop the worker with this error (nothing further is acknowledged)."""
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            log.critical("%s", exc)
            self.on_fatal(exc)

    async def _lookup_live(self, stations: Sequence[str], ids: Sequence[UUID]
                           ) -> dict[UUID, list[EventRowT]]:
        """The live stored rows of revised ids (:func:`sinks.read_model.events.live_rows_of`):
        what a revision replaces."""
        raw = await self.sink.query(*event_reads.live_rows_of(
            self.db.database, stations, [str(i) for i in ids]))
        out: dict[UUID, list[EventRowT]] = {}
        for r in raw:
            row = restored_event_row(r)
            out.setdefault(row[C_EVENT_ID], []).append(row)
        return out

    async def _lookup_hashes(self, stations: Sequence[str], ids: Sequence[UUID]
                             ) -> dict[UUID, str]:
        """Stored body hashes of these ids (conflict detection across restarts): one query
        for the whole batch (:meth:`sinks.base.Database.stored_body_hashes`, the ids sent as
        data, not SQL text). Through the sink, so an unreachable ClickHouse is retried with
        backpressure, as for writes."""
        return await self.sink.stored_body_hashes(stations, ids)
