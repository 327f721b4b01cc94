"""The sink's retries: :class:`Retrier` runs a write or a read in a thread until it works.

* :class:`SinkUnavailable` (ClickHouse unreachable, or :class:`SinkTimeout`: it took the
  connection and said nothing) is retried **forever**, waiting ``sink_retry_initial_s``
  doubling to ``sink_retry_max_s`` (``blo.backoff``), a warning and
  ``blo_sink_retries_total{table, error}`` per retry. A timed-out insert may still land
  once the server wakes, so its retry can store the rows twice — harmless, as every table
  the sink writes is a ReplacingMergeTree keyed by the row's identity and read through
  ``FINAL``.
* Any other write error is retried :data:`WRITE_ERROR_RETRIES` times, then raised as
  :class:`SinkWriteError`; any other read error is raised at once.
* A call stops retrying once the sink has stopped (``stopped()`` returns its error).

While a call is between failed attempts it counts as *retrying*; a failing read also
counts towards the sink's stall age from when it started (:meth:`oldest_failing_read`).
``on_change()`` is called whenever that may have changed (the sink recomputes its
backpressure).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from blo.backoff import delay_s
from blo.metrics import Metrics
from blo.settings import BatchSettings
from sinks.base import SinkTimeout, SinkUnavailable, SinkWriteError
from sinks.batcher import Batch

log = logging.getLogger("sinks.batching")  # the sink's one logger, whichever part speaks

WRITE_ERROR_RETRIES = 3

T = TypeVar("T")


class Retrier:
    """Writes (in ``executor``, at most as many at once as its threads) and reads (in the
    loop's default executor, so they do not queue behind inserts) with retries; see the
    module docstring."""

    def __init__(
        self,
        batch: BatchSettings,
        metrics: Metrics,
        executor: Executor,
        *,
        stopped: Callable[[], BaseException | None],
        on_change: Callable[[], None],
    ) -> None:
        self._first_s = batch.sink_retry_initial_s
        self._max_s = batch.sink_retry_max_s
        self._m = metrics
        self._executor = executor
        self._stopped = stopped
        self._on_change = on_change
        self._retrying: set[int] = set()  # id() of calls between failed attempts
        self._failing_reads: dict[int, float] = {}  # id() of a failing read → its start

    @property
    def retrying(self) -> int:
        """Calls between two failed attempts."""
        return len(self._retrying)

    def oldest_failing_read(self) -> float | None:
        """``time.monotonic()`` when the oldest read now failing started."""
        return min(self._failing_reads.values(), default=None)

    def _backoff_s(self, attempt: int) -> float:
        return delay_s(attempt, self._first_s, self._max_s)

    async def write(self, batch: Batch, insert: Callable[[], None]) -> bool:
        """Run ``insert`` (which writes ``batch``) until it works: ``True``; ``False`` if
        the sink stopped meanwhile. Raises :class:`SinkWriteError` after
        :data:`WRITE_ERROR_RETRIES` retries of an error other than unavailability."""
        loop = asyncio.get_running_loop()
        attempt = write_failures = 0
        try:
            while True:
                if self._stopped() is not None:
                    return False
                started = time.perf_counter()
                try:
                    await loop.run_in_executor(self._executor, insert)
                except SinkUnavailable as e:
                    error: BaseException = e
                    kind = "unavailable"
                    if isinstance(e, SinkTimeout):  # may land later: the retry collapses in FINAL
                        kind = "timeout"
                        self._m.sink_write_timeouts.labels(batch.table).inc()
                except Exception as e:
                    error, kind = e, "write"
                    write_failures += 1
                    if write_failures > WRITE_ERROR_RETRIES:
                        log.error(
                            "giving up on %d rows for %s after %d attempts: %s",
                            len(batch.rows), batch.table, write_failures, error,
                        )
                        if isinstance(error, SinkWriteError):
                            raise
                        raise SinkWriteError(f"insert into {batch.table}: {error!r}") from e
                else:
                    self._m.flush_seconds.labels(batch.table).observe(
                        time.perf_counter() - started)
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
                self._on_change()
                await asyncio.sleep(delay)
        finally:
            self._retrying.discard(id(batch))  # the sink recomputes its backpressure next

    async def read(self, call: Callable[[], T], what: str, table: str) -> T:
        """Run ``call`` until it answers; :class:`SinkUnavailable` is retried forever, other
        errors and the sink's own stop are raised. ``what`` and ``table`` name it in the
        warnings and the retry counter."""
        loop = asyncio.get_running_loop()
        token = object()
        attempt = 0
        started = time.monotonic()
        try:
            while True:
                error = self._stopped()
                if error is not None:
                    raise error
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
                    self._on_change()
                    await asyncio.sleep(delay)
        finally:
            self._failing_reads.pop(id(token), None)
            if id(token) in self._retrying:
                self._retrying.discard(id(token))
                self._on_change()
