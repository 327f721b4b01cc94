"""Where import runs are written and read: the configured ClickHouse, whichever it is.

Server: the CLI's own connection. Embedded chDB: while a worker holds the directory, through
its admin door (``POST /api/imports``, :mod:`blo.door`), else the directory opened directly
— as ``blo tokens`` writes and ``blo dlq list`` reads (:mod:`blo.readers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blo import door
from blo.importer.runs import ImportRun, RejectedRow, insert_record, record_bodies
from blo.readers import QueryError, run_query
from blo.settings import Settings
from sinks.base import SinkError
from sinks.sql import check_identifier, quote_string
from sinks.tables import IMPORT_REJECTIONS, IMPORT_RUNS


class RecordError(Exception):
    """The run cannot be recorded (ClickHouse unreachable, schema not migrated, the door
    refused); the message says why and what to do."""


def _db(settings: Settings) -> str:
    return check_identifier(settings.clickhouse.target().database)


def check_recordable(settings: Settings) -> None:
    """Raise :class:`RecordError` unless the ``import_runs`` table can be reached: checked
    before anything is published, so an import is never published without its record."""
    try:
        run_query(settings, f"SELECT count() FROM {_db(settings)}.{IMPORT_RUNS.name} WHERE 0")
    except QueryError as e:
        raise RecordError(f"cannot record the import run ({e}); is ClickHouse reachable and "
                          "migrated (`blo db migrate`)?") from None


def record_run(settings: Settings, run: ImportRun, rejections: Sequence[RejectedRow]) -> None:
    """Store the run and its rejected rows; :class:`RecordError` if that fails."""
    bodies = [b.model_dump(mode="json") for b in record_bodies(run, rejections)]
    try:
        if settings.clickhouse.target().kind == "chdb":
            sent = 0
            for body in bodies:
                if door.call(settings, "imports", body) is None:
                    break  # no worker holds the directory: open it below
                sent += 1
            if sent == len(bodies):
                return
            bodies = bodies[sent:]
        from blo.db import open_database

        db = open_database(settings.clickhouse)
        try:
            for body in bodies:
                insert_record(db, body)
        finally:
            db.close()
    except (door.DoorError, SinkError, OSError) as e:
        raise RecordError(f"the import run {run.run_id} was not recorded: {e}") from None


RUN_COLUMNS = ("run_id", "started_at", "finished_at", "file_name", "mapping", "outcome",
               "dry_run", "rows_read", "events_published", "rows_rejected",
               "stations_registered")


def list_runs(settings: Settings, limit: int) -> list[list[Any]]:
    """The newest ``limit`` runs (:data:`RUN_COLUMNS`), newest first."""
    return run_query(settings, (
        f"SELECT {', '.join(RUN_COLUMNS)} FROM {_db(settings)}.{IMPORT_RUNS.name} FINAL "
        f"ORDER BY started_at DESC, run_id DESC LIMIT {int(limit)}"))


def show_run(settings: Settings, run_id: str) -> dict[str, Any] | None:
    """Every column of the run, or None when there is no such run."""
    names = IMPORT_RUNS.column_names
    rows = run_query(settings, (
        f"SELECT {', '.join(names)} FROM {_db(settings)}.{IMPORT_RUNS.name} FINAL "
        f"WHERE run_id = {quote_string(run_id)}"))
    return dict(zip(names, rows[0], strict=True)) if rows else None


def run_rejections(settings: Settings, run_id: str, limit: int) -> list[list[Any]]:
    """The run's first ``limit`` rejected rows (line, reason, message) by line."""
    return run_query(settings, (
        f"SELECT line_no, reason, message FROM {_db(settings)}.{IMPORT_REJECTIONS.name} FINAL "
        f"WHERE run_id = {quote_string(run_id)} ORDER BY line_no LIMIT {int(limit)}"))


def rejection_counts(settings: Settings, run_id: str) -> list[list[Any]]:
    """(reason, rows) of the run's rejected rows, most frequent first."""
    return run_query(settings, (
        f"SELECT reason, count() AS n FROM {_db(settings)}.{IMPORT_REJECTIONS.name} FINAL "
        f"WHERE run_id = {quote_string(run_id)} GROUP BY reason ORDER BY n DESC, reason"))
