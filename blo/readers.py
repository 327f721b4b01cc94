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
from sinks.read_model import latest
from sinks.sql import check_identifier, read_only_problem
from sinks.tables import DLQ, EVENTS, WINDOW_STATS


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


def stats_queries(database: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """``blo stats``: (title, SQL, column headers) of each table it prints. Every one reads
    the readers' view (:func:`sinks.read_model.latest`: exact, and its memory grows with the
    rows read, not with the partitions history spreads them over); the hourly figures only
    the latest 12 hours that have windows."""
    db = check_identifier(database)
    by_type = latest(db, EVENTS, ("event_type", "occurred_at"))
    by_station = latest(db, EVENTS, ("station_id", "country", "border"))
    seizures = latest(db, EVENTS, ("event_type", "drug", "quantity_kg"))
    dead = latest(db, DLQ, ("reason",))
    hours = latest(db, WINDOW_STATS, ("window_start", "country", "events", "persons",
                                      "seizure_kg", "status"),
                   "window_kind = '1h' AND window_start IN (SELECT DISTINCT window_start "
                   f"FROM {db}.window_stats WHERE window_kind = '1h' "
                   "ORDER BY window_start DESC LIMIT 12)")
    return [
        ("Events by type (exact)",
         (f"SELECT event_type, count(), min(occurred_at), max(occurred_at) FROM {by_type} "
          "GROUP BY event_type ORDER BY event_type"),
         ("event_type", "events", "first", "last")),
        ("Busiest stations",
         (f"SELECT station_id, country, if(border = '', 'interior', border) AS on_border, "
          f"count() AS n FROM {by_station} "
          "GROUP BY station_id, country, border ORDER BY n DESC, station_id LIMIT 10"),
         ("station", "country", "border", "events")),
        ("Seizures by drug (kg)",
         (f"SELECT drug, count(), round(sum(quantity_kg), 3) FROM {seizures} "
          "WHERE event_type = 'seizure' GROUP BY drug ORDER BY drug"),
         ("drug", "seizures", "kg")),
        ("Dead letters by reason",
         f"SELECT reason, count() FROM {dead} GROUP BY reason ORDER BY reason",
         ("reason", "records")),
        ("Latest hours by country (event-time windows '1h', exact)",
         (f"SELECT window_start, country, sum(events), sum(persons), "
          f"round(sum(seizure_kg), 3), groupUniqArray(status) FROM {hours} "
          "GROUP BY window_start, country ORDER BY window_start DESC, country LIMIT 12"),
         ("hour (UTC)", "country", "events", "persons", "seizure kg", "status")),
    ]
