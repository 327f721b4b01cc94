"""Queries on ``window_stats``: the rows the window state, the rebuild and the alert engine
start from, and the alert engine's baseline history."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from sinks.read_model import Query, any_of, latest, table
from sinks.sql import check_identifier
from sinks.tables import WINDOW_STATS

_COLUMNS = ", ".join(WINDOW_STATS.column_names)


def latest_window_event(database: str) -> Query:
    """``max(last_event_at)`` over every stored window row (one row)."""
    return Query(f"SELECT max(last_event_at) FROM {table(database, 'window_stats')}", {})


def window_rows_ending_after(database: str, kinds: Collection[str], since_s: int) -> Query:
    """The current rows (readers' view) of window ``kinds`` that end after ``since_s``, in
    the order they were emitted (``last_event_at``, then the key)."""
    src = latest(database, WINDOW_STATS, (), "window_kind IN %(k)s")
    return Query(
        f"SELECT {_COLUMNS} FROM {src} WHERE window_end > toDateTime(%(s)s) "
        "ORDER BY last_event_at, window_start, station_id, event_type, measure, dimension",
        {"k": tuple(kinds), "s": since_s})


def final_window_ends(database: str, stations: Collection[str], since_s: int) -> Query:
    """``(station_id, reports, window_kind, max(window_end))`` over the final (or corrected)
    rows of ``stations`` in ``window_stats`` whose window starts at or after ``since_s``
    (``reports`` 1 for count-report windows): how far each station's closed windows of each
    kind are durably written. A restore starts no later than this
    (:meth:`streams.window_runtime.WindowRuntime._restore`)."""
    return Query(
        "SELECT station_id, event_type = 'count_report' AS reports, window_kind, "
        f"max(window_end) FROM {table(database, 'window_stats')} "
        "WHERE station_id IN %(stations)s AND status IN ('final', 'corrected') "
        "AND window_start >= toDateTime(%(since)s) "
        "GROUP BY station_id, reports, window_kind",
        {"stations": tuple(stations), "since": max(0, since_s)})


def window_rows_since(database: str, stations: Collection[str], since_s: int) -> Query:
    """The current rows (readers' view) of ``stations`` whose window starts at or after
    ``since_s``."""
    src = latest(database, WINDOW_STATS, (),
                 "station_id IN %(stations)s AND window_start >= toDateTime(%(since)s)")
    return Query(
        f"SELECT {_COLUMNS} FROM {src}",
        {"stations": tuple(stations), "since": max(0, since_s)})


def window_rows_between(database: str, lo: int, hi: int, stations: Sequence[str] = ()
                        ) -> Query:
    """The current rows (readers' view) whose window starts in [lo, hi) (of ``stations``;
    all if empty)."""
    where_st = " AND station_id IN %(stations)s" if stations else ""
    params = {"stations": tuple(stations)} if stations else {}
    src = latest(database, WINDOW_STATS, (), "window_start >= toDateTime(%(lo)s) "
                 f"AND window_start < toDateTime(%(hi)s){where_st}")
    return Query(
        f"SELECT {_COLUMNS} FROM {src}",
        params | {"lo": max(0, lo), "hi": hi})


def window_rows_of_keys(database: str,
                        keys: Sequence[tuple[str, int, str, str, str, str]]) -> Query:
    """The current rows (readers' view) of the window keys ``(window_kind, window_start,
    station_id, event_type, measure, dimension)`` (start in epoch seconds): what a
    correction of windows no longer in memory is compared with."""
    cond, params = any_of(
        "window_kind = %(k)s AND window_start = toDateTime(%(t)s) AND station_id = %(s)s "
        "AND event_type = %(e)s AND measure = %(m)s AND dimension = %(d)s",
        [{"k": k, "t": t, "s": s, "e": e, "m": m, "d": d} for k, t, s, e, m, d in keys])
    stations = tuple(sorted({k[2] for k in keys})) or ("",)
    src = latest(database, WINDOW_STATS, (), f"station_id IN %(key_stations)s AND ({cond})")
    return Query(f"SELECT {_COLUMNS} FROM {src}", params | {"key_stations": stations})


BaselineScope = Literal["station", "country", "border", "all"]
_SCOPE_EXPR: dict[str, str] = {"station": "station_id", "country": "country",
                               "border": "border", "all": "'all'"}
BASELINE_FILTER_COLUMNS: dict[str, str] = {
    "event_type": "event_type", "measure": "measure", "dimension": "dimension",
    "stations": "station_id", "countries": "country", "borders": "border"}
"""A baseline rule's filter (by its name in the rules file) → the column it filters."""


def baseline_history(database: str, *, window_kind: str, week_starts: Collection[int],
                     scope: BaselineScope, statistic: str, aggregate: Literal["sum", "max"],
                     filters: Mapping[str, Collection[str]]) -> Query:
    """``(scope_key, window_start, value, rows)`` per scope key and week start: the
    ``aggregate`` of ``statistic`` over the current rows (readers' view) of ``window_kind``
    starting at one of ``week_starts`` that pass ``filters`` (each a
    :data:`BASELINE_FILTER_COLUMNS` name → the values allowed), and the count of all rows
    of that scope and start (``rows`` > 0: the scope was reporting then)."""
    unknown = set(filters) - BASELINE_FILTER_COLUMNS.keys()
    if unknown:
        raise ValueError(f"no baseline filter {sorted(unknown)}")
    params: dict[str, Any] = {"kind": window_kind, "starts": tuple(week_starts)}
    conds = []
    for name, column in BASELINE_FILTER_COLUMNS.items():
        if name in filters:
            params[f"f_{name}"] = tuple(filters[name])
            conds.append(f"{column} IN %(f_{name})s")
    cond = " AND ".join(conds) or "1"
    stat = check_identifier(statistic)
    wanted = tuple(dict.fromkeys(("window_start", stat, "country", "border", "station_id",
                                  *BASELINE_FILTER_COLUMNS.values())))
    src = latest(database, WINDOW_STATS, wanted,
                 "window_kind = %(kind)s AND toUInt32(window_start) IN %(starts)s")
    return Query(
        f"SELECT {_SCOPE_EXPR[scope]} AS scope_key, window_start, "
        f"{aggregate}If(toFloat64({stat}), {cond}) AS v, count() AS n "
        f"FROM {src} GROUP BY scope_key, window_start", params)
