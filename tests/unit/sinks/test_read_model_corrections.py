"""The correction reads of the read model (sinks/read_model), as text: before the readers'
view collapses the rows of an event, filter only what every row of it shares (station,
id, month partition); everything a correction may change after (docs/corrections.md,
"Collapse first, filter after"). The queries run against ClickHouse 18.16 and chDB in
tests/integration."""

from __future__ import annotations

import re

from sinks.read_model import events as event_reads
from sinks.read_model import latest
from sinks.read_model import windows as window_reads
from sinks.sql import render
from sinks.tables import EVENTS, WINDOW_STATS

MAY = 1714557600  # 2024-05-01T10:00:00Z
GROUP_EVENTS = " GROUP BY station_id, event_id, toYYYYMM(occurred_at))"


def inner_where(sql: str, table: str, group: str) -> str:
    """The pre-collapse condition: between ``FROM <table> WHERE`` and the GROUP BY."""
    head = f"FROM {table} WHERE "
    assert sql.count(head) == 1, sql
    return sql.split(head, 1)[1].split(group, 1)[0]


def identifiers(text: str) -> set[str]:
    bare = re.sub(r"%\([^)]*\)s|'[^']*'", "", text)  # placeholders, literals
    return set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", bare))


def test_events_of_keys_collapses_by_station_and_month_then_filters_the_time() -> None:
    groups = [("A", "crossing", "", "", MAY, MAY + 3600),
              ("A", "count_report", "trucks", "inbound", MAY - 40 * 86400, MAY + 31 * 86400),
              ("B", "seizure", "", "heroin", MAY, MAY + 60)]
    q = event_reads.events_of_keys("blo", groups)
    pre = inner_where(q.sql, "blo.events", GROUP_EVENTS)
    assert pre == (
        "(station_id = %(pre_w0_s)s AND toYYYYMM(occurred_at) >= %(pre_w0_a)s AND "
        "toYYYYMM(occurred_at) <= %(pre_w0_b)s) OR "
        "(station_id = %(pre_w1_s)s AND toYYYYMM(occurred_at) >= %(pre_w1_a)s AND "
        "toYYYYMM(occurred_at) <= %(pre_w1_b)s) OR "
        "(station_id = %(pre_w2_s)s AND toYYYYMM(occurred_at) >= %(pre_w2_a)s AND "
        "toYYYYMM(occurred_at) <= %(pre_w2_b)s)")
    assert "occurred_at >=" not in pre.replace("toYYYYMM(occurred_at) >=", "")
    assert identifiers(pre) == {"station_id", "toYYYYMM", "occurred_at", "AND", "OR"}
    assert {k: v for k, v in q.params.items() if k.startswith("pre_")} == {
        "pre_w0_s": "A", "pre_w0_a": 202403, "pre_w0_b": 202406,
        "pre_w1_s": "A", "pre_w1_a": 202405, "pre_w1_b": 202405,
        "pre_w2_s": "B", "pre_w2_a": 202405, "pre_w2_b": 202405}
    # the readers' view: the highest revision, withdrawn keys out, then the exact filter
    assert "tuple(revision, ingested_at)) AS _latest FROM blo.events WHERE" in q.sql
    after = q.sql.split(GROUP_EVENTS, 1)[1]
    assert after.startswith(" WHERE tupleElement(_latest, 41) = 0) WHERE (station_id = "
                            "%(w0_s)s AND event_type = %(w0_e)s AND measure = %(w0_m)s AND "
                            "if(event_type = 'count_report', dimension, drug) = %(w0_d)s AND "
                            "occurred_at >= toDateTime(%(w0_lo)s) AND occurred_at < "
                            "toDateTime(%(w0_hi)s) AND (event_type != 'count_report' OR "
                            "(period_start >= toDateTime(%(w0_lo)s) AND period_end <= "
                            "toDateTime(%(w0_hi)s))))")
    assert after.endswith(" ORDER BY station_id, occurred_at")
    assert {k: v for k, v in q.params.items() if not k.startswith("pre_")} == {
        f"w{i}_{n}": v for i, (s, e, m, d, lo, hi) in enumerate(groups)
        for n, v in (("s", s), ("e", e), ("m", m), ("d", d), ("lo", lo), ("hi", hi))}
    assert "'' AS payload" in q.sql  # read back without the payload


def test_events_of_keys_month_span_across_a_year_and_one_station_span_per_month_range() -> None:
    dec31 = 1704067200 - 3600  # 2023-12-31T23:00Z
    q = event_reads.events_of_keys("blo", [("A", "crossing", "", "", dec31, dec31 + 7200),
                                           ("A", "seizure", "", "opium", dec31, dec31 + 7200),
                                           ("A", "crossing", "", "", -50, 60)])
    assert {k: v for k, v in q.params.items() if k.startswith("pre_")} == {
        "pre_w0_s": "A", "pre_w0_a": 197001, "pre_w0_b": 197001,
        "pre_w1_s": "A", "pre_w1_a": 202312, "pre_w1_b": 202401}  # the same span once
    assert q.params["w2_lo"] == 0  # never before the epoch


