"""The glue between the Faust agent, the pure ingest step and the sink.

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from blo.metrics import Metrics
from schemas.parse import EVENT_TYPES
from sinks.base import Database, Row, Sink, SinkError
from streams.alert_input import station_progress_record
from streams.dead_letters import dlq_message, dlq_row
from streams.decode import SourcePos
from streams.enriched import enriched_records
from streams.frontier import AckFrontier
from streams.guard import DlqFloodError, DlqGuard
from streams.ingest import BatchOutcome, IngestProcessor, RawRecord
from streams.window_runtime import WindowRuntime

log = logging.getLogger("blo.ingest")

Producer = Callable[[str, bytes, bytes], Awaitable[Any]]  # (topic, key, value) → delivery
Acker = Callable[[Any], Awaitable[Any]]


def slices_by_bytes(records: list[RawRecord], max_bytes: int) -> list[list[RawRecord]]:
    """Cut a take into consecutive slices of at most ``max_bytes`` of record values (at
    least one record each). A take counts records, and a batched record may carry hundreds
    of events: processing a whole take of those in one step would hold the event loop for
    seconds (no HTTP answers, no writes meanwhile) and leave the sink idle. Value bytes are
    the proxy for the work, known before decoding."""
    out: list[list[RawRecord]] = []
    current: list[RawRecord] = []
    size = 0
    for rec in records:
        n = len(rec.value) if rec.value is not None else 0
        if current and size + n > max_bytes:
            out.append(current)
            current, size = [], 0
        current.append(rec)
        size += n
    if current:
        out.append(current)
    return out


class ReadingSink(Sink, Protocol):
    """A sink that also runs the stream's reads, with its retries (``BatchingSink``)."""

    async def query(self, sql: str, params: Mapping[str, Any] | None = None, *,
                    table: str = "events") -> list[Row]: ...

    async def stored_body_hashes(self, station_ids: Sequence[str], event_ids: Sequence[UUID]
                                 ) -> dict[UUID, str]: ...

    @property
    def failed(self) -> BaseException | None: ...


class IngestRuntime:
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
    ) -> None:
        self.processor = processor
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
        # event types whose events the alert engine needs one by one (paired rules)
        self.alert_event_types: frozenset[str] = frozenset()
        # next offset after the last record processed, per partition (for "caught up")
        self.processed_next: dict[tuple[str, int], int] = {}
        # partitions assigned to this worker (None until the first assignment is known)
        self.assigned: set[tuple[str, int]] | None = None
        self.fatal: BaseException | None = None
        self.registry_ready = asyncio.Event()
        self.acker: Acker | None = None
        self.highwater: Callable[[str, int], int | None] = lambda t, p: None
        self.stopping = False
        # bumped whenever partitions are forgotten (a rebalance): a take begun before it
        # stops there instead of registering its records in the new assignment's frontier
        self.epoch = 0
        self._lock = asyncio.Lock()
        self._frontier = AckFrontier()
        self._acked_next: dict[tuple[str, int], int] = {}

    # -- called by the agent -----------------------------------------------------------
    async def handle(self, events: Sequence[Any], acker: Acker) -> None:
        """Process one batch of Faust events (values are raw bytes)."""
        self.acker = acker
        if self.fatal is not None or self.stopping:
            return  # stopping: leave everything unacknowledged (redelivered later)
        if not self.registry_ready.is_set():
            log.info("waiting for the station registry before the first batch")
            await self.registry_ready.wait()
        windows = self.windows
        if windows is not None and not windows.ready.is_set():
            await windows.ready.wait()  # window state of new partitions being restored
            if self.fatal is not None or self.stopping:
                return
        assigned = self.assigned
        epoch = self.epoch
        records = []
        frontier = self._frontier
        for ev in events:
            m = ev.message
            if assigned is not None and (m.topic, m.partition) not in assigned:
                continue  # fetched before a rebalance gave its partition to another worker
            records.append(RawRecord(ev.value, SourcePos(m.topic, m.partition, m.offset), ev))
            frontier.received((m.topic, m.partition), m.offset, ev)
        self.metrics.records_consumed.labels(self.raw_topic).inc(len(records))
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
        worker with the error instead of leaving a process that consumes nothing: a DLQ
        flood, a ClickHouse error retrying cannot fix, a topic that refuses the DLQ records.
        Nothing of the failing batch is acknowledged, so it is redelivered after a restart.

        ``epoch``: the :attr:`epoch` the records were received in; if a rebalance came since
        (judged once the lock is ours: the revoke may have been waiting for it), nothing is
        processed and False is returned."""
        async with self._lock:
            if epoch is not None and epoch != self.epoch:
                return False
            try:
                now = datetime.now(UTC)
                outcome = await self.processor.process(records, now, self._lookup_hashes)
                self.guard.observe(outcome.events_seen, len(outcome.dead_letters))
                self._count(outcome)
                if self.windows is not None:
                    self.windows.add(outcome.new_rows)
                await self._write(outcome)
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
        done = outcome.done

        async def on_durable() -> None:
            await self._ack(done)

        await self.sink.submit(rows, on_durable=on_durable)

    async def _ack(self, done: list[RawRecord]) -> None:
        acker = self.acker
        if acker is None:
            return
        acked = 0
        for rec in done:
            key = (rec.source.topic, rec.source.partition)
            for handle in self._frontier.completed(key, rec.source.offset):
                await acker(handle)
                acked += 1
                self._acked_next[key] = handle.message.offset + 1
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

    async def on_revoked(self, tps: Sequence[tuple[str, int]], flush_timeout: float) -> None:
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

    def update_lag(self) -> None:
        for (topic, partition), nxt in self._acked_next.items():
            hw = self.highwater(topic, partition)
            if hw is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(max(0, hw - nxt))

    def _count(self, o: BatchOutcome) -> None:
        m = self.metrics
        m.events_consumed.labels(self.raw_topic).inc(o.events_seen)
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

    async def _lookup_hashes(self, stations: Sequence[str], ids: Sequence[UUID]
                             ) -> dict[UUID, str]:
        """Stored body hashes of these ids (conflict detection across restarts): one query
        for the whole batch (:meth:`sinks.base.Database.stored_body_hashes`, the ids sent as
        data, not SQL text). Through the sink, so an unreachable ClickHouse is retried with
        backpressure, as for writes."""
        return await self.sink.stored_body_hashes(stations, ids)
