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
from sinks.sql import check_identifier, quote, read_only_problem
from sinks.tables import DLQ, EVENTS, STATIONS, WINDOW_STATS


class QueryError(SinkError):
    pass


def run_query(settings: Settings, sql: str) -> list[list[Any]]:
    """One statement of the reader's SQL, run in the engine's own read-only mode
    (:meth:`sinks.base.Database.read_only_query`); :class:`QueryError` says why one is
    refused. :func:`sinks.sql.read_only_problem` only gives the early, friendly message."""
    rows, _ = _run(settings, sql, None)
    return rows


def run_query_with_names(settings: Settings, sql: str) -> tuple[list[str], list[list[Any]]]:
    """:func:`run_query`, and the names of the result's columns: the engine's own
    (``DESCRIBE TABLE (<sql>)``, asked the same way and on the same connection, read-only),
    or for a statement it cannot describe (``SHOW``, ``DESCRIBE``, ``EXISTS``) the names
    :func:`fallback_names` gives."""
    rows, described = _run(settings, sql, describe_sql(sql))
    width = len(rows[0]) if rows else len(described or [])
    names = [str(r[0]) for r in described or []]
    if not names or (rows and len(names) != width):
        names = fallback_names(sql, width)
    return names, rows


def _run(settings: Settings, sql: str, then: str | None
         ) -> tuple[list[list[Any]], list[list[Any]] | None]:
    """The rows of ``sql``, and of ``then`` (run after it the same way; None when it is
    refused or fails)."""
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
            if then is None or read_only_problem(then) is not None:
                return rows, None
            try:
                more = door.call(settings, "query", {"sql": then})
            except door.DoorError:
                return rows, None
            return rows, (list(more["rows"]) if more else None)
    from blo.db import open_database

    db = open_database(settings.clickhouse)
    try:
        try:
            rows = [list(r) for r in db.read_only_query(sql)]
        except ReadOnlyRefused as e:
            raise QueryError(str(e)) from None
        if then is None or read_only_problem(then) is not None:
            return rows, None
        try:
            return rows, [list(r) for r in db.read_only_query(then)]
        except SinkError:
            return rows, None
    finally:
        db.close()


def describe_sql(sql: str) -> str:
    """``DESCRIBE TABLE (<sql>)``: the result's column names and types, nothing run. The
    statement goes on lines of its own (a trailing ``--`` comment stays a comment), without
    a trailing ``;``."""
    body = sql.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    return f"DESCRIBE TABLE (\n{body}\n)"


_DESCRIBE_COLUMNS = ("name", "type", "default_type", "default_expression", "comment",
                     "codec_expression", "ttl_expression")


def fallback_names(sql: str, width: int) -> list[str]:
    """Column names of a statement ``DESCRIBE TABLE (…)`` cannot name: what ClickHouse
    calls them for ``SHOW TABLES``/``SHOW DATABASES`` (name), ``SHOW CREATE`` (statement),
    ``EXISTS`` (result) and ``DESCRIBE``; ``c1``, ``c2``, … otherwise."""
    words = sql.split(None, 2)
    first = words[0].upper() if words else ""
    second = words[1].upper() if len(words) > 1 else ""
    known: tuple[str, ...] = ()
    if first == "SHOW":
        known = ("statement",) if second == "CREATE" else ("name",)
    elif first == "EXISTS":
        known = ("result",)
    elif first in ("DESCRIBE", "DESC"):
        known = _DESCRIBE_COLUMNS
    return [known[i] if i < len(known) else f"c{i + 1}" for i in range(width)]


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
         # the statuses of a country's windows of the hour, as text: an Array would print
         # as ['provisional']
         (f"SELECT window_start, country, sum(events), sum(persons), "
          "round(sum(seizure_kg), 3), arrayStringConcat(arraySort(groupUniqArray(status)), "
          f"', ') FROM {hours} "
          "GROUP BY window_start, country ORDER BY window_start DESC, country LIMIT 12"),
         ("hour (UTC)", "country", "events", "persons", "seizure kg", "status")),
    ]


STATION_LIST_COLUMNS = ("station_id", "name", "country", "agency", "crossing_point",
                        "neighbour_country", "border", "paired_blo", "lat", "lon", "tz",
                        "coord_source", "coord_approximate", "active", "valid_from")
"""The columns of ``blo stations list`` (the registry record's fields and its ``border``)."""


def stations_sql(database: str, country: str | None = None) -> str:
    """``blo stations list``: of each station in the ``stations`` table (readers' view:
    per station and ``valid_from``, the latest row the worker wrote from the registry
    topic), the record in force now — the latest ``valid_from`` not in the future; for a
    station whose every record starts later, the first of them — in
    :data:`STATION_LIST_COLUMNS` order, by country and station; only ``country``'s when
    given."""
    db = check_identifier(database)
    rest = [c for c in STATION_LIST_COLUMNS if c != "station_id"]
    view = latest(db, STATIONS, STATION_LIST_COLUMNS)
    in_force = ("tuple(valid_from <= now(), "
                "toInt64(toUInt32(valid_from)) * if(valid_from <= now(), 1, -1))")
    cols = ", ".join(f"tupleElement(_entry, {i}) AS {c}" for i, c in enumerate(rest, 1))
    where = f" WHERE country = {quote(country)}" if country else ""
    return (f"SELECT station_id, {cols} FROM (SELECT station_id, "
            f"argMax(tuple({', '.join(rest)}), {in_force}) AS _entry FROM {view} "
            f"GROUP BY station_id){where} ORDER BY country, station_id")
