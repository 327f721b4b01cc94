"""The read model's query builders (sinks/read_model): the logic they hold, as text.

The queries themselves run against ClickHouse 18.16 and chDB in the integration tests of
the window restore and rebuild and of the alert restore (tests/integration/streams)."""

from __future__ import annotations

import pytest

from sinks.read_model import any_of
from sinks.read_model import events as event_reads
from sinks.read_model import windows as window_reads
from sinks.sql import render


def test_any_of_numbers_each_copy_of_the_clause() -> None:
    cond, params = any_of("station_id = %(s)s AND n >= %(lo)s",
                          [{"s": "A", "lo": 1}, {"s": "B", "lo": 7}])
    assert cond == ("(station_id = %(w0_s)s AND n >= %(w0_lo)s) OR "
                    "(station_id = %(w1_s)s AND n >= %(w1_lo)s)")
    assert params == {"w0_s": "A", "w0_lo": 1, "w1_s": "B", "w1_lo": 7}
    assert render(cond, params) == "(station_id = 'A' AND n >= 1) OR (station_id = 'B' AND n >= 7)"


def test_any_of_a_placeholder_used_twice_and_extra_values() -> None:
    cond, params = any_of("a = %(x)s OR b = %(x)s", [{"x": "it's", "unused": 1}])
    assert render(cond, params) == r"(a = 'it\'s' OR b = 'it\'s')"
    assert params == {"w0_x": "it's"}


def test_any_of_edges() -> None:
    assert any_of("a = %(x)s", []) == ("0", {})  # nothing matches
    with pytest.raises(KeyError):
        any_of("a = %(x)s AND b = %(y)s", [{"x": 1}])
    with pytest.raises(ValueError, match="placeholder"):
        any_of("a = 1", [{}])


def test_sequence_spans_one_range_per_station_in_station_order() -> None:
    q = event_reads.sequence_spans("blo", {"B": 1000, "A": 50}, reorder_s=100)
    assert render(*q) == (
        "SELECT station_id, min(source_seq), max(source_seq) FROM (SELECT station_id, "
        "source_seq, toUInt32(occurred_at) AS t FROM blo.events WHERE station_id IN "
        "tuple('A', 'B') AND occurred_at >= toDateTime(0) AND occurred_at < toDateTime(1000)) "
        "WHERE (station_id = 'A' AND t >= 0 AND t < 50) OR (station_id = 'B' AND t >= 900 "
        "AND t < 1000) GROUP BY station_id")


def test_sequence_numbers_ranges() -> None:
    q = event_reads.sequence_numbers_final("blo", [("A", 3, 9), ("B", 0, 2)])
    text = render(*q)
    assert "FROM blo.events WHERE station_id IN tuple('A', 'B') GROUP BY" in text
    assert ") WHERE (station_id = 'A' AND source_seq >= 3 AND " \
           "source_seq <= 9) OR (station_id = 'B' AND source_seq >= 0 AND source_seq <= 2) " \
           "ORDER BY station_id, source_seq" in text
    grouped = render(*event_reads.sequence_numbers("blo", [("A", 3, 9)]))
    # the table read with one IN and the overall bounds, the per-station ranges outside it
    assert "min(occurred_at) FROM (SELECT station_id, source_seq, occurred_at FROM " \
           "blo.events WHERE station_id IN tuple('A') AND source_seq >= 3 AND " \
           "source_seq <= 9) WHERE (station_id = 'A'" in grouped
    assert "GROUP BY station_id, source_seq" in grouped


def test_station_filter_only_when_stations_are_given() -> None:
    everyone = event_reads.stored_events_between("blo", -5, 100)
    assert "station_id IN" not in everyone.sql and everyone.params == {"lo": 0, "hi": 100}
    some = event_reads.stored_events_between("blo", 10, 100, ["A"])
    assert "AND station_id IN %(stations)s GROUP BY" in some.sql
    assert some.params["stations"] == ("A",)
    stored = window_reads.window_rows_between("blo", 10, 100, ["A"])
    assert stored.params == {"stations": ("A",), "lo": 10, "hi": 100}
    assert "'' AS payload" in everyone.sql and " payload" not in everyone.sql.replace(
        "AS payload", "")