def test_live_rows_of_reads_ids_as_uuids_with_the_payload() -> None:
    ids = ["6f1c2f0e-8d7b-5a3c-9e1d-2b4a6c8e0f13", "7208a34c-af5b-59a9-b06b-3f71cfc234ed"]
    q = event_reads.live_rows_of("blo", ["KZ-KORDAI", "TJ-PYANJ"], ids)
    pre = inner_where(q.sql, "blo.events", GROUP_EVENTS)
    assert pre == ("station_id IN %(stations)s AND event_id IN "
                   "(toUUID(%(id0)s), toUUID(%(id1)s))")
    assert q.params == {"stations": ("KZ-KORDAI", "TJ-PYANJ"), "id0": ids[0], "id1": ids[1]}
    assert "toString(event_id)" not in q.sql
    assert render(*q).count("toUUID('") == 2
    # every column in table order, the payload too; withdrawn keys left out
    assert q.sql.startswith("SELECT * FROM (SELECT event_id, tupleElement(_latest, 1) AS "
                            "event_type, ")
    assert "tupleElement(_latest, 35) AS payload" in q.sql
    assert q.sql.endswith(GROUP_EVENTS + " WHERE tupleElement(_latest, 42) = 0)")
    assert "toUUID('')" in event_reads.live_rows_of("blo", ["A"], []).sql


def test_window_rows_of_keys_filters_only_key_columns_before_collapsing() -> None:
    keys = [("1m", MAY, "A", "crossing", "", ""), ("day", MAY - 36000, "B", "seizure", "",
                                                    "heroin")]
    q = window_reads.window_rows_of_keys("blo", keys)
    group = (" GROUP BY window_kind, station_id, event_type, measure, dimension, "
             "window_start))")
    pre = inner_where(q.sql, "blo.window_stats", group)
    key_columns = {"window_kind", "window_start", "station_id", "event_type", "measure",
                   "dimension"}
    assert set(WINDOW_STATS.storage.order_by) | {"window_start"} == key_columns
    assert identifiers(pre) == key_columns | {"AND", "OR", "IN", "toDateTime"}
    assert pre == (
        "station_id IN %(key_stations)s AND ((window_kind = %(w0_k)s AND window_start = "
        "toDateTime(%(w0_t)s) AND station_id = %(w0_s)s AND event_type = %(w0_e)s AND "
        "measure = %(w0_m)s AND dimension = %(w0_d)s) OR (window_kind = %(w1_k)s AND "
        "window_start = toDateTime(%(w1_t)s) AND station_id = %(w1_s)s AND event_type = "
        "%(w1_e)s AND measure = %(w1_m)s AND dimension = %(w1_d)s))")
    assert q.params["key_stations"] == ("A", "B")
    assert (q.params["w1_k"], q.params["w1_t"], q.params["w1_d"]) == ("day", MAY - 36000,
                                                                      "heroin")
    assert "argMax(tuple(" in q.sql and "), version) AS _latest" in q.sql
    assert q.sql.endswith(group)  # nothing filtered after: every current row of the keys


def test_latest_of_events_orders_by_revision_then_copy_and_drops_voided_after() -> None:
    sql = latest("blo", EVENTS, ("event_id", "station_id", "persons", "voided"),
                 "station_id = 'A'")
    assert sql == (
        "(SELECT event_id, station_id, tupleElement(_latest, 1) AS persons, "
        "tupleElement(_latest, 2) AS voided FROM (SELECT station_id, event_id, "
        "argMax(tuple(persons, voided, voided), tuple(revision, ingested_at)) AS _latest "
        "FROM blo.events WHERE station_id = 'A' GROUP BY station_id, event_id, "
        "toYYYYMM(occurred_at)) WHERE tupleElement(_latest, 3) = 0)")
    assert EVENTS.storage.read_version == ("revision", "ingested_at")
    assert EVENTS.storage.is_deleted == "voided"
    # only key columns asked: still collapsed by the tuple, voided still filtered
    keys_only = latest("blo", EVENTS, ("event_id",))
    assert keys_only == (
        "(SELECT event_id FROM (SELECT station_id, event_id, argMax(tuple(voided), "
        "tuple(revision, ingested_at)) AS _latest FROM blo.events GROUP BY station_id, "
        "event_id, toYYYYMM(occurred_at)) WHERE tupleElement(_latest, 1) = 0)")
