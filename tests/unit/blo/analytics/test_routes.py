"""Route flows: aggregation per route and drug, station-local months, country edges, and
the SQL's shape (the readers' view, bound values only)."""

from __future__ import annotations

from datetime import UTC, datetime

from blo.analytics.routes import (
    ROUTE_COLUMNS,
    CountryEdge,
    RouteFlow,
    country_edges,
    flows_from_rows,
    routes_sql,
)


def _t(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# (station, tz, occurred_at, drug, kg, producing, departure, transit, destination)
ROWS = [
    ("TJ-PYANJ", "Asia/Dushanbe", _t("2026-10-05T10:00"), "heroin", 12.5, "AF", "AF",
     '["TJ","UZ"]', "RU"),
    ("TJ-PYANJ", "Asia/Dushanbe", _t("2026-10-06T10:00"), "heroin", 7.5, "AF", "AF",
     '["TJ","UZ"]', "RU"),
    ("KZ-KORDAI", "Asia/Almaty", _t("2026-10-07T10:00"), "heroin", 3.0, "AF", "AF",
     '["TJ","UZ"]', "RU"),  # the same route at another post: one flow
    ("KZ-KORDAI", "Asia/Almaty", _t("2026-10-07T11:00"), "hashish", 30.0, "", "KG", "[]",
     ""),  # unknown producing and destination countries
    ("KZ-KORDAI", "Asia/Almaty", _t("2026-10-08T11:00"), "tablets_other", 0, "", "", "", ""),
    # 2026-10-31 20:00 UTC is November 1st in Almaty (UTC+5), still October in UTC
    ("KZ-KORDAI", "Asia/Almaty", _t("2026-10-31T20:00"), "heroin", 100.0, "AF", "", '[]',
     "KZ"),
]


def test_columns_are_what_a_row_holds() -> None:
    assert len(ROUTE_COLUMNS) == len(ROWS[0])


def test_flows_sum_kg_and_count_cases_per_route_and_drug() -> None:
    flows = flows_from_rows(ROWS)
    assert flows == [
        RouteFlow("AF", "", (), "KZ", "heroin", 100.0, 1),
        RouteFlow("", "KG", (), "", "hashish", 30.0, 1),
        RouteFlow("AF", "AF", ("TJ", "UZ"), "RU", "heroin", 23.0, 3),
        RouteFlow("", "", (), "", "tablets_other", 0.0, 1),
    ]
    assert sum(f.cases for f in flows) == len(ROWS)


def test_months_are_the_posts_local_months() -> None:
    october = flows_from_rows(ROWS, ("2026-10",))
    assert [f.kg for f in october] == [30.0, 23.0, 0.0]  # the 100 kg are Almaty's November
    november = flows_from_rows(ROWS, ("2026-11",))
    assert november == [RouteFlow("AF", "", (), "KZ", "heroin", 100.0, 1)]
    assert flows_from_rows(ROWS, ()) == []
    # a post without a zone counts in UTC
    utc = [("X", "", _t("2026-10-31T20:00"), "heroin", 1.0, "", "", "", "")]
    assert flows_from_rows(utc, ("2026-10",))[0].kg == 1.0


def test_order_is_deterministic_whatever_the_rows_order() -> None:
    assert flows_from_rows(reversed(ROWS)) == flows_from_rows(ROWS)
    ties = [("A", "UTC", 0, "heroin", 1.0, "", "", "", c) for c in ("UZ", "KZ", "RU")]
    assert [f.destination for f in flows_from_rows(ties)] == ["KZ", "RU", "UZ"]


def test_chain_leaves_unknown_out_and_repeats_once() -> None:
    assert RouteFlow("AF", "AF", ("TJ", "UZ"), "RU", "heroin", 1, 1).chain() == \
        ("AF", "TJ", "UZ", "RU")
    assert RouteFlow("", "KG", (), "", "hashish", 1, 1).chain() == ("KG",)
    assert RouteFlow("AF", "", ("TJ",), "TJ", "opium", 1, 1).chain() == ("AF", "TJ")


def test_country_edges_weigh_each_step_with_the_flows_taking_it() -> None:
    edges = country_edges(flows_from_rows(ROWS))
    assert edges == [
        CountryEdge("AF", "KZ", 100.0, 1),
        CountryEdge("AF", "TJ", 23.0, 3),
        CountryEdge("TJ", "UZ", 23.0, 3),
        CountryEdge("UZ", "RU", 23.0, 3),
    ]


def test_sql_reads_the_readers_view_with_bound_values() -> None:
    t0, t1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    sql, params = routes_sql("blo", ("KZ-KORDAI",), t0, t1, drug="heroin")
    assert "argMax(tuple(" in sql and "WHERE tupleElement(_latest" in sql  # voided out
    assert "toYYYYMM(occurred_at) >= 202610 AND toYYYYMM(occurred_at) <= 202610" in sql
    assert "heroin" not in sql and "KZ-KORDAI" not in sql
    assert params == {"stations": ("KZ-KORDAI",), "t0": int(t0.timestamp()),
                      "t1": int(t1.timestamp()), "drug": "heroin"}
    assert "JSONExtract" not in sql
    sql, params = routes_sql("blo", ("KZ-KORDAI",), t0, t1)
    assert "drug" not in params and "%(drug)s" not in sql
