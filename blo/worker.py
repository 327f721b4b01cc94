"""Run the stream worker: open ClickHouse, check the schema, build the Faust app, run it.

SIGTERM/SIGINT: Faust stops fetching, the sink flushes (acknowledging what it wrote), the
consumer commits, the process exits 0. A fatal error (DLQ flood) exits 3 with its message.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust

from blo.db import open_database
from blo.door import Door, key_path, remove_key, write_key
from blo.door import register as register_door
from blo.kafka_io import ensure_pipeline_topics
from blo.metrics import Metrics
from blo.settings import Settings
from sinks.base import Database, Row
from sinks.migrations import current_version, migrate
from streams.app import build_app

log = logging.getLogger("blo.worker")

EXIT_FATAL = 3

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


def _open_door(app: faust.App, db: Database, settings: Settings) -> tuple[Path, str] | None:
    """Embedded mode: the admin door (:mod:`blo.door`) with a new key; its calls are
    audited in ``api_audit`` through the worker's sink."""
    if db.kind != "chdb":
        return None
    from blo.cli.api import token_operation

    path = key_path(settings.clickhouse.target())
    key = write_key(path)
    sink = app.blo_sink  # type: ignore[attr-defined]

    async def audit(rows: Sequence[Row]) -> None:
        if settings.api.audit:
            await sink.submit({"api_audit": rows})

    register_door(app, Door(db, key, audit, token_operation))
    log.info("admin door for blo query/tokens: key in %s (mode 0600)", path)
    return path, key


def run_worker(settings: Settings, *, auto_migrate: bool, loglevel: str = "INFO") -> int:
    settings.kafka.bootstrap_servers()  # fail fast, naming BLO_KAFKA_BOOTSTRAP
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for name, value in settings.describe().items():
        log.debug("setting %s = %s", name, value)
    w = settings.windows
    ensure_pipeline_topics(settings.kafka, enriched=settings.ingest.produce_enriched,
                           windows=w.enabled and w.produce,
                           alerts=w.enabled and settings.alerts.enabled)
    db = prepare_database(settings, auto_migrate=auto_migrate)
    metrics = Metrics()
    app = build_app(settings, db, metrics)
    door_key = _open_door(app, db, settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                          override_logging=False)
    tune_gc()

    stopping: list[asyncio.Future[Any]] = []

    def on_fatal(exc: BaseException) -> None:
        stopping.append(asyncio.ensure_future(worker.stop()))  # referenced until exit

    app.blo.on_fatal = on_fatal
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    finally:
        if door_key is not None:
            door_key_path, key = door_key
            remove_key(door_key_path, key)
        db.close()
    if app.blo.fatal is not None:
        print(f"blo worker stopped: {app.blo.fatal}", file=sys.stderr)
        return EXIT_FATAL
    return 0
