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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blo.api.params import GROUPS, INTERIOR, STATISTICS, Filters
from blo.api.scope import Scope, Visibility
from blo.event_history import history_queries
from sinks.read_model import latest
from sinks.read_model.events import months_from
from sinks.tables import ALERT_MUTES, ALERTS, EVENTS, WINDOW_STATS
from streams.alerts.mutes import Mute, Places, ordered

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


def filters_sql(f: Filters, params: dict[str, Any], *, drug_column: str = "dimension",
                      station: bool = True) -> list[str]:
    """The conditions of ``f`` (its values bound into ``params``). ``drug_column``: where
    a seizure's drug is (``dimension`` in window rows, ``drug`` in events); ``station``:
    False when the caller narrows the stations itself."""
    conds = []
    if station and f.station:
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
        conds.append(f"event_type = 'seizure' AND {drug_column} = %(f_drug)s")
        params["f_drug"] = f.drug
    return conds


def _base(db: str, window: str, t0: datetime, t1: datetime, stations: tuple[str, ...],
          f: Filters, labels: tuple[str, ...] = ()) -> tuple[str, list[str], dict[str, Any]]:
    params: dict[str, Any] = {"window": window, "t0": int(t0.timestamp()),
                              "t1": int(t1.timestamp()), "stations": stations}
    conds = ["station_id IN %(stations)s", *filters_sql(f, params)]
    if labels:
        conds.append("window_label IN %(labels)s")
        params["labels"] = labels
    return _SRC, conds, params


def stats_sql(db: str, window: str, t0: datetime, t1: datetime, stations: tuple[str, ...],
              f: Filters, group_by: tuple[str, ...], limit: int, labels: tuple[str, ...] = ()
              ) -> tuple[str, dict[str, Any]]:
    """The statistics of the window rows of ``window`` starting in [t0, t1), grouped by
    ``group_by``; with ``labels``, only the windows of those labels (the station-local
    months of a reporting period: [t0, t1) then only prunes)."""
    src, conds, params = _base(db, window, t0, t1, stations, f, labels)
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
                 "resolved_at", "acked", "acked_by", "acked_at", "ack_comment", "messages")
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
                      limit: int, also: Sequence[str] = (),
                      also_params: dict[str, Any] | None = None
                      ) -> tuple[str, dict[str, Any]]:
    """The not yet acknowledged alerts a bulk acknowledgement names (rows as
    :func:`alerts_sql`'s, oldest fired first): ``scope`` matches the scope key, the station,
    or a post of a pair. ``also``: more conditions over the same columns (with
    ``also_params``) — the token's visibility (:func:`visibility_conditions`) and the
    list's filters (:func:`filter_conditions`) — applied before the ``limit``."""
    cols = ", ".join(f"toUInt32({c})" if c in _TIMES else
                     ("toString(alert_id)" if c == "alert_id" else c) for c in ALERT_COLUMNS)
    conds: list[str] = ["acked = 0", *also]
    params: dict[str, Any] = dict(also_params or {})
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


# -- alert lists: exact counts, filters, sorting, grouping, mutes -----------------------------
SEVERITY_RANK = "multiIf(severity = 'critical', 2, severity = 'warning', 1, 0)"
RANKED_SEVERITIES = ("info", "warning", "critical")
"""Severity by rank (``sev_rank`` 0, 1, 2)."""
ALERT_SORTS = {"severity": "mute_ref != '', sev_rank DESC, fired_at DESC, alert_id",
               "time": "fired_at DESC, alert_id"}
"""``sort=`` → ORDER BY: unmuted before muted, then worst first, then newest fired
(default); or newest fired."""
_NO_ID = "-"  # no station or country is called this: keeps IN sets and arrays non-empty


def _id_list(ids: Iterable[str]) -> list[str]:
    return sorted(ids) or [_NO_ID]


@dataclass(frozen=True)
class AlertFilter:
    """What an alert list keeps (None: no condition). ``station``: its own alerts (gaps,
    silence) and the pairs it is in; ``country``: alerts about its stations (pairs with
    one of them), its country roll-up and the borders it is on."""

    state: str | None = None  # firing | resolved
    severities: tuple[str, ...] = ()
    rule: str | None = None
    country: str | None = None
    station: str | None = None
    acked: bool | None = None
    muted: bool | None = None


