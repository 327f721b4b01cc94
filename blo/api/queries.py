"""The API's reads: SQL text built from fixed pieces, every value a bound parameter. Pure.

Each function returns ``(sql, params)`` for :meth:`sinks.base.Database.query`. Window rows
are read as the readers' view of ``window_stats`` (:func:`sinks.read_model.latest`: the
latest version of every key, what ``FINAL`` returns — provisional rows of open windows,
final and corrected ones of closed windows — with only the columns the query uses)
restricted to the visible stations *before* anything is summed, so every roll-up is
computed from visible rows only.

No aggregate is ever aliased to a name that is also a column of the rows it reads
(``any(country) AS country``): ClickHouse 18.16 resolves such an alias before the column, so a
``WHERE country = …`` beside it becomes "aggregate function found in WHERE" (Code 184).
Statistics are read by position; the few aliases used are names no table has.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from blo.api.params import GROUPS, INTERIOR, STATISTICS, Filters
from blo.event_history import history_queries
from sinks.read_model import latest
from sinks.read_model.events import months_from
from sinks.tables import ALERTS, EVENTS, WINDOW_STATS

_STATS = ", ".join(STATISTICS.values())  # read by position: no alias to shadow a column


_SRC = "{window_rows}"  # where a query reads window rows: _with_source puts them there


def _window_source(db: str, sql: str) -> str:
    """The readers' view of the window rows of one kind starting in [t0, t1), with the
    columns ``sql`` names."""
    used = tuple(c for c in WINDOW_STATS.column_names if re.search(rf"\b{c}\b", sql))
    return latest(db, WINDOW_STATS, used, "window_kind = %(window)s "
                  "AND window_start >= toDateTime(%(t0)s) AND window_start < toDateTime(%(t1)s)")


def _with_source(db: str, sql: str) -> str:
    return sql.replace(_SRC, _window_source(db, sql))


def _filters(f: Filters, params: dict[str, Any]) -> list[str]:
    conds = []
    if f.station:
        conds.append("station_id = %(f_station)s")
        params["f_station"] = f.station
    if f.country:
        conds.append("country = %(f_country)s")
        params["f_country"] = f.country
    if f.border:
        conds.append("border = %(f_border)s")
        params["f_border"] = "" if f.border == INTERIOR else f.border
    if f.event_type:
        conds.append("event_type = %(f_event_type)s")
        params["f_event_type"] = f.event_type
    if f.drug:
        conds.append("event_type = 'seizure' AND dimension = %(f_drug)s")
        params["f_drug"] = f.drug
    return conds


def _base(db: str, window: str, t0: datetime, t1: datetime, stations: tuple[str, ...],
          f: Filters) -> tuple[str, list[str], dict[str, Any]]:
    params: dict[str, Any] = {"window": window, "t0": int(t0.timestamp()),
                              "t1": int(t1.timestamp()), "stations": stations}
    conds = ["station_id IN %(stations)s", *_filters(f, params)]
    return _SRC, conds, params


def stats_sql(db: str, window: str, t0: datetime, t1: datetime, stations: tuple[str, ...],
              f: Filters, group_by: tuple[str, ...], limit: int) -> tuple[str, dict[str, Any]]:
    src, conds, params = _base(db, window, t0, t1, stations, f)
    cols = [f"{GROUPS[g]} AS {g}" for g in group_by]
    keys = ", ".join(group_by)
    select = ", ".join([*cols, _STATS])
    group = f" GROUP BY {keys} ORDER BY {keys}" if group_by else ""
    sql = f"SELECT {select} FROM {src} WHERE {' AND '.join(conds)}{group} LIMIT {int(limit)}"
    return _with_source(db, sql), params


def top_sql(db: str, window: str, t0: datetime, t1: datetime, stations: tuple[str, ...],
            f: Filters, stat: str, n: int) -> tuple[str, dict[str, Any]]:
    src, conds, params = _base(db, window, t0, t1, stations, f)
    sql = (f"SELECT station_id, any(country), {STATISTICS[stat]} AS stat_value "
           f"FROM {src} WHERE {' AND '.join(conds)} GROUP BY station_id "
           f"ORDER BY stat_value DESC, station_id LIMIT {int(n)}")
    return _with_source(db, sql), params


def series_sql(db: str, window: str, t0: datetime, t1: datetime, stations: tuple[str, ...],
               f: Filters, stat: str, limit: int) -> tuple[str, dict[str, Any]]:
    src, conds, params = _base(db, window, t0, t1, stations, f)
    sql = (f"SELECT toUInt32(window_start) AS t, any(window_label), "
           f"{STATISTICS[stat]} FROM {src} WHERE {' AND '.join(conds)} "
           f"GROUP BY t ORDER BY t LIMIT {int(limit)}")
    return _with_source(db, sql), params


def stations_sql(db: str) -> str:
    """The registry's latest record of every station (the map's points, the scopes)."""
    return (f"SELECT station_id, argMax(name, valid_from), argMax(country, valid_from), "
            "argMax(agency, valid_from), argMax(border, valid_from), "
            "argMax(paired_blo, valid_from), argMax(crossing_point, valid_from), "
            "argMax(lat, valid_from), argMax(lon, valid_from), argMax(tz, valid_from), "
            f"argMax(active, valid_from) FROM {db}.stations FINAL GROUP BY station_id "
            "ORDER BY station_id")


def health_sql(db: str, stations: tuple[str, ...], now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Per visible station: last event seen, last ingested and the number of events of the
    last 30 days — the readers' view of ``events`` (latest revision, voided events left
    out: a corrected event is one event, a voided one none), filtered on station and month
    before collapsing, on ``occurred_at`` after — then late events and dead letters of the
    last 24 hours."""
    t = int(now.timestamp())
    p = {"stations": stations, "d30": t - 30 * 86400, "d1": t - 86400}
    events = latest(db, EVENTS, ("station_id", "occurred_at", "ingested_at"),
                    "station_id IN %(stations)s AND " + months_from(t - 30 * 86400))
    return [
        ((f"SELECT station_id, toUInt32(max(occurred_at)), toUInt32(max(ingested_at)), "
          f"count() FROM {events} WHERE occurred_at >= toDateTime(%(d30)s) "
          "GROUP BY station_id"), p),
        ((f"SELECT station_id, count() FROM {db}.late_events WHERE station_id IN %(stations)s "
         "AND recorded_at >= toDateTime(%(d1)s) GROUP BY station_id"), p),
        ((f"SELECT station_id, count() FROM {db}.dlq WHERE station_id IN %(stations)s "
         "AND failed_at >= toDateTime(%(d1)s) GROUP BY station_id"), p),
    ]


