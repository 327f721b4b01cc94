"""A bulletin built from hand-made rows (no database): the reader answers each query by
what its SQL reads."""

from __future__ import annotations

from typing import Any

from blo.analytics.bulletin.figures import Bulletin, build
from blo.analytics.periods import Period
from blo.analytics.routes import RouteFlow

REGISTRY = [  # stations_sql's columns
    ("KZ-KORDAI", "Kordai", "KZ", "border_guard", "KG-KZ", "", "Kordai", 43.0, 74.7,
     "Asia/Almaty", 1),
    ("KZ-KONYSBAEV", "Б. Коныспаев", "KZ", "customs", "KZ-UZ", "", "Konysbaev", 41.27, 69.05,
     "Asia/Almaty", 1),
    ("TJ-ISHKASHIM", "Ishkashim", "TJ", "border_guard", "AF-TJ", "", "Ishkashim", 36.7, 71.6,
     "Asia/Dushanbe", 1),
]


def wline(label: str, sid: str, et: str, *, measure: str = "", dim: str = "", events: int = 0,
          persons: int = 0, vehicles: int = 0, refused: int = 0, ukg: int = 0, arrests: int = 0,
          finds: int = 0, value_u: int = 0, provisional: int = 0) -> tuple[Any, ...]:
    return (label, sid, et, measure, dim, events, persons, vehicles, refused, ukg, arrests,
            finds, value_u, provisional, 1, 7)


WINDOWS = [
    wline("2026-10", "KZ-KORDAI", "seizure", dim="heroin", events=3, ukg=12_500_000,
          arrests=2),
    wline("2026-10", "KZ-KORDAI", "seizure", dim="hashish", events=1, ukg=1_250_000),
    wline("2026-10", "KZ-KORDAI", "crossing", events=1000, persons=2500, vehicles=400,
          refused=12),
    wline("2026-10", "KZ-KONYSBAEV", "detention", events=2, persons=5),
    wline("2026-10", "KZ-KONYSBAEV", "count_report", measure="seizure_kg", dim="opium/land",
          value_u=4_000_000),
    wline("2026-10", "KZ-KONYSBAEV", "count_report", measure="seizure_events",
          dim="opium/land", value_u=2_000_000),
    wline("2026-10", "KZ-KONYSBAEV", "count_report", measure="Trucks", events=4,
          value_u=1234_000_000, provisional=1),
    wline("2026-09", "KZ-KORDAI", "seizure", dim="heroin", events=1, ukg=10_000_000),
    wline("2026-09", "KZ-KORDAI", "crossing", events=900, persons=2000, vehicles=300,
          refused=12),
]

FLOWS = [RouteFlow("AF", "AF", ("TJ", "UZ"), "KZ", "heroin", 12.5, 3),
         RouteFlow("", "KG", (), "RU", "hashish", 1.25, 1)]


def fake_reader(sql: str, params: dict[str, Any]) -> list[Any]:
    if "FROM blo.stations" in sql:
        return list(REGISTRY)
    if "window_label IN" in sql:
        return [w for w in WINDOWS if w[1] in params["stations"]]
    if "argMax(rule_name" in sql:
        return [("refusal_spike", "warning", 2, 1, "Refusal spike",
                 ('{"en":"x","rule_name":{"en":"Refusal spike","ru":"Всплеск отказов"},'
                 '"ru":"y"}'), 3)]
    if "uniqExactIf" in sql:
        return [(1, 0, 2)]
    if "cityHash64" in sql:
        return [("crossing", 1000, 1_793_000_000, 0, 12345)] if params["t0"] > 1_790_000_000 \
            else []
    raise AssertionError(sql)


def bulletin(scope: str = "KZ", flows: list[RouteFlow] | None = None) -> Bulletin:
    def routes(db: str, stations: Any, period: Period) -> Any:
        return ("SELECT route", {}), (lambda rows: list(FLOWS if flows is None else flows))

    def read(sql: str, params: dict[str, Any]) -> list[Any]:
        return [] if sql == "SELECT route" else fake_reader(sql, params)

    return build(read, "blo", scope, Period.parse("2026-10"), routes)