def visibility_conditions(scope: Scope, v: Visibility, params: dict[str, Any]) -> list[str]:
    """:func:`blo.api.scope.alert_visible` as SQL over ``alerts`` columns ([] for the
    regional scope): station alerts of visible stations, pairs with a visible post, and —
    for country-wide scopes — the roll-ups of their countries and of borders touching
    them."""
    if scope.all:
        return []
    params["v_st"] = tuple(_id_list(v.stations))
    params["v_st_a"] = _id_list(v.stations)
    parts = ["(scope = 'station' AND station_id IN %(v_st)s)",
             ("(scope = 'pair' AND arrayExists(x -> has(%(v_st_a)s, x), "
             "splitByChar('+', scope_key)))")]
    if not scope.agencies:
        params["v_c"] = tuple(_id_list(scope.countries))
        params["v_c_a"] = _id_list(scope.countries)
        parts += ["(scope = 'country' AND scope_key IN %(v_c)s)",
                  ("(scope = 'border' AND arrayExists(c -> has(%(v_c_a)s, c), "
                  "splitByChar('-', scope_key)))")]
    return [f"({' OR '.join(parts)})"]


def filter_conditions(f: AlertFilter, places: Places, params: dict[str, Any]) -> list[str]:
    """The conditions of ``f`` but ``muted`` (a column of the outer query), over ``alerts``
    columns; ``places`` (station → country, border) names a country's stations."""
    conds = []
    if f.state is not None:
        conds.append("state = %(f_state)s")
        params["f_state"] = f.state
    if f.severities:
        conds.append("severity IN %(f_sev)s")
        params["f_sev"] = tuple(f.severities)
    if f.rule is not None:
        conds.append("rule_id = %(f_rule)s")
        params["f_rule"] = f.rule
    if f.acked is not None:
        conds.append(f"acked = {1 if f.acked else 0}")
    if f.station is not None:
        conds.append("(station_id = %(f_station)s "
                     "OR has(splitByChar('+', scope_key), %(f_station)s))")
        params["f_station"] = f.station
    if f.country is not None:
        params["f_country"] = f.country
        own = [s for s, (c, _) in places.items() if c == f.country]
        params["f_c_st"] = tuple(_id_list(own))
        params["f_c_st_a"] = _id_list(own)
        conds.append("((scope = 'station' AND station_id IN %(f_c_st)s) "
                     "OR (scope = 'pair' AND arrayExists(x -> has(%(f_c_st_a)s, x), "
                     "splitByChar('+', scope_key))) "
                     "OR (scope = 'country' AND scope_key = %(f_country)s) "
                     "OR (scope = 'border' AND has(splitByChar('-', scope_key), %(f_country)s)))")
    return conds


def mute_expression(mutes: Sequence[Mute], places: Places, params: dict[str, Any]) -> str:
    """SQL giving the id of *the* active mute of an alert row ('' : none), the mutes in
    :func:`streams.alerts.mutes.ordered` order: :func:`streams.alerts.mutes.matches` over
    ``alerts`` columns."""
    if not mutes:
        return "''"
    branches = []
    for i, m in enumerate(ordered(mutes)):
        conds = []
        if m.rule_id:
            params[f"m{i}_rule"] = m.rule_id
            conds.append(f"rule_id = %(m{i}_rule)s")
        params[f"m{i}_key"] = m.scope_key
        if m.scope == "station":
            conds.append(f"(scope = 'station' AND station_id = %(m{i}_key)s)")
        elif m.scope in ("country", "border"):
            at = 0 if m.scope == "country" else 1
            inside = [s for s, p in places.items() if p[at] == m.scope_key]
            params[f"m{i}_st"] = tuple(_id_list(inside))
            params[f"m{i}_st_a"] = _id_list(inside)
            conds.append(f"((scope = '{m.scope}' AND scope_key = %(m{i}_key)s) "
                         f"OR (scope = 'station' AND station_id IN %(m{i}_st)s) "
                         f"OR (scope = 'pair' AND arrayAll(x -> has(%(m{i}_st_a)s, x), "
                         "splitByChar('+', scope_key))))")
        params[f"m{i}_id"] = m.mute_id
        branches.append(f"{' AND '.join(conds) or '1'}, %(m{i}_id)s")
    return f"multiIf({', '.join(branches)}, '')"


