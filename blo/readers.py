"""Read queries from the CLI, whichever ClickHouse is configured.

Server: a direct clickhouse-driver connection. Embedded chDB: one process may open the data
directory, so while a worker (or ``blo demo``) runs, queries go through its HTTP endpoint
(its admin door, :mod:`blo.door`, with the key only the worker's OS user can read); when
none runs, the directory is opened directly. Either way the statement runs in the engine's
read-only mode.
"""

from __future__ import annotations

from typing import Any

from blo import door
from blo.settings import Settings
from sinks.base import ReadOnlyRefused, SinkError
from sinks.sql import read_only_problem


class QueryError(SinkError):
    pass


def run_query(settings: Settings, sql: str) -> list[list[Any]]:
    """One statement of the reader's SQL, run in the engine's own read-only mode
    (:meth:`sinks.base.Database.read_only_query`); :class:`QueryError` says why one is
    refused. :func:`sinks.sql.read_only_problem` only gives the early, friendly message."""
    problem = read_only_problem(sql)
    if problem is not None:
        raise QueryError(f"not run: {problem}")
    target = settings.clickhouse.target()
    if target.kind == "chdb":
        try:
            answer = door.call(settings, "query", {"sql": sql})
        except door.DoorError as e:
            raise QueryError(f"query refused by the worker: {e}") from None
        if answer is not None:
            rows: list[list[Any]] = answer["rows"]
            return rows
    from blo.db import open_database

    db = open_database(settings.clickhouse)
    try:
        return [list(r) for r in db.read_only_query(sql)]
    except ReadOnlyRefused as e:
        raise QueryError(str(e)) from None
    finally:
        db.close()
