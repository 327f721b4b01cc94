"""The asynchronous front of the sinks: :class:`BatchingSink`.

**Commit after write.** ``submit(rows_by_table, on_durable)`` only buffers; ``on_durable``
runs once every row of that submission (in every table) *and* of every earlier submission
is in ClickHouse, strictly in submission order. The stream acknowledges its Kafka offsets
from that callback and nowhere else, so an offset is never committed ahead of its rows. A
crash in between re-delivers records whose rows may already be written: the tables are
ReplacingMergeTrees keyed by deterministic ids, and ``FINAL`` reads collapse the repeats.

Batches: one buffer per table, flushed when it holds ``sink_max_rows`` rows or about
``sink_max_bytes`` bytes, when its oldest row is ``sink_max_age_s`` old (a timer task), or on
:meth:`flush`/:meth:`close`. Inserts run in a thread pool (never on the event loop), at most
``sink_max_in_flight`` at once.

Failures: :class:`SinkUnavailable` is retried forever with exponential backoff capped at
``sink_retry_max_s`` (a warning per attempt); any other error is retried 3 times, then it is
raised from :meth:`submit`/:meth:`flush` and the sink accepts nothing more. An insert that
times out (:class:`SinkTimeout`: ClickHouse took the connection, then said nothing) is
retried like any unavailability; it may still land when the server wakes, so its retry can
store the rows twice — harmless, as every table written here is a ReplacingMergeTree keyed
by the row's identity and read through ``FINAL``.

Reads the stream cannot do without (:meth:`stored_body_hashes`, the id-conflict lookup, and
:meth:`query`) run in threads too and are retried like writes while ClickHouse is
unreachable; other read errors are raised to the caller.

Backpressure: ``submit`` awaits while a write (or a read) is failing, while
more than ``(sink_max_in_flight + 1) * sink_max_rows`` rows are not yet written, or while the
sink is stalled. Listeners added with :meth:`add_backpressure_listener` hear
``True``/``False`` when that state starts/ends (the stream pauses/resumes its Kafka
partitions).

Stalls: :meth:`oldest_pending_s` is the age of the oldest submission not yet written (and of
a read failing since then); past ``sink_stall_s`` the sink is :attr:`stalled` — ClickHouse
is not answering, even if no call has failed yet (a paused server holds an insert until the
driver's timeout). ``/readyz`` answers 503 meanwhile; listeners added with
:meth:`add_stall_listener` hear each change; it ends by itself once the old rows are written.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from blo.metrics import Metrics
from blo.settings import BatchSettings
from sinks.base import (
    Database,
    OnDurable,
    Row,
    SinkError,
    SinkTimeout,
    SinkUnavailable,
    SinkWriteError,
)
from sinks.tables import BY_NAME

log = logging.getLogger(__name__)

WRITE_ERROR_RETRIES = 3

T = TypeVar("T")


def estimate_bytes(rows: Sequence[Row]) -> int:
    """Rough in-ClickHouse size of ``rows`` from a sample of at most 8 of them."""
    if not rows:
        return 0
    step = max(1, len(rows) // 8)
    sample = rows[::step][:8]
    total = 0
    for row in sample:
        for v in row:
            if isinstance(v, str | bytes):
                total += len(v) + 1
            elif isinstance(v, list | tuple):
                total += 8 + sum(len(x) if isinstance(x, str | bytes) else 8 for x in v)
            else:
                total += 8
    return total * len(rows) // len(sample)


@dataclass
class _Buffer:
    rows: list[Row] = field(default_factory=list)
    segments: list[tuple[int, int]] = field(default_factory=list)  # (submission, rows)
    bytes: int = 0
    since: float = 0.0  # monotonic time the oldest row arrived


@dataclass
class _Batch:
    table: str
    rows: list[Row]
    pieces: list[int]  # submission seq of every piece of a submission in this batch
    reason: str


@dataclass
class _Submission:
    pending: int  # pieces not yet written
    on_durable: OnDurable | None
    since: float  # monotonic time it was submitted


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
        self._limit_rows = (self._max_in_flight + 1) * batch.sink_max_rows
        self._executor = ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="blo-sink")
        self._buffers: dict[str, _Buffer] = {}
        self._subs: dict[int, _Submission] = {}
        self._next_seq = 0
        self._next_callback = 0
        self._unwritten = 0  # rows buffered or being written
        self._retrying: set[int] = set()  # id() of batches between failed attempts
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._closed = False
        self._backpressured = False
        self._stalled = False
        self._stalled_at = 0.0  # monotonic time the oldest pending write of a stall began
        self._failing_reads: dict[int, float] = {}  # id() of a failing read → its start
        self._listeners: list[Callable[[bool], None]] = []
        self._stall_listeners: list[Callable[[bool, float], None]] = []
        self._failure_listeners: list[Callable[[BaseException], None]] = []
        self._room: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._callback_lock: asyncio.Lock | None = None
        self._age_task: asyncio.Task[None] | None = None

    # -- public --------------------------------------------------------------------------
    @property
    def backpressured(self) -> bool:
        """True while a write is failing and being retried, too many rows are unwritten, or
        the sink is stalled."""
        return self._backpressured

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
        oldest = now
        for sub in self._subs.values():  # in submission order: the first is the oldest
            oldest = sub.since
            break
        if self._failing_reads:
            oldest = min(oldest, *self._failing_reads.values())
        return max(0.0, now - oldest)

    def add_stall_listener(self, callback: Callable[[bool, float], None]) -> None:
        """``callback(True, age_s)`` when the sink stalls, ``callback(False, age_s)`` when it
        writes again (``age_s``: :meth:`oldest_pending_s` at that moment, or how long the
        stall lasted)."""
        self._stall_listeners.append(callback)

    def add_backpressure_listener(self, callback: Callable[[bool], None]) -> None:
        """``callback(True)`` when backpressure starts, ``callback(False)`` when it ends."""
        self._listeners.append(callback)

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
        if self._room is None:
            self._room = asyncio.Event()
            self._room.set()
            self._slots = asyncio.Semaphore(self._max_in_flight)
            self._callback_lock = asyncio.Lock()
        if self._age_task is None and not self._closed:
            self._age_task = asyncio.get_running_loop().create_task(self._age_loop())

    async def submit(
        self, rows_by_table: Mapping[str, Sequence[Row]], on_durable: OnDurable | None = None
    ) -> None:
        """Buffer rows (e.g. ``{"events": rows, "dlq": rows}``); ``on_durable`` runs after
        they and all earlier submissions are written. Awaits while backpressured. Raises
        the sink's :class:`SinkWriteError` once a write has failed for good."""
        self.start()
        assert self._room is not None
        while True:
            self._raise_if_failed()
            if not self._backpressured:
                break
            await self._room.wait()
        for table, rows in rows_by_table.items():
            cols = self._columns.get(table)
            if cols is None:
                raise SinkWriteError(f"unknown table {table!r} (known: {sorted(self._columns)})")
            if rows and len(rows[0]) != len(cols):
                raise SinkWriteError(
                    f"rows for {table} have {len(rows[0])} values, the table has {len(cols)}"
                )
        seq = self._next_seq
        self._next_seq += 1
        now = time.monotonic()
        sub = self._subs[seq] = _Submission(pending=0, on_durable=on_durable, since=now)
        for table, rows in rows_by_table.items():
            if not rows:
                continue
            buf = self._buffers.setdefault(table, _Buffer())
            if not buf.rows:
                buf.since = now
            buf.rows.extend(rows)
            buf.segments.append((seq, len(rows)))
            buf.bytes += estimate_bytes(rows)
            sub.pending += 1
            self._unwritten += len(rows)
            if len(buf.rows) >= self._cfg.sink_max_rows:
                self._dispatch(table, "rows")
            elif buf.bytes >= self._cfg.sink_max_bytes:
                self._dispatch(table, "bytes")
        self._update_backpressure()
        if sub.pending == 0:
            await self._drain_callbacks()

    async def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, table: str = "events"
    ) -> list[Row]:
        """Run a read on the sink's database in a worker thread (never on the event loop),
        retried like :meth:`stored_body_hashes` (``table`` labels its retries)."""
        return await self._read(lambda: self._db.query(sql, params), "query", table)

    async def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """:meth:`sinks.base.Database.stored_body_hashes` (one query for the whole batch) in a
        worker thread (never on the event loop).

        A read the stream cannot do without (the id-conflict lookup) fails the same way a
        write does when ClickHouse is down, so it is retried the same way:
        :class:`SinkUnavailable` forever with the capped backoff, counted in
        ``blo_sink_retries_total{table="events", error="unavailable"}``, with backpressure on
        while it fails. Any other error is raised at once (the sink itself does not fail),
        as is the sink's own failure."""
        return await self._read(
            lambda: self._db.stored_body_hashes(station_ids, event_ids),
            f"lookup of {len(event_ids)} event ids", "events",
        )

    async def flush(self, reason: str = "flush") -> None:
        """Write everything buffered; return once it and its callbacks are done."""
        self.start()
        self._raise_if_failed()
        for table in list(self._buffers):
            self._dispatch(table, reason)
        while self._tasks:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            self._raise_if_failed()
        await self._drain_callbacks()
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
            if self._close_db:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- batching ------------------------------------------------------------------------
    def _dispatch(self, table: str, reason: str) -> None:
        """Turn the table's buffer into batches of at most ``sink_max_rows`` and start writing
        them. For ``rows``, a tail shorter than a batch stays buffered for the next rows."""
        buf = self._buffers.get(table)
        if buf is None or not buf.rows:
            return
        size = self._cfg.sink_max_rows
        take = len(buf.rows) if reason != "rows" else len(buf.rows) // size * size
        if take == 0:
            return
        rows, segments = buf.rows[:take], []
        left_rows, rest = take, list(buf.segments)
        while left_rows:
            seq, n = rest[0]
            if n <= left_rows:
                segments.append(rest.pop(0))
                left_rows -= n
            else:  # the submission continues in the part that stays buffered
                segments.append((seq, left_rows))
                rest[0] = (seq, n - left_rows)
                self._subs[seq].pending += 1
                left_rows = 0
        if take == len(buf.rows):
            del self._buffers[table]
        else:
            buf.rows = buf.rows[take:]
            buf.segments = rest
            buf.bytes = estimate_bytes(buf.rows)
        start = 0
        it = iter(segments)
        seq, left = next(it)
        while start < len(rows):
            chunk = rows[start : start + size]
            pieces: list[int] = []
            room = len(chunk)
            while room > 0:
                step = min(room, left)
                pieces.append(seq)
                room -= step
                left -= step
                if left == 0:
                    seq, left = next(it, (-1, 0))
                elif room == 0:  # this submission continues in the next chunk
                    self._subs[seq].pending += 1
            start += len(chunk)
            self._m.flushes.labels(table, reason).inc()
            task = asyncio.get_running_loop().create_task(
                self._write(_Batch(table, chunk, pieces, reason))
            )
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    async def _age_loop(self) -> None:
        max_age = self._cfg.sink_max_age_s
        tick = max(0.01, min(max_age / 4, 0.25))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for table, buf in list(self._buffers.items()):
                if buf.rows and now - buf.since >= max_age:
                    self._dispatch(table, "age")
            self._update_backpressure()  # a stall starts while nothing else happens

    # -- reading -------------------------------------------------------------------------
    async def _read(self, call: Callable[[], T], what: str, table: str) -> T:
        """Run ``call`` in the default executor (reads do not queue behind the inserts'
        threads); retry :class:`SinkUnavailable` forever with backpressure on meanwhile."""
        self.start()
        loop = asyncio.get_running_loop()
        token = object()
        attempt = 0
        started = time.monotonic()
        try:
            while True:
                self._raise_if_failed()
                try:
                    return await loop.run_in_executor(None, call)
                except SinkUnavailable as e:
                    attempt += 1
                    delay = self._backoff_s(attempt)
                    kind = "timeout" if isinstance(e, SinkTimeout) else "unavailable"
                    log.warning(
                        "%s on %s failed (attempt %d, %s): %s; retrying in %.1f s",
                        what, table, attempt, kind, e, delay,
                    )
                    self._m.sink_retries.labels(table, kind).inc()
                    self._retrying.add(id(token))
                    self._failing_reads[id(token)] = started
                    self._update_backpressure()
                    await asyncio.sleep(delay)
        finally:
            self._failing_reads.pop(id(token), None)
            if id(token) in self._retrying:
                self._retrying.discard(id(token))
                self._update_backpressure()

    def _backoff_s(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, …): doubling, capped."""
        return float(min(self._cfg.sink_retry_initial_s * 2 ** (attempt - 1),
                         self._cfg.sink_retry_max_s))

    # -- writing -------------------------------------------------------------------------
    async def _write(self, batch: _Batch) -> None:
        assert self._slots is not None
        async with self._slots:
            self._m.batches_in_flight.inc()
            try:
                ok = await self._insert_with_retries(batch)
            finally:
                self._m.batches_in_flight.dec()
                self._retrying.discard(id(batch))
        if not ok:
            self._update_backpressure()
            return
        self._unwritten -= len(batch.rows)
        self._update_backpressure()
        for seq in batch.pieces:
            self._subs[seq].pending -= 1
        await self._drain_callbacks()

    async def _insert_with_retries(self, batch: _Batch) -> bool:
        loop = asyncio.get_running_loop()
        cols = self._columns[batch.table]
        attempt = write_failures = 0
        while True:
            if self._error is not None:
                return False
            started = time.perf_counter()
            try:
                await loop.run_in_executor(
                    self._executor, self._db.insert, batch.table, cols, batch.rows
                )
            except SinkUnavailable as e:
                error: BaseException = e
                kind = "unavailable"
                if isinstance(e, SinkTimeout):  # may land later: the retry collapses in FINAL
                    kind = "timeout"
                    self._m.sink_write_timeouts.labels(batch.table).inc()
            except Exception as e:  # noqa: BLE001 - bounded retries, then surfaced
                error, kind = e, "write"
                write_failures += 1
                if write_failures > WRITE_ERROR_RETRIES:
                    log.error(
                        "giving up on %d rows for %s after %d attempts: %s",
                        len(batch.rows), batch.table, write_failures, error,
                    )
                    self._fail(
                        error
                        if isinstance(error, SinkWriteError)
                        else SinkWriteError(f"insert into {batch.table}: {error!r}")
                    )
                    return False
            else:
                self._m.flush_seconds.labels(batch.table).observe(time.perf_counter() - started)
                self._m.rows_written.labels(batch.table).inc(len(batch.rows))
                if attempt:
                    log.warning(
                        "insert of %d rows into %s succeeded after %d retries",
                        len(batch.rows), batch.table, attempt,
                    )
                return True
            attempt += 1
            delay = self._backoff_s(attempt)
            log.warning(
                "insert of %d rows into %s failed (attempt %d, %s): %s; retrying in %.1f s",
                len(batch.rows), batch.table, attempt, kind, error, delay,
            )
            self._m.sink_retries.labels(batch.table, kind).inc()
            self._retrying.add(id(batch))
            self._update_backpressure()
            await asyncio.sleep(delay)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception() or SinkError("write task failed"))

    def _fail(self, error: BaseException) -> None:
        first = self._error is None
        if first:
            self._error = error
        if self._room is not None:
            self._room.set()  # wake blocked submitters so they raise
        if first:
            for listener in list(self._failure_listeners):
                try:
                    listener(error)
                except Exception:
                    log.exception("failure listener %r failed", listener)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise SinkError("the sink is closed")

    async def _drain_callbacks(self) -> None:
        assert self._callback_lock is not None
        async with self._callback_lock:
            while self._error is None:
                sub = self._subs.get(self._next_callback)
                if sub is None or sub.pending > 0:
                    return
                del self._subs[self._next_callback]
                self._next_callback += 1
                if sub.on_durable is None:
                    continue
                try:
                    result = sub.on_durable()
                    if inspect.isawaitable(result):
                        await result
                except Exception as e:
                    log.exception("on_durable callback failed; the sink stops")
                    self._fail(e)

    # -- backpressure --------------------------------------------------------------------
    def _update_stall(self) -> bool:
        age = self.oldest_pending_s()
        self._m.sink_oldest_pending.set(age)
        stalled = age > self._cfg.sink_stall_s
        if stalled == self._stalled:
            return stalled
        self._stalled = stalled
        self._m.sink_stalled.set(1 if stalled else 0)
        if stalled:
            log.warning(
                "ClickHouse has not taken rows handed to the sink %.1f s ago (%d rows "
                "unwritten, %d inserts in flight): not answering? /readyz answers 503 "
                "(sink_stalled) until they are written", age, self._unwritten,
                len(self._tasks),
            )
            self._stalled_at = time.monotonic() - age
        else:
            age = time.monotonic() - self._stalled_at
            log.warning("ClickHouse takes rows again: the sink was stalled for %.1f s", age)
        for listener in list(self._stall_listeners):
            try:
                listener(stalled, age)
            except Exception:
                log.exception("stall listener %r failed", listener)
        return stalled

    def _update_backpressure(self) -> None:
        self._m.sink_buffered_rows.set(self._unwritten)
        stalled = self._update_stall()
        state = bool(self._retrying) or self._unwritten > self._limit_rows or stalled
        if state == self._backpressured:
            return
        self._backpressured = state
        self._m.sink_backpressured.set(1 if state else 0)
        if self._room is not None:
            if state and self._error is None:
                self._room.clear()
            else:
                self._room.set()
        # Buffer-full backpressure is ordinary flow control at full speed: debug only.
        # Failures are logged (as warnings) by the retry loop itself.
        log.debug(
            "sink backpressure %s (%d rows unwritten, %d batches retrying)",
            "on" if state else "off", self._unwritten, len(self._retrying),
        )
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("backpressure listener %r failed", listener)