ALERT_COLUMNS = ("alert_id", "version", "rule_id", "rule_name", "kind", "severity", "state",
                 "scope", "scope_key", "station_id", "window_kind", "window_start",
                 "window_end", "value", "threshold", "provisional", "message", "fired_at",
                 "resolved_at", "acked", "acked_by", "acked_at", "ack_comment")
_TIMES = {"window_start", "window_end", "fired_at", "resolved_at", "acked_at"}


def alerts_sql(db: str, open_only: bool, limit: int, alert_id: str | None = None
               ) -> tuple[str, dict[str, Any]]:
    cols = ", ".join(f"toUInt32({c})" if c in _TIMES else
                     ("toString(alert_id)" if c == "alert_id" else c) for c in ALERT_COLUMNS)
    conds, params = [], {}
    if open_only:
        conds.append("state = 'firing'")
    if alert_id is not None:
        conds.append("alert_id = toUUID(%(id)s)")
        params["id"] = alert_id
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    src = latest(db, ALERTS, ALERT_COLUMNS)
    sql = (f"SELECT {cols} FROM {src}{where} "
           f"ORDER BY fired_at DESC, alert_id LIMIT {int(limit)}")
    return sql, params


def alerts_to_ack_sql(db: str, *, rule: str | None, scope: str | None,
                      since: datetime | None, until: datetime | None, open_only: bool,
                      limit: int) -> tuple[str, dict[str, Any]]:
    """The not yet acknowledged alerts a bulk acknowledgement names (rows as
    :func:`alerts_sql`'s, oldest fired first): ``scope`` matches the scope key, the station,
    or a post of a pair."""
    cols = ", ".join(f"toUInt32({c})" if c in _TIMES else
                     ("toString(alert_id)" if c == "alert_id" else c) for c in ALERT_COLUMNS)
    conds: list[str] = ["acked = 0"]
    params: dict[str, Any] = {}
    if open_only:
        conds.append("state = 'firing'")
    if rule is not None:
        conds.append("rule_id = %(rule)s")
        params["rule"] = rule
    if scope is not None:
        conds.append("(scope_key = %(scope)s OR station_id = %(scope)s "
                     "OR has(splitByChar('+', scope_key), %(scope)s))")
        params["scope"] = scope
    if since is not None:
        conds.append("fired_at >= toDateTime(%(since)s)")
        params["since"] = int(since.timestamp())
    if until is not None:
        conds.append("fired_at < toDateTime(%(until)s)")
        params["until"] = int(until.timestamp())
    sql = (f"SELECT {cols} FROM {latest(db, ALERTS)} WHERE {' AND '.join(conds)} "
           f"ORDER BY fired_at, alert_id LIMIT {int(limit)}")
    return sql, params