def alert_source(db: str, scope: Scope, v: Visibility | None, f: AlertFilter,
                 mutes: Sequence[Mute], places: Places) -> tuple[str, dict[str, Any]]:
    """A derived table of the current version of every alert ``scope`` sees (``v`` None:
    every alert) that ``f`` keeps, with :data:`ALERT_COLUMNS` and ``mute_ref`` (the id of
    its active mute, '' for none; ``mutes``: the active ones), ``sev_rank`` (0 info … 2
    critical) and ``group_key`` (the station of a station's alert — its gaps too —, else
    the scope key): what :func:`alert_counts_sql`, :func:`alert_page_sql` and
    :func:`alert_groups_sql` read."""
    params: dict[str, Any] = {}
    conds = (visibility_conditions(scope, v, params) if v is not None else []) \
        + filter_conditions(f, places, params)
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    inner = (f"SELECT {', '.join(ALERT_COLUMNS)}, {mute_expression(mutes, places, params)} "
             f"AS mute_ref, {SEVERITY_RANK} AS sev_rank, "
             "if(scope = 'station', station_id, scope_key) AS group_key "
             f"FROM {latest(db, ALERTS, ALERT_COLUMNS)}{where}")
    outer = "" if f.muted is None else (" WHERE mute_ref != ''" if f.muted
                                        else " WHERE mute_ref = ''")
    return f"(SELECT * FROM ({inner}){outer})", params


def alert_counts_sql(source: str) -> str:
    """Counts of every alert of ``source`` by (severity, state, acked, muted): the exact
    figures of an answer (:func:`blo.api.shape.alert_counts`)."""
    return (f"SELECT severity, state, acked, mute_ref != '' AS is_muted, count() "
            f"FROM {source} GROUP BY severity, state, acked, is_muted")


def alert_page_sql(source: str, sort: str, limit: int, offset: int) -> str:
    """One page of ``source``'s alerts (``ALERT_COLUMNS`` as :func:`alerts_sql` reads them,
    then ``mute_ref``), in ``sort`` order (:data:`ALERT_SORTS`)."""
    cols = ", ".join(f"toUInt32({c})" if c in _TIMES else
                     ("toString(alert_id)" if c == "alert_id" else c) for c in ALERT_COLUMNS)
    return (f"SELECT {cols}, mute_ref FROM {source} ORDER BY {ALERT_SORTS[sort]} "
            f"LIMIT {int(offset)}, {int(limit)}")


GROUP_COLUMNS = ("rule_id", "rule_name", "scope", "group_key", "count", "firing", "acked",
                 "muted", "worst", "first_fired_at", "latest_fired_at", "latest_alert_id",
                 "latest_messages")
"""The columns of :func:`alert_groups_sql`."""


def alert_groups_sql(source: str, sort: str, limit: int, offset: int) -> str:
    """One page of ``source``'s groups — one per (rule, group key) — with their count,
    firing, acknowledged and muted counts, worst severity rank, first and latest firing and
    the latest alert's id and ``messages`` column (the rule's names per language); worst
    first then latest (``sort`` ``severity``) or latest
    first (``time``)."""
    order = ("worst DESC, latest DESC" if sort == "severity" else "latest DESC") \
        + ", rule_id, group_key"
    return ("SELECT rule_id, any(rule_name), any(scope), group_key, count(), "
            "sum(state = 'firing'), sum(acked), sum(mute_ref != ''), max(sev_rank) AS worst, "
            "toUInt32(min(fired_at)), toUInt32(max(fired_at)) AS latest, "
            "argMax(toString(alert_id), fired_at), argMax(messages, fired_at) "
            f"FROM {source} "
            f"GROUP BY rule_id, group_key ORDER BY {order} LIMIT {int(offset)}, {int(limit)}")


def alert_group_total_sql(source: str) -> str:
    """How many groups ``source`` has (every page of :func:`alert_groups_sql`)."""
    return f"SELECT uniqExact(rule_id, group_key) FROM {source}"


def alert_station_worst_sql(source: str) -> str:
    """Per station: the worst severity rank of the firing, unmuted alerts of ``source``
    naming it (its own, or a pair it is in): the badges of the live picture."""
    return ("SELECT st, max(sev_rank) FROM (SELECT arrayJoin(if(scope = 'pair', "
            "splitByChar('+', scope_key), [station_id])) AS st, sev_rank "
            f"FROM {source} WHERE state = 'firing' AND mute_ref = '') "
            "WHERE st != '' GROUP BY st")


def mutes_sql(db: str) -> str:
    """The current version of every alert mute (active and expired), in ``alert_mutes``
    column order."""
    return f"SELECT {', '.join(ALERT_MUTES.column_names)} FROM {latest(db, ALERT_MUTES)}"


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
