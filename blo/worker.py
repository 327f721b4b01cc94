"""Run the stream worker: wait for the broker, open ClickHouse, check the schema, build the
Faust app, run it.

SIGTERM/SIGINT: Faust stops fetching, the sink flushes (acknowledging what it wrote), the
consumer commits, the process exits 0. A broker that does not answer is waited for, at start
(:mod:`blo.broker_wait`) and while running (:mod:`streams.broker`), never a reason to exit.
Exit codes (docs/deployment.md, "Exit codes"): 0 stopped cleanly (also when stopped while
waiting for the broker), 2 bad configuration or no schema (the CLI), :data:`EXIT_DLQ_GUARD`
the dead-letter guard tripped, :data:`EXIT_FATAL` any other fatal error (a ClickHouse
failure retrying cannot fix, the ingest process died, Faust crashed).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust

from blo.broker_wait import StopWaiting, serve_while_waiting, stop_on_signals, wait_for_topics
from blo.db import open_database, private_dir
from blo.door import Door, key_path, remove_key, write_key
from blo.door import register as register_door
from blo.kafka_io import ensure_pipeline_topics
from blo.metrics import Metrics
from blo.settings import Settings
from sinks.base import Database, Row, SinkTimeout
from sinks.migrations import current_version, migrate
from streams.app import AppParts, BloApp, build_app
from streams.broker import BrokerState, tame_client_logs
from streams.guard import DlqFloodError
from streams.process_messages import ProcessSetup
from streams.worker import Worker

log = logging.getLogger("blo.worker")

EXIT_DLQ_GUARD = 3
"""The dead-letter guard stopped the worker: nearly all input is failing (fix the producers;
restarting alone will trip it again)."""
EXIT_FATAL = 4
"""Any other fatal stop: ClickHouse failed for good, the ingest process died, Faust crashed
(nothing unacknowledged is lost; a restart may be enough)."""

GC_THRESHOLD = (50_000, 20, 100)
"""Young-generation collection every 50,000 allocations instead of CPython's 700."""


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running stream worker.

    Every record allocates a few short-lived tracked objects (Faust event, raw record,
    frontier entry, row tuple, pydantic model); with CPython's default threshold that
    starts a collection every few hundred records, and each older-generation pass walks the
    large long-lived heap (Faust, aiokafka, pydantic's compiled schemas). Once the app is
    built, ``gc.freeze()`` moves everything alive out of the collector's reach, and a
    higher threshold makes the young collections rarer. Reference cycles are still
    collected. Measured in ``bench/`` (docs/performance.md): about +20 % events/s.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


class SchemaNotReady(RuntimeError):
    pass


def prepare_database(settings: Settings, *, auto_migrate: bool) -> Database:
    db = open_database(settings.clickhouse)
    if auto_migrate:
        applied = migrate(db)
        if applied:
            log.info("applied migrations: %s", applied)
    elif current_version(db) == 0:
        raise SchemaNotReady(
            f"ClickHouse database {db.database!r} has no BLO schema: run `blo db migrate` "
            "first (or start the worker with --migrate)"
        )
    return db


def _embedded_parts(settings: Settings, db: Database, key: str) -> AppParts:
    """Embedded mode (chDB: one process per data directory): the worker serves the query
    API and dashboard itself, and the admin door (:mod:`blo.door`, behind ``key``) for
    ``blo query``/``blo tokens``; both read and audit through the worker's own sink."""

    def add(app: BloApp, worker: Worker,
            produce: Callable[[str, bytes, bytes], Awaitable[Any]]) -> None:
        sink = worker.sink
        from blo.api.app import build_api
        from blo.api.serve import context, start_site
        from blo.cli.api import token_operation
        from blo.importer.runs import insert_record

        async def audit(rows: Sequence[Row]) -> None:
            if settings.api.audit:
                await sink.submit({"api_audit": rows})

        register_door(app, Door(db, key, audit, token_operation, insert_record))

        api_timeout = settings.api.query_timeout_s

        async def api_query(sql: str, params: Any) -> list[Any]:
            try:  # the sink retries while ClickHouse is unreachable: the caller may not
                rows: list[Any] = await asyncio.wait_for(
                    sink.query(sql, params, table="api"), api_timeout)
            except TimeoutError:
                raise SinkTimeout(f"no answer within {api_timeout:g} s") from None
            return rows

        async def api_insert(table: str, cols: Any, rows: Any) -> None:
            await sink.submit({table: rows})  # api_audit, api_token_use

        api_ctx = context(settings, query=api_query, insert=api_insert, database=db.database,
                          produce=produce)

        @app.task  # type: ignore[untyped-decorator]
        async def serve_api() -> None:
            where = f"http://{settings.api.host}:{settings.api.port}/"
            try:
                runner = await start_site(build_api(api_ctx), settings.api.host,
                                          settings.api.port)
            except OSError as e:  # the stream goes on without the API
                log.error("cannot serve the query API on %s (%s); set BLO_API_PORT", where, e)
                return
            log.info("query API and dashboard on %s", where)
            worker.api_runner = runner

    return add


def _bulletin_parts(settings: Settings, metrics: Metrics) -> AppParts:
    """The bulletin schedule (:mod:`blo.analytics.bulletin.schedule`): a timer on every
    worker that makes editions only while this worker owns raw partition 0; reads and
    writes through the worker's sink."""

    def add(app: BloApp, worker: Worker,
            produce: Callable[[str, bytes, bytes], Awaitable[Any]]) -> None:
        from blo.analytics.bulletin.schedule import BulletinSchedule

        sink, b = worker.sink, settings.bulletins

        async def read(sql: str, params: Any) -> list[Any]:
            return await sink.query(sql, params, table="bulletin_editions")

        async def write(rows: Sequence[Row]) -> None:
            durable = asyncio.get_running_loop().create_future()

            async def done() -> None:
                if not durable.done():
                    durable.set_result(None)

            await sink.submit({"bulletin_editions": rows}, done)
            await durable

        def is_owner() -> bool:
            consumer = app.raw_consumer  # the raw topic's group member
            return consumer is not None and 0 in consumer.partitions()

        schedule = BulletinSchedule(read=read, write=write, database=worker_database(settings),
                                    months=b.months, metrics=metrics, is_owner=is_owner)

        runs: set[asyncio.Task[int]] = set()

        async def step() -> None:  # the run goes on by itself: the timer never overlaps it
            backend = worker.backend
            if backend.stopping or backend.fatal is not None or schedule.busy():
                return
            task = asyncio.ensure_future(schedule.run())
            runs.add(task)
            task.add_done_callback(runs.discard)

        app.timer(b.interval_s, name="blo: bulletin schedule")(step)

    return add


def worker_database(settings: Settings) -> str:
    return settings.clickhouse.target().database


def _both(*parts: AppParts | None) -> AppParts | None:
    chosen = [p for p in parts if p is not None]
    if not chosen:
        return None

    def add(app: BloApp, worker: Worker,
            produce: Callable[[str, bytes, bytes], Awaitable[Any]]) -> None:
        for p in chosen:
            p(app, worker, produce)

    return add


def run_worker(settings: Settings, *, auto_migrate: bool, loglevel: str = "INFO") -> int:
    k = settings.kafka
    bootstrap = ",".join(k.bootstrap_servers())  # fail fast, naming BLO_KAFKA_BOOTSTRAP
    private_dir(settings.data_dir)
    for name, value in settings.describe().items():
        log.debug("setting %s = %s", name, value)
    w = settings.windows
    metrics = Metrics()
    broker = BrokerState(bootstrap,
                         on_change=lambda up: metrics.kafka_broker_up.set(1 if up else 0))
    tame_client_logs(broker)  # one line per outage, not one per reconnect

    def create_topics(timeout_s: float) -> None:
        ensure_pipeline_topics(k, enriched=settings.ingest.produce_enriched,
                               windows=w.enabled and w.produce,
                               alerts=w.enabled and settings.alerts.enabled,
                               timeout_s=timeout_s)

    try:  # Faust's web server starts with the app: until then, answer /readyz ourselves
        with stop_on_signals(), serve_while_waiting(settings.web.host, settings.web.port,
                                                    broker, metrics):
            wait_for_topics(k, broker, create_topics)
            db = prepare_database(settings, auto_migrate=auto_migrate)
    except StopWaiting as e:
        log.info("stopped (%s) before the worker started", e)
        return 0
    door_key: tuple[Path, str] | None = None
    if db.kind == "chdb":
        door_path = key_path(settings.clickhouse.target())
        door_key = door_path, write_key(door_path, settings.web.port)
        log.info("admin door for blo query/tokens: key in %s (mode 0600)", door_path)
    app = build_app(settings, db, metrics, broker, with_app=_both(
                        None if door_key is None else _embedded_parts(settings, db, door_key[1]),
                        _bulletin_parts(settings, metrics) if settings.bulletins.schedule
                        else None),
                    process_setup=ProcessSetup(open_database=open_database, tune=tune_gc))
    faust_worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                          override_logging=False)
    tune_gc()

    stopping: list[asyncio.Future[Any]] = []

    def on_fatal(exc: BaseException) -> None:
        stopping.append(asyncio.ensure_future(faust_worker.stop()))  # referenced until exit

    app.worker.on_fatal = on_fatal
    code: Any = 0
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as e:
        code = e.code
    finally:
        if door_key is not None:
            door_key_path, key = door_key
            remove_key(door_key_path, key)
        db.close()
    fatal = app.worker.fatal
    if fatal is not None:
        print(f"blo worker stopped: {fatal}", file=sys.stderr)
        return EXIT_DLQ_GUARD if isinstance(fatal, DlqFloodError) else EXIT_FATAL
    if code not in (0, None):  # Faust stopped on an error of its own (logged above)
        reason = getattr(faust_worker, "crash_reason", None) or f"exit status {code}"
        print(f"blo worker stopped: the Faust worker crashed: {reason!r}", file=sys.stderr)
        return EXIT_FATAL
    return 0
