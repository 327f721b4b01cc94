"""Queries on ``events``: what the stream reads back of the events it wrote."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from sinks.read_model import Query, any_of, latest, table
from sinks.sql import check_identifier, render
from sinks.tables import EVENTS

IDS_TABLE = "_blo_lookup_ids"  # the table the ids travel in: one column ``id UUID``
IDS_STRUCTURE = (("id", "UUID"),)


def stored_body_hashes_sql(
    database: str, station_ids: Sequence[str], *, id_as_text: bool = False
) -> str:
    """The id-conflict lookup of :meth:`sinks.base.Database.stored_body_hashes` (both
    engines): ``SELECT event_id, any(body_hash)`` of the ids in :data:`IDS_TABLE` stored
    under one of ``station_ids`` (not empty), one row per id however many physical rows it
    has (a ReplacingMergeTree keeps redelivered copies until a merge).

    The ids never become SQL text. They travel as a one-column table of their own (a
    native-protocol external table on the server, a temporary ``Memory`` table in chDB) and
    the query reads ``event_id IN <that table>``: one query per batch whatever its size. Ids
    written into the text as ``toUUID('…')`` literals cost ClickHouse more to parse than the
    lookup itself, and over ~5,600 of them the text exceeds ``max_query_size``
    (docs/performance.md).

    The answer for an id is its stored state across partitions (:func:`streams.stages.
    conflicts.parse_stored`): the highest revision — of equal revisions the row that is not
    withdrawn (a revision that moved the event leaves a withdrawn copy in the old month) —
    as its bare body hash for an event never corrected, ``<revision>/<voided>/<hash>``
    otherwise. The station filter lets ClickHouse use the primary key
    ``(station_id, event_id)``. ``id_as_text``: the id as ``toString(event_id)`` (cheaper
    for chDB's answer than a UUID to convert)."""
    key = "toString(event_id)" if id_as_text else "event_id"
    return render(
        f"SELECT {key}, argMax(if(revision = 0 AND voided = 0, body_hash, "
        "concat(toString(revision), '/', toString(voided), '/', body_hash)), "
        "tuple(revision, voided = 0, ingested_at)) "
        f"FROM {check_identifier(database)}.events "
        f"WHERE station_id IN %(stations)s AND event_id IN {IDS_TABLE} GROUP BY event_id",
        {"stations": tuple(station_ids)},
    )


STORED_EVENT_COLUMNS = ", ".join("'' AS payload" if c == "payload" else c
                                 for c in EVENTS.column_names)
"""SELECT list reading ``events`` rows back in EVENTS order, without the (large) payload."""

_STORED = tuple(c for c in EVENTS.column_names if c != "payload")


def _stored_latest(database: str, where: str) -> str:
    """The readers' view of ``events`` (:func:`sinks.read_model.latest`) without the payload;
    ``where`` on the key or the month partition (:func:`months_from`): a correction may move
    an event within its month, so ``occurred_at`` itself is filtered after collapsing."""
    return latest(database, EVENTS, _STORED, where)


def _month(t: int) -> int:
    d = datetime.fromtimestamp(max(0, t), UTC)
    return d.year * 100 + d.month


def months_from(lo: int, hi: int | None = None) -> str:
    """A condition on the month partition (``toYYYYMM(occurred_at)``, UTC) of every event in
    [lo, hi) (epoch seconds; from ``lo`` on without ``hi``): safe before the readers' view
    collapses the copies of an event, which all share their partition (a correction that
    moves an event to another month withdraws it from the old one), unlike ``occurred_at``,
    which a correction may change within the month."""
    cond = f"toYYYYMM(occurred_at) >= {_month(lo)}"
    if hi is not None:
        cond += f" AND toYYYYMM(occurred_at) <= {_month(max(lo, hi - 1))}"
    return cond


def live_rows_of(database: str, station_ids: Sequence[str], event_ids: Sequence[str]
                 ) -> Query:
    """The stored rows (readers' view, every column, payload included) of ``event_ids``
    (text) under ``station_ids``: one per month partition the event is live in (normally
    one). What a correction replaces: the ingest step withdraws them and the windows
    recompute what they counted."""
    ids = ", ".join(f"toUUID(%(id{i})s)" for i in range(len(event_ids))) or "toUUID('')"
    # the ids as UUIDs, not toString(event_id): the primary key (station_id, event_id)
    # then narrows the read to the granules holding them, in every month partition
    src = latest(database, EVENTS, (), f"station_id IN %(stations)s AND event_id IN ({ids})")
    return Query(f"SELECT * FROM {src}",
                 {"stations": tuple(station_ids)}
                 | {f"id{i}": str(e) for i, e in enumerate(event_ids)})


# -- the window state (streams/window_runtime.py, streams/window_rebuild.py) --------------

def latest_event_times(database: str, topic: str, partitions: Collection[int]) -> Query:
    """``(station_id, reports, max(occurred_at))`` per station and stream (``reports`` 1 for
    count reports, 0 for live events) of the events read from ``partitions`` of ``topic``."""
    return Query(
        "SELECT station_id, event_type = 'count_report' AS reports, max(occurred_at) "
        f"FROM {table(database, 'events')} WHERE kafka_topic = %(topic)s "
        "AND kafka_partition IN %(parts)s GROUP BY station_id, reports",
        {"topic": topic, "parts": tuple(partitions)})


def earliest_event_times(database: str, topic: str, partitions: Collection[int],
                         since_s: int) -> Query:
    """``(station_id, min(occurred_at))`` per station of the live events (count reports left
    out) read from ``partitions`` of ``topic`` with ``occurred_at >= since_s``: where each
    station's windows begin in that range, so a restore can tell a window kind with no final
    row yet from one whose final rows a crash lost
    (:func:`streams.window_runtime.durable_frontiers`). Every stored copy counts, the bound
    is a lower one."""
    return Query(
        "SELECT station_id, min(occurred_at) "
        f"FROM {table(database, 'events')} WHERE kafka_topic = %(topic)s "
        "AND kafka_partition IN %(parts)s AND event_type != 'count_report' "
        f"AND {months_from(max(0, since_s))} AND occurred_at >= toDateTime(%(since)s) "
        "GROUP BY station_id",
        {"topic": topic, "parts": tuple(partitions), "since": max(0, since_s)})


def stored_events_since(database: str, topic: str, partitions: Collection[int],
                        stations: Collection[str], since_s: int) -> Query:
    """The stored events (readers' view, :data:`STORED_EVENT_COLUMNS`) of ``stations`` read
    from ``partitions`` of ``topic`` with ``occurred_at >= since_s``."""
    src = _stored_latest(database, "station_id IN %(stations)s AND "
                         + months_from(since_s))
    return Query(
        f"SELECT {STORED_EVENT_COLUMNS} FROM {src} "
        "WHERE kafka_topic = %(topic)s AND kafka_partition IN %(parts)s "
        "AND occurred_at >= toDateTime(%(since)s)",
        {"topic": topic, "parts": tuple(partitions), "stations": tuple(stations),
         "since": max(0, since_s)})


def _station_filter(stations: Sequence[str]) -> tuple[str, dict[str, tuple[str, ...]]]:
    if not stations:
        return "", {}
    return " AND station_id IN %(stations)s", {"stations": tuple(stations)}


def station_zones(database: str, t1: int, t2: int, stations: Sequence[str] = ()) -> Query:
    """``DISTINCT station_tz`` of the events in [t1, t2) (of ``stations``; all if empty)."""
    where_st, params = _station_filter(stations)
    return Query(
        f"SELECT DISTINCT station_tz FROM {table(database, 'events')} WHERE occurred_at >= "
        f"toDateTime(%(t1)s) AND occurred_at < toDateTime(%(t2)s){where_st}",
        params | {"t1": t1, "t2": t2})


def stored_events_between(database: str, lo: int, hi: int, stations: Sequence[str] = ()
                          ) -> Query:
    """The stored events (readers' view, :data:`STORED_EVENT_COLUMNS`) in [lo, hi) (of
    ``stations``; all if empty), by station then event time."""
    where_st, params = _station_filter(stations)
    src = _stored_latest(database, months_from(lo, hi) + where_st)
    return Query(
        f"SELECT {STORED_EVENT_COLUMNS} FROM {src} WHERE occurred_at >= toDateTime(%(lo)s) "
        "AND occurred_at < toDateTime(%(hi)s) ORDER BY station_id, occurred_at",
        params | {"lo": max(0, lo), "hi": hi})


def events_of_keys(database: str, groups: Sequence[tuple[str, str, str, str, int, int]]
                   ) -> Query:
    """The stored events (readers' view, :data:`STORED_EVENT_COLUMNS`) of window keys:
    per ``(station, event_type, measure, dimension, lo, hi)`` those of the station with that
    type and key (``dimension`` is the drug of a seizure, the dimension of a count report)
    that occurred in [lo, hi) — a count report only if its whole period is in it. What a
    correction recomputes its windows from (streams/window_runtime.py)."""
    cond, params = any_of(
        "station_id = %(s)s AND event_type = %(e)s AND measure = %(m)s "
        "AND if(event_type = 'count_report', dimension, drug) = %(d)s "
        "AND occurred_at >= toDateTime(%(lo)s) AND occurred_at < toDateTime(%(hi)s) "
        "AND (event_type != 'count_report' OR (period_start >= toDateTime(%(lo)s) "
        "AND period_end <= toDateTime(%(hi)s)))",
        [{"s": s, "e": e, "m": m, "d": d, "lo": max(0, a), "hi": b}
         for s, e, m, d, a, b in groups])
    # before collapsing: each group's station and months only (partition-safe)
    spans = sorted({(s, _month(a), _month(max(a, b - 1))) for s, _, _, _, a, b in groups})
    pre, pre_params = any_of(
        "station_id = %(s)s AND toYYYYMM(occurred_at) >= %(a)s "
        "AND toYYYYMM(occurred_at) <= %(b)s",
        [{"s": s, "a": a, "b": b} for s, a, b in spans])
    pre = pre.replace("%(w", "%(pre_w")
    src = _stored_latest(database, pre)
    return Query(f"SELECT {STORED_EVENT_COLUMNS} FROM {src} WHERE {cond} "
                 "ORDER BY station_id, occurred_at",
                 params | {f"pre_{k}": v for k, v in pre_params.items()})


# -- the alert engine's restore (streams/alert_runtime.py) ---------------------------------

def latest_event_per_station(database: str) -> Query:
    """``(station_id, country, border, max(occurred_at), ingested_at of that event)`` of
    every station with events (the processing time tells an imported latest event)."""
    return Query(
        "SELECT station_id, any(country), any(border), max(occurred_at), "
        f"argMax(ingested_at, occurred_at) FROM {table(database, 'events')} GROUP BY station_id",
        {})


def events_of_types_since(database: str, event_types: Collection[str], since_s: int
                          ) -> Query:
    """``(station_id, event_type, occurred_at, event_id)`` of the stored events (readers'
    view) of ``event_types`` with ``occurred_at >= since_s``, in event-time order."""
    src = latest(database, EVENTS, ("station_id", "event_type", "occurred_at", "event_id"),
                 months_from(since_s))
    return Query(
        f"SELECT station_id, event_type, occurred_at, event_id FROM {src} "
        "WHERE event_type IN %(types)s AND occurred_at >= toDateTime(%(s)s) "
        "ORDER BY occurred_at, event_id",
        {"types": tuple(sorted(event_types)), "s": max(0, since_s)})


# The per-station OR conditions below are applied in an outer query, never to the table
# itself: ClickHouse 18.16 analyses an OR on the table's key condition in time that grows
# with the square of its terms (sequence_spans over 1,000 stations, empty table: 56 s, past
# the read timeout; 300: 2 s). The table is read with one IN and the overall bounds.

def sequence_spans(database: str, until: Mapping[str, int], reorder_s: int) -> Query:
    """``(station_id, min(source_seq), max(source_seq))`` per station of the events with
    ``until[station] - reorder_s <= occurred_at < until[station]``."""
    bounds = [(sid, max(0, t - reorder_s), max(0, t)) for sid, t in sorted(until.items())]
    cond, params = any_of("station_id = %(s)s AND t >= %(a)s AND t < %(b)s",
                          [{"s": sid, "a": a, "b": b} for sid, a, b in bounds])
    return Query(
        "SELECT station_id, min(source_seq), max(source_seq) FROM (SELECT station_id, "
        f"source_seq, toUInt32(occurred_at) AS t FROM {table(database, 'events')} "
        "WHERE station_id IN "
        "%(span_stations)s AND occurred_at >= toDateTime(%(span_a)s) AND occurred_at < "
        f"toDateTime(%(span_b)s)) WHERE {cond} GROUP BY station_id",
        params | {"span_stations": tuple(sid for sid, _, _ in bounds) or ("",),
                  "span_a": min((a for _, a, _ in bounds), default=0),
                  "span_b": max((b for _, _, b in bounds), default=0)})


_SEQ_RANGE = "station_id = %(s)s AND source_seq >= %(lo)s AND source_seq <= %(hi)s"


def sequence_numbers(database: str, spans: Sequence[tuple[str, int, int]]) -> Query:
    """``(station_id, source_seq, min(occurred_at))`` of every stored number of each
    ``(station, lowest, highest)`` span, by station and number."""
    cond, params = any_of(_SEQ_RANGE, [{"s": s, "lo": lo, "hi": hi} for s, lo, hi in spans])
    return Query(
        "SELECT station_id, source_seq, min(occurred_at) FROM (SELECT station_id, "
        f"source_seq, occurred_at FROM {table(database, 'events')} WHERE station_id IN "
        "%(seq_stations)s AND source_seq >= %(seq_lo)s AND source_seq <= %(seq_hi)s) "
        f"WHERE {cond} GROUP BY station_id, source_seq ORDER BY station_id, source_seq",
        params | {"seq_stations": tuple(sorted({s for s, _, _ in spans})) or ("",),
                  "seq_lo": min((lo for _, lo, _ in spans), default=0),
                  "seq_hi": max((hi for _, _, hi in spans), default=0)})


def sequence_numbers_final(database: str, spans: Sequence[tuple[str, int, int]]) -> Query:
    """``(station_id, source_seq, occurred_at)`` of the stored events (readers' view) whose
    number is in one of the ``(station, lowest, highest)`` spans, by station and number."""
    cond, params = any_of(_SEQ_RANGE, [{"s": s, "lo": lo, "hi": hi} for s, lo, hi in spans])
    stations = tuple(sorted({s for s, _, _ in spans})) or ("",)
    src = latest(database, EVENTS, ("station_id", "source_seq", "occurred_at"),
                 "station_id IN %(seq_stations)s")
    return Query(
        f"SELECT station_id, source_seq, occurred_at FROM {src} "
        f"WHERE {cond} ORDER BY station_id, source_seq", params | {"seq_stations": stations})


# -- a revised import (blo/importer/revise.py) ---------------------------------------------

STORED_REPORT_COLUMNS = ("event_id", "station_id", "event_type", "revision", "voided",
                         "occurred_at", "source_seq", "period_start", "period_end", "measure",
                         "station_tz", "payload")
"""What :func:`stored_reports_of` answers per row (ids as text, instants as epoch seconds)."""


def stored_reports_of(database: str, stations: Sequence[str], lo: int, hi: int) -> Query:
    """What ``blo import-csv`` compares a revised file with: per event of ``stations`` (not
    empty) and month partition, the latest row (:func:`sinks.read_model.latest`'s order:
    highest revision, then latest copy) of the events with ``lo <= occurred_at < hi``
    (epoch seconds), count reports and voids only, in :data:`STORED_REPORT_COLUMNS`.

    Unlike the readers' view, withdrawn rows stay in (``voided`` 1): a voided id, or one
    moved out of a month, still holds the highest revision a new one must exceed. Live
    rows are those with ``voided`` 0. The partition and the station filter the physical
    rows; type and time filter the collapsed ones, which a correction may have changed."""
    from dataclasses import replace  # (this section is appended whole to the module)

    spec = replace(EVENTS, storage=replace(EVENTS.storage, is_deleted=""))
    src = latest(database, spec, STORED_REPORT_COLUMNS,
                 "station_id IN %(stations)s AND " + months_from(lo, hi))
    out = ", ".join(
        "toString(event_id)" if c == "event_id"
        else f"toInt64(toUnixTimestamp({c}))" if c in ("occurred_at", "period_start",
                                                       "period_end")
        else c for c in STORED_REPORT_COLUMNS)
    return Query(
        f"SELECT {out} FROM {src} WHERE event_type IN ('count_report', 'void') "
        "AND occurred_at >= toDateTime(%(lo)s) AND occurred_at < toDateTime(%(hi)s)",
        {"stations": tuple(stations), "lo": max(0, lo), "hi": hi})