def test_baseline_history_filters_in_a_fixed_order() -> None:
    q = window_reads.baseline_history(
        "blo", window_kind="1h", week_starts=(10, 20), scope="country",
        statistic="seizure_kg_max", aggregate="max",
        filters={"countries": ("KZ",), "event_type": ("seizure",)})
    assert q.sql.startswith(
        "SELECT country AS scope_key, window_start, maxIf(toFloat64(seizure_kg_max), "
        "event_type IN %(f_event_type)s AND country IN %(f_countries)s) AS v, count() AS n "
        "FROM (SELECT ")
    assert "FROM blo.window_stats WHERE window_kind = %(kind)s AND toUInt32(window_start) " \
           "IN %(starts)s GROUP BY" in q.sql
    assert q.params == {"kind": "1h", "starts": (10, 20), "f_event_type": ("seizure",),
                        "f_countries": ("KZ",)}
    unfiltered = window_reads.baseline_history(
        "blo", window_kind="1h", week_starts=(10,), scope="all", statistic="events",
        aggregate="sum", filters={})
    assert "SELECT 'all' AS scope_key" in unfiltered.sql and "sumIf(toFloat64(events), 1)" in (
        unfiltered.sql)
    with pytest.raises(ValueError, match="no baseline filter"):
        window_reads.baseline_history("blo", window_kind="1h", week_starts=(1,), scope="all",
                                      statistic="events", aggregate="sum",
                                      filters={"colour": ("red",)})


def test_names_become_sql_only_as_identifiers() -> None:
    with pytest.raises(ValueError):
        event_reads.latest_event_per_station("blo; DROP TABLE x")
    with pytest.raises(ValueError):
        window_reads.baseline_history("blo", window_kind="1h", week_starts=(1,), scope="all",
                                      statistic="events) OR (1", aggregate="sum", filters={})


def test_latest_is_the_readers_view_without_final() -> None:
    """argMax of one tuple by the table's version per sorting key (and partition, when the
    partition key reads a column outside the sorting key, as FINAL never collapses two
    partitions); the filter before, only the columns asked, under their own names."""
    from sinks.read_model import latest
    from sinks.tables import ALERTS, EVENTS, STATIONS, WINDOW_STATS

    ev = latest("blo", EVENTS, ("event_type", "station_id", "occurred_at"), "occurred_at > 1")
    # events: the highest revision wins (then the latest copy); a withdrawn key is left out
    assert ev == (
        "(SELECT tupleElement(_latest, 1) AS event_type, station_id, tupleElement(_latest, 2) "
        "AS occurred_at FROM (SELECT station_id, event_id, argMax(tuple(event_type, "
        "occurred_at, voided), tuple(revision, ingested_at)) AS _latest FROM blo.events "
        "WHERE occurred_at > 1 GROUP BY station_id, event_id, toYYYYMM(occurred_at)) "
        "WHERE tupleElement(_latest, 3) = 0)")
    ws = latest("blo", WINDOW_STATS, ("window_start", "events"))
    assert "argMax(events, version) AS _latest" in ws and "_latest AS events" in ws
    assert ws.endswith("GROUP BY window_kind, station_id, event_type, measure, dimension, "
                       "window_start))")  # toYYYYMM(window_start) adds nothing to the key
    assert latest("blo", ALERTS, ("alert_id",)) == (
        "(SELECT alert_id FROM (SELECT alert_id FROM blo.alerts "
        "GROUP BY alert_id, toYYYYMM(fired_at)))")
    assert "FINAL" not in latest("blo", ALERTS)
    with pytest.raises(ValueError, match="no column"):
        latest("blo", ALERTS, ("nope",))
    with pytest.raises(ValueError):
        latest("blo; DROP", STATIONS)
