"""The asynchronous front of the sinks: :class:`BatchingSink`, five parts put together.

* ``sinks.batcher`` — the buffers (pure): one per table, cut into batches of at most
  ``sink_max_rows`` rows when a buffer holds that many rows or about ``sink_max_bytes``
  bytes, when its oldest row is ``sink_max_age_s`` old (a timer task here), or on
  :meth:`BatchingSink.flush`/:meth:`BatchingSink.close`.
* **Adaptive batching** (``sink_write_when_idle``, on by default), the way Nagle's algorithm
  and group commit work: a table with no write in flight is written as soon as rows arrive
  (reason ``idle``), but at most once per ``sink_min_interval_s``; while a write of it is in
  flight, its rows gather and go out together when that write ends. Idle, an event is in
  ClickHouse one insert after it is submitted; busy, batches grow by themselves to what one
  insert's time lets gather, so throughput is the backlog's. ``sink_max_age_s`` stays the
  ceiling (slow or failing writes).
* ``sinks.retrier`` — each batch is inserted in a thread pool (never on the event loop), at
  most ``sink_max_in_flight`` at once, retried: unavailability forever with capped backoff,
  other errors 3 times, then the sink fails with :class:`SinkWriteError`.
* ``sinks.durability`` — **commit after write.** ``submit(rows_by_table, on_durable)`` only
  buffers; ``on_durable`` runs once every row of that submission (in every table) *and* of
  every earlier submission is in ClickHouse, strictly in submission order. The stream
  acknowledges its Kafka offsets from that callback and nowhere else, so an offset is
  never committed ahead of its rows. A crash in between re-delivers records whose rows may
  already be written: the tables are ReplacingMergeTrees keyed by deterministic ids, and
  ``FINAL`` reads collapse the repeats.
* ``sinks.reader`` — the reads the stream cannot do without (:meth:`stored_body_hashes`,
  the id-conflict lookup, and :meth:`query`), in threads, retried like writes while
  ClickHouse is unreachable.
* ``sinks.flow`` — backpressure: ``submit`` awaits while a write (or a read) is failing,
  while more than ``(sink_max_in_flight + 1) * sink_max_rows`` rows are not yet written, or
  while the sink is stalled: its oldest submission not yet written (or a read failing since)
  is older than ``sink_stall_s`` (:attr:`BatchingSink.stalled`, ``/readyz`` 503). Listeners
  hear each change (the stream pauses/resumes its Kafka partitions).

What stays here is the wiring: who tells whom when a submission arrives, a batch is cut, a
write ends, or the sink fails. A write error retrying cannot fix, or an ``on_durable`` that
raises, fails the sink for good: :meth:`submit`/:meth:`flush` raise it and the sink accepts
nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from blo.metrics import Metrics
from blo.settings import BatchSettings
from sinks.base import Database, OnDurable, Row, SinkError, SinkWriteError
from sinks.batcher import Batch, Batcher
from sinks.durability import DurabilityTracker
from sinks.flow import FlowControl
from sinks.reader import SinkReader
from sinks.retrier import Retrier
from sinks.tables import BY_NAME

log = logging.getLogger(__name__)

ORDERED_TABLES = frozenset({"window_stats"})
"""Tables whose batches are written one at a time, in the order they were cut, so that what
is durable of them is always a prefix of what was submitted. A restore reads how far a
station's final window rows are written from ``window_stats`` alone
(:func:`streams.window_runtime.durable_frontiers`): with two of its inserts in flight (or one
retrying while the next succeeds), a crash could keep later windows' rows and lose earlier
ones, and the restore would not see the hole. The other tables need no order: their
``on_durable`` callbacks already run in submission order."""


class BatchingSink:
    """A :class:`sinks.base.Sink` over a synchronous :class:`sinks.base.Database`.

    Must be used from one event loop. ``columns`` maps table → insert column order
    (default: :data:`sinks.tables.BY_NAME`).
    """

    def __init__(
        self,
        db: Database,
        batch: BatchSettings,
        metrics: Metrics,
        *,
        max_in_flight: int | None = None,
        columns: Mapping[str, Sequence[str]] | None = None,
        close_db: bool = True,
        ordered: Collection[str] = ORDERED_TABLES,
    ) -> None:
        self._db = db
        self._cfg = batch
        self._m = metrics
        self._max_in_flight = max_in_flight or batch.sink_max_in_flight
        self._columns = {
            name: tuple(cols)
            for name, cols in (
                columns or {t.name: t.column_names for t in BY_NAME.values()}
            ).items()
        }
        self._close_db = close_db
        # one lock per ordered table: asyncio.Lock wakes its waiters first come, first served,
        # and each write task asks for it before anything else, in the order it was created
        self._order: dict[str, asyncio.Lock] = {t: asyncio.Lock() for t in ordered}
        self._executor = ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="blo-sink")
        self._batcher = Batcher(batch.sink_max_rows, batch.sink_max_bytes)
        self._durable = DurabilityTracker()
        self._retrier = Retrier(batch, metrics, self._executor, stopped=self._stopped,
                                on_change=self._update_backpressure)
        self._reader = SinkReader(db, self._retrier)
        self._flow = FlowControl(metrics, stall_s=batch.sink_stall_s,
                                 limit_rows=(self._max_in_flight + 1) * batch.sink_max_rows)
        self._unwritten = 0  # rows buffered or being written
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._closed = False
        self._failure_listeners: list[Callable[[BaseException], None]] = []
        self._slots: asyncio.Semaphore | None = None
        self._age_task: asyncio.Task[None] | None = None
        # adaptive batching: writes in flight and when the last began, per table; a pending
        # timer per table whose next idle write must wait for sink_min_interval_s
        self._writing: dict[str, int] = {}
        self._last_write: dict[str, float] = {}
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self._write_ended = asyncio.Event()  # set (and replaced) whenever a write ends

    # -- public --------------------------------------------------------------------------
    @property
    def backpressured(self) -> bool:
        """True while a write is failing and being retried, too many rows are unwritten, or
        the sink is stalled."""
        return self._flow.backpressured

    @property
    def unwritten_rows(self) -> int:
        return self._unwritten

    @property
    def stalled(self) -> bool:
        """True while the oldest pending write is older than ``sink_stall_s``."""
        return self.oldest_pending_s() > self._cfg.sink_stall_s

    def oldest_pending_s(self) -> float:
        """Seconds since the oldest submission not yet written (and its ``on_durable`` run)
        was submitted, or since a read that is failing started; 0 when there is none."""
        now = time.monotonic()
        starts = [t for t in (self._durable.oldest_since(), self._retrier.oldest_failing_read())
                  if t is not None]
        return max(0.0, now - min(starts, default=now))

    def add_stall_listener(self, callback: Callable[[bool, float], None]) -> None:
        """``callback(True, age_s)`` when the sink stalls, ``callback(False, age_s)`` when it
        writes again (``age_s``: :meth:`oldest_pending_s` at that moment, or how long the
        stall lasted)."""
        self._flow.add_stall_listener(callback)

    def add_backpressure_listener(self, callback: Callable[[bool], None]) -> None:
        """``callback(True)`` when backpressure starts, ``callback(False)`` when it ends."""
        self._flow.add_backpressure_listener(callback)

    def add_failure_listener(self, callback: Callable[[BaseException], None]) -> None:
        """``callback(error)`` once, when the sink fails for good (a write error retrying
        cannot fix, or a failing ``on_durable``) — even if no one submits again."""
        self._failure_listeners.append(callback)

    @property
    def failed(self) -> BaseException | None:
        """The error the sink failed with, if it did."""
        return self._error

    def start(self) -> None:
        """Start the age timer (also done by the first :meth:`submit`). Needs a running loop."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_in_flight)
        if self._age_task is None and not self._closed:
            self._age_task = asyncio.get_running_loop().create_task(self._age_loop())

    async def submit(
        self, rows_by_table: Mapping[str, Sequence[Row]], on_durable: OnDurable | None = None
    ) -> None:
        """Buffer rows (e.g. ``{"events": rows, "dlq": rows}``); ``on_durable`` runs after
        they and all earlier submissions are written. Awaits while backpressured. Raises
        the sink's :class:`SinkWriteError` once a write has failed for good."""
        self.start()
        await self._flow.wait_for_room(self._raise_if_failed)
        n_rows = 0
        for table, rows in rows_by_table.items():
            cols = self._columns.get(table)
            if cols is None:
                raise SinkWriteError(f"unknown table {table!r} (known: {sorted(self._columns)})")
            if rows and len(rows[0]) != len(cols):
                raise SinkWriteError(
                    f"rows for {table} have {len(rows[0])} values, the table has {len(cols)}"
                )
            n_rows += len(rows)
        now = time.monotonic()
        seq = self._durable.open(n_rows, on_durable, now)
        self._unwritten += n_rows
        for table, rows in rows_by_table.items():
            due = self._batcher.add(table, seq, rows, now)
            if due is not None and not self._queued_behind(table):
                self._dispatch(table, due)
            if rows:
                self._write_if_idle(table)
        self._update_backpressure()
        if n_rows == 0:
            await self._run_callbacks()

    async def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, table: str = "events"
    ) -> list[Row]:
        """Run a read on the sink's database in a worker thread (never on the event loop),
        retried like :meth:`stored_body_hashes` (``table`` labels its retries)."""
        self.start()
        return await self._reader.query(sql, params, table=table)

    async def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """The id-conflict lookup: :meth:`sinks.reader.SinkReader.stored_body_hashes`
        (retried forever while ClickHouse is unreachable, with backpressure on meanwhile;
        other errors raised at once, as is the sink's own failure)."""
        self.start()
        return await self._reader.stored_body_hashes(station_ids, event_ids)

    async def writable(self, table: str, max_wait_s: float) -> None:
        """Return once rows submitted to ``table`` would be written at once (adaptive
        batching: no write of it in flight, the last begun ``sink_min_interval_s`` ago or
        more), or after ``max_wait_s`` whatever the sink is doing. At once without adaptive
        batching, or once the sink has failed or closed.

        The take loops wait here before taking (``BLO_BATCH_TAKE_FOLLOWS_SINK_S``): what
        they take now would wait in the buffer for the next write anyway, and one take per
        write instead of many small ones saves each take's fixed cost (the conflict lookup,
        the alert input's progress record, the loop's wake-ups)."""
        if max_wait_s <= 0 or not self._cfg.sink_write_when_idle:
            return
        deadline = time.monotonic() + max_wait_s
        while not self._closed and self._error is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._writing.get(table):
                ended = self._write_ended
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), left)
                continue
            wait = (self._last_write.get(table, -1e9) + self._cfg.sink_min_interval_s
                    - time.monotonic())
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, left))

    async def flush(self, reason: str = "flush") -> None:
        """Write everything buffered; return once it and its callbacks are done."""
        self.start()
        self._raise_if_failed()
        for table in self._batcher.tables():
            self._dispatch(table, reason)
        while self._tasks:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            self._raise_if_failed()
        await self._run_callbacks()
        self._raise_if_failed()

    async def close(self) -> None:
        """Flush (reason ``close``), stop the timer, release the threads and the database."""
        if self._closed:
            return
        try:
            await self.flush("close")
        finally:
            self._closed = True
            if self._age_task is not None:
                self._age_task.cancel()
            for handle in self._idle_timers.values():
                handle.cancel()
            self._idle_timers.clear()
            if self._close_db:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- writing -------------------------------------------------------------------------
    def _dispatch(self, table: str, reason: str) -> None:
        """Cut the table's buffer into batches (see :meth:`sinks.batcher.Batcher.take`) and
        start writing them."""
        loop = asyncio.get_running_loop()
        for batch in self._batcher.take(table, reason):
            self._m.flushes.labels(table, reason).inc()
            self._writing[table] = self._writing.get(table, 0) + 1
            self._last_write[table] = time.monotonic()
            task = loop.create_task(self._write(batch))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _queued_behind(self, table: str) -> bool:
        """An ordered table with a write in flight: its rows gather and go out together once
        that write ends (:meth:`_write` calls :meth:`_write_if_idle`; without adaptive
        batching, the next age tick or threshold), rather than as many small inserts queued
        one behind the other (each a part per month partition for ClickHouse to merge)."""
        return table in self._order and bool(self._writing.get(table))

    def _write_if_idle(self, table: str) -> None:
        """Adaptive batching (module docstring): write the table's buffer now if no write of
        it is in flight and its last began ``sink_min_interval_s`` ago or more; if sooner,
        once that interval is over. While one is in flight, its end calls here again."""
        cfg = self._cfg
        if (not cfg.sink_write_when_idle or self._closed or self._error is not None
                or self._writing.get(table) or not self._batcher.buffered_rows(table)
                or table in self._idle_timers):
            return
        wait = self._last_write.get(table, -1e9) + cfg.sink_min_interval_s - time.monotonic()
        if wait <= 0:
            self._dispatch(table, "idle")
            return

        def due() -> None:
            self._idle_timers.pop(table, None)
            self._write_if_idle(table)

        self._idle_timers[table] = asyncio.get_running_loop().call_later(wait, due)

    async def _age_loop(self) -> None:
        max_age = self._cfg.sink_max_age_s
        tick = max(0.01, min(max_age / 4, 0.25))
        while True:
            await asyncio.sleep(tick)
            for table in self._batcher.due_by_age(time.monotonic(), max_age):
                if not self._queued_behind(table):
                    self._dispatch(table, "age")
            self._update_backpressure()  # a stall starts while nothing else happens

    async def _write(self, batch: Batch) -> None:
        assert self._slots is not None
        insert = functools.partial(
            self._db.insert, batch.table, self._columns[batch.table], batch.rows)
        order: contextlib.AbstractAsyncContextManager[Any] = \
            self._order.get(batch.table) or contextlib.nullcontext()
        try:
            async with order, self._slots:
                self._m.batches_in_flight.inc()
                try:
                    if batch.table in self._order and self._error is not None:
                        ok = False  # an ordered batch never lands after an earlier one failed
                    else:
                        ok = await self._retrier.write(batch, insert)
                except SinkWriteError as e:
                    self._fail(e)
                    ok = False
                finally:
                    self._m.batches_in_flight.dec()
        finally:
            self._writing[batch.table] -= 1
            ended, self._write_ended = self._write_ended, asyncio.Event()
            ended.set()
        self._write_if_idle(batch.table)  # what gathered meanwhile goes out now
        if not ok:
            self._update_backpressure()
            return
        self._unwritten -= len(batch.rows)
        self._update_backpressure()
        self._durable.written(batch.pieces)
        await self._run_callbacks()

    async def _run_callbacks(self) -> None:
        await self._durable.run_callbacks(lambda: self._error is not None, self._callback_failed)

    def _callback_failed(self, error: Exception) -> None:
        log.error("on_durable callback failed; the sink stops", exc_info=error)
        self._fail(error)

    # -- failure -------------------------------------------------------------------------
    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception() or SinkError("write task failed"))

    def _fail(self, error: BaseException) -> None:
        first = self._error is None
        if first:
            self._error = error
        self._flow.release()  # wake blocked submitters so they raise
        if first:
            for listener in list(self._failure_listeners):
                try:
                    listener(error)
                except Exception:
                    log.exception("failure listener %r failed", listener)

    def _stopped(self) -> BaseException | None:
        """The error a call must stop with: the sink's failure, or that it is closed."""
        if self._error is not None:
            return self._error
        if self._closed:
            return SinkError("the sink is closed")
        return None

    def _raise_if_failed(self) -> None:
        error = self._stopped()
        if error is not None:
            raise error

    def _update_backpressure(self) -> None:
        self._flow.update(
            unwritten=self._unwritten, retrying=self._retrier.retrying,
            oldest_pending_s=self.oldest_pending_s(), in_flight=len(self._tasks),
            failed=self._error is not None,
        )
