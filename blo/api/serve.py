"""Running the API: its own process against a ClickHouse server (``blo api``), or inside the
worker in embedded mode (chDB allows one process per data directory)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from blo.api.app import ApiContext, build_api
from blo.settings import Settings
from sinks.base import Database, Row
from streams.alert_input import ack_record

log = logging.getLogger("blo.api")

Producer = Callable[[str, bytes, bytes], Awaitable[Any]]


def context(settings: Settings, *, query: Callable[[str, Mapping[str, Any] | None],
                                                   Awaitable[list[Row]]],
            insert: Callable[[str, Sequence[str], Sequence[Row]], Awaitable[None]],
            database: str, produce: Producer) -> ApiContext:
    """An :class:`ApiContext` from settings; ``produce`` sends acknowledgements to the alert
    engine's input topic."""
    topic = settings.kafka.topic_alert_input

    async def send_ack(alert_id: str, who: str, comment: str) -> None:
        await produce(topic, *ack_record(alert_id, who, comment, time.time()))

    windows = tuple(w.name for w in settings.windows.window_config().windows)
    a = settings.api
    return ApiContext(query=query, insert=insert, database=database, windows=windows,
                      send_ack=send_ack, max_range_days=a.max_range_days, max_rows=a.max_rows,
                      audit=a.audit, live_interval_s=a.live_interval_s)


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on host:port. Its access logger audits what the app's guard never
    sees, down to the requests aiohttp's parser refuses (blo.api.audit)."""
    from blo.api.app import AUDIT_RECORD
    from blo.api.audit import access_log_class, http_logger

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
    executor = ThreadPoolExecutor(8, thread_name_prefix="blo-api")
    out = writer or db

    async def query(sql: str, params: Mapping[str, Any] | None) -> list[Row]:
        return await asyncio.get_running_loop().run_in_executor(executor, db.query, sql, params)

    async def insert(table: str, cols: Sequence[str], rows: Sequence[Row]) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, out.insert, table, cols, rows)

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
    return 0
