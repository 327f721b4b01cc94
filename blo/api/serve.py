"""Running the API: its own process against a ClickHouse server (``blo api``), or inside the
worker in embedded mode (chDB allows one process per data directory).

Either way an API call waits for ClickHouse at most ``BLO_API_QUERY_TIMEOUT_S``: then it
answers 503 ("ClickHouse is not answering") instead of hanging (:class:`BoundedCalls` here;
``asyncio.wait_for`` around the worker's sink in embedded mode)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from blo.api.app import build_api
from blo.api.deps import ApiContext
from blo.settings import Settings
from schemas.alert_input import ack_record
from sinks.base import Database, Row, SinkTimeout, SinkUnavailable
from streams.windows import window_config

log = logging.getLogger("blo.api")

Producer = Callable[[str, bytes, bytes], Awaitable[Any]]
T = TypeVar("T")

CLICKHOUSE_SLOTS = 6
"""Threads of ``blo api`` that may be inside a ClickHouse call at once (two more serve the
acknowledgements' Kafka produce)."""


class BoundedCalls:
    """Blocking ClickHouse calls for the API, each answered within ``timeout_s``.

    A call runs in a thread of ``executor``; its caller waits at most ``timeout_s`` (for a
    slot and for the answer together), then gets :class:`SinkTimeout`, which the API answers
    with 503. The thread stays blocked until the driver itself gives up (``blo api`` bounds
    the driver's timeouts to the same value), and its slot stays taken until then: threads
    stuck on a silent server never outnumber ``slots``. While ClickHouse is not answering
    (the last call timed out or could not connect) and a call is still out, others answer
    503 at once instead of queueing behind it; the first call after that one ends probes the
    server again, so the API recovers by itself."""

    def __init__(self, executor: ThreadPoolExecutor, slots: int, timeout_s: float) -> None:
        self._executor = executor
        self._timeout = timeout_s
        self._slots: asyncio.Semaphore | None = None
        self._size = slots
        self._out = 0  # calls whose thread has not returned (timed-out ones included)
        self.down = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        slots = self._slots
        if self.down and self._out:
            raise SinkTimeout(f"no answer within {self._timeout:g} s")
        deadline = loop.time() + self._timeout
        try:
            await asyncio.wait_for(slots.acquire(), self._timeout)
        except TimeoutError:
            raise SinkTimeout(f"every connection waits for it ({self._size} calls out for "
                              f"{self._timeout:g} s)") from None
        self._out += 1

        def finished(f: Future[T]) -> None:  # in the thread that ran the call
            ok = not f.cancelled() and f.exception() is None
            with contextlib.suppress(RuntimeError):  # the loop ended: nothing to release
                loop.call_soon_threadsafe(self._release, ok)

        try:
            cf = self._executor.submit(fn, *args)
        except BaseException:
            self._release(False)
            raise
        cf.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(cf, loop=loop),
                                          max(0.0, deadline - loop.time()))
        except TimeoutError:
            self.down = True
            log.warning("ClickHouse did not answer an API call within %g s", self._timeout)
            raise SinkTimeout(f"no answer within {self._timeout:g} s") from None
        except SinkUnavailable as e:  # its text may name the server: not for the caller
            self.down = True
            log.warning("ClickHouse is unavailable to the API: %s", e)
            if isinstance(e, SinkTimeout):
                raise SinkTimeout(f"no answer within {self._timeout:g} s") from None
            raise SinkUnavailable("cannot connect to it") from None

    def _release(self, ok: bool) -> None:
        self._out -= 1
        if ok:
            self.down = False
        assert self._slots is not None
        self._slots.release()


def context(settings: Settings, *, query: Callable[[str, Mapping[str, Any] | None],
                                                   Awaitable[list[Row]]],
            insert: Callable[[str, Sequence[str], Sequence[Row]], Awaitable[None]],
            database: str, produce: Producer) -> ApiContext:
    """An :class:`ApiContext` from settings; ``produce`` sends acknowledgements to the alert
    engine's input topic."""
    topic = settings.kafka.topic_alert_input

    async def send_ack(alert_id: str, who: str, comment: str) -> None:
        await produce(topic, *ack_record(alert_id, who, comment, time.time()))

    async def send_input(key: bytes, value: bytes) -> None:  # mutes (blo/api/routes/alerts)
        await produce(topic, key, value)

    families = window_config(settings.windows).windows
    windows = tuple(w.name for w in families)
    a = settings.api
    return ApiContext(query=query, insert=insert, database=database, windows=windows,
                      send_ack=send_ack, max_range_days=a.max_range_days, max_rows=a.max_rows,
                      audit=a.audit, live_interval_s=a.live_interval_s,
                      send_input=send_input, rules_path=settings.alerts.rules_path(),
                      overlapping=tuple(w.name for w in families if w.kind == "hopping"))


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on host:port. Its access logger audits what the app's guard never
    sees, down to the requests aiohttp's parser refuses (blo.api.audit)."""
    from blo.api.audit import access_log_class, http_logger
    from blo.api.guard import AUDIT_RECORD

    record = app.get(AUDIT_RECORD)
    audited: dict[str, Any] = {} if record is None else {
        "access_log_class": access_log_class(record),
        "access_log": logging.getLogger("blo.api.access")}
    runner = web.AppRunner(app, handle_signals=False, logger=http_logger(),
                           **(audited or {"access_log": None}))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def run_api(settings: Settings, db: Database, writer: Database | None = None) -> int:
    """``blo api``: serve until SIGTERM/SIGINT (then the audit log is flushed).

    ``db`` reads (the read-only user); what the API writes (audit rows, tokens' last use)
    goes to ``writer`` (the audit user, its database the door ``<db>_audit`` of migration
    0006), or to ``db`` when there is none (one user for both)."""
    executor = ThreadPoolExecutor(CLICKHOUSE_SLOTS + 2, thread_name_prefix="blo-api")
    timeout = settings.api.query_timeout_s
    calls = BoundedCalls(executor, CLICKHOUSE_SLOTS, timeout)
    reader = bounded(db, timeout)  # its driver gives up in time too
    out = bounded(writer, timeout) if writer is not None else reader

    async def query(sql: str, params: Mapping[str, Any] | None) -> list[Row]:
        return await calls.run(reader.query, sql, params)

    async def insert(table: str, cols: Sequence[str], rows: Sequence[Row]) -> None:
        await calls.run(out.insert, table, cols, rows)

    async def produce(topic: str, key: bytes, value: bytes) -> None:
        from blo.kafka_io import produce as send

        await asyncio.get_running_loop().run_in_executor(
            executor, send, settings.kafka, topic, [(key, value)])

    async def main() -> None:
        app = build_api(context(settings, query=query, insert=insert, database=db.database,
                                produce=produce))
        runner = await start_site(app, settings.api.host, settings.api.port)
        log.info("query API and dashboard on http://%s:%d/", settings.api.host,
                 settings.api.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()  # flushes the audit log

    try:
        asyncio.run(main())
    finally:
        executor.shutdown(wait=False)
        if reader is not db:
            reader.close()
        if out is not reader and out is not writer:
            out.close()
    return 0


def bounded(db: Database, timeout_s: float) -> Database:
    """``db`` whose driver waits at most ``timeout_s`` on a silent server (a new
    :class:`sinks.clickhouse.ServerDatabase`), or ``db`` itself (chDB does not wait on a
    network)."""
    make = getattr(db, "bounded", None)
    return make(timeout_s) if make is not None else db