def live_sql(db: str, window: str, stations: tuple[str, ...], now: datetime
             ) -> list[tuple[str, dict[str, Any]]]:
    """The dashboard's snapshot: per station events of the last hour and latest event;
    the last hour's totals per window start."""
    t = int(now.timestamp())
    p = {"window": window, "t0": t - 3600, "t1": t + 3600, "stations": stations}
    return [
        (_with_source(db, f"SELECT station_id, sum(events), toUInt32(max(last_event_at)) "
                          f"FROM {_SRC} WHERE station_id IN %(stations)s GROUP BY station_id"), p),
        (_with_source(db, f"SELECT toUInt32(window_start) AS t, sum(events) FROM {_SRC} "
                          "WHERE station_id IN %(stations)s GROUP BY t ORDER BY t"), p),
    ]


def event_history_sql(db: str, event_id: str, stations: tuple[str, ...]
                      ) -> list[tuple[str, dict[str, Any]]]:
    """The history of ``event_id`` among ``stations`` (the visible ones: an event of
    another station is not found, exactly as an unknown one): its revisions in
    ``event_revisions``, then its live row in ``events`` (read only when there are no
    revisions). Rows as :func:`blo.event_history.histories` takes them."""
    revisions, live = history_queries(db, event_id, stations)
    return [(revisions.sql, revisions.params), (live.sql, live.params)]


# -- the live picture: the feed and the post page -------------------------------------------
FEED_COLUMNS = ("event_id", "station_id", "event_type", "occurred_at", "ingested_at", "drug",
                "quantity_kg", "persons", "arrests")
"""What the feed reads of ``events`` (no payload: the details are a second, small read)."""


def feed_sql(db: str, stations: tuple[str, ...], lo: datetime, hi: datetime, limit: int,
             event_types: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """The newest ``limit`` events of ``event_types`` of ``stations`` (the visible ones)
    that occurred in ``[lo, hi]``: the readers' view of ``events`` (latest revision, voided
    events left out), restricted to the stations and the month partitions of the range
    before collapsing, to the types and the range after (a correction may change both).
    Rows: event id (text), station, type, occurred_at and ingested_at (epoch s), drug, kg
    (0 when none), persons, arrests."""
    t0, t1 = int(lo.timestamp()), int(hi.timestamp())
    src = latest(db, EVENTS, FEED_COLUMNS,
                 "station_id IN %(stations)s AND " + months_from(t0, t1 + 1))
    sql = (f"SELECT toString(event_id), station_id, event_type, toUInt32(occurred_at), "
           "toUInt32(ingested_at), drug, ifNull(quantity_kg, 0), ifNull(persons, 0), "
           f"ifNull(arrests, 0) FROM {src} WHERE event_type IN %(types)s "
           "AND occurred_at >= toDateTime(%(lo)s) AND occurred_at <= toDateTime(%(hi)s) "
           f"ORDER BY occurred_at DESC, event_id LIMIT {int(limit)}")
    return sql, {"stations": stations, "types": event_types, "lo": t0, "hi": t1}


def feed_details_sql(db: str, stations: tuple[str, ...], event_ids: tuple[str, ...],
                     lo: datetime, hi: datetime) -> tuple[str, dict[str, Any]]:
    """The stored payload (latest revision) of a few events of the feed (incidents and
    detentions: their type, impact, offence live only there), by id — a filter on the key,
    safe before collapsing. Rows: event id (text), payload."""
    src = latest(db, EVENTS, ("event_id", "station_id", "payload"),
                 "station_id IN %(stations)s AND toString(event_id) IN %(ids)s AND "
                 + months_from(int(lo.timestamp()), int(hi.timestamp()) + 1))
    return (f"SELECT toString(event_id), payload FROM {src}",
            {"stations": stations, "ids": event_ids or ("",)})


def post_series_sql(db: str, window: str, t0: datetime, t1: datetime, station: str,
                    limit: int) -> tuple[str, dict[str, Any]]:
    """One post's window rows of kind ``window`` starting in ``[t0, t1)``, summed per window
    start and event type. Rows: window start (epoch s), event type, events, seizure kg."""
    src, conds, params = _base(db, window, t0, t1, (station,), Filters.model_validate({}))
    sql = (f"SELECT toUInt32(window_start) AS t, event_type, sum(events), sum(seizure_kg) "
           f"FROM {src} WHERE {' AND '.join(conds)} GROUP BY t, event_type "
           f"ORDER BY t, event_type LIMIT {int(limit)}")
    return _with_source(db, sql), params
