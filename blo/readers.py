"""Read queries from the CLI, whichever ClickHouse is configured.

Server: a direct clickhouse-driver connection. Embedded chDB: one process may open the data
directory, so while a worker (or ``blo demo``) runs, queries go through its HTTP endpoint
(``/api/query`` on BLO_WEB_HOST:BLO_WEB_PORT); when none runs, the directory is opened
directly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from blo.settings import Settings
from sinks.base import SinkError
from sinks.sql import is_read_only


class QueryError(SinkError):
    pass


def _via_worker(settings: Settings, sql: str) -> list[list[Any]] | None:
    url = (f"http://{settings.web.host}:{settings.web.port}/api/query?"
           + urllib.parse.urlencode({"sql": sql}))
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            rows: list[list[Any]] = json.loads(resp.read())["rows"]
            return rows
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("error", str(e))
        except ValueError:
            msg = str(e)
        raise QueryError(f"query refused by the worker: {msg}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def run_query(settings: Settings, sql: str) -> list[list[Any]]:
    """One read-only statement (see :func:`sinks.sql.is_read_only`), else :class:`QueryError`."""
    if not is_read_only(sql):
        raise QueryError("only one read-only statement (SELECT/WITH/SHOW/DESCRIBE) on the "
                         "database's own tables is allowed")
    target = settings.clickhouse.target()
    if target.kind == "chdb":
        rows = _via_worker(settings, sql)
        if rows is not None:
            return rows
    from blo.db import open_database

    db = open_database(settings.clickhouse)
    try:
        return [list(r) for r in db.query(sql)]
    finally:
        db.close()
