"""Real data through the whole path, with interior posts: the US CBP drug seizures FY22–25,
imported with the shipped mapping, in which the 15 Coastal/Interior offices (no land
neighbour) are interior posts. 18,008 count reports land; their fiscal-year, drug and
border totals equal an independent computation on the CSV (csv module, integer
milligrams: exact), in ``events FINAL`` and in the month windows."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import wait_for
from tests.unit.importer.helpers import CBP, require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

LB = 0.45359237
BORDER = {"Southwest Border": "MX-US", "Northern Border": "CA-US", "Coastal/Interior": ""}
DRUG = {"Cocaine": "cocaine", "Ecstasy": "mdma", "Fentanyl": "fentanyl", "Heroin": "heroin",
        "Ketamine": "ketamine", "Khat (Catha Edulis)": "khat", "Lsd": "lsd",
        "Marijuana": "cannabis_herb", "Methamphetamine": "methamphetamine",
        "Other Drugs**": "other"}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

Totals = Counter[tuple[str, ...]]


def _station(office: str) -> str:
    return "US-CBP-" + re.sub(r"[^A-Za-z0-9]+", "-", office).strip("-").upper()


def oracle(path: Path) -> tuple[int, dict[str, str], Totals, Totals, Totals]:
    """From the CSV alone: rows, station → border, and (measure, key) totals by fiscal year,
    by drug and by border; events counted as such, kilograms as integer milligrams."""
    rows, borders = 0, {}
    by_fy, by_drug, by_border = Counter(), Counter(), Counter()
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows += 1
            fy = r["FY"][:4]  # "2025 (FYTD)" is FY2025
            assert r["Month (abbv)"] in MONTHS
            border = BORDER[r["Region"]]
            borders[_station(r["Area of Responsibility"])] = border
            events = int(float(r["Count of Event"]))
            mg = round(round(float(r["Sum Qty (lbs)"]) * LB, 6) * 1_000_000)
            for measure, v in (("seizure_events", events), ("seizure_kg", mg)):
                by_fy[(measure, fy)] += v
                by_drug[(measure, DRUG[r["Drug Type"]])] += v
                by_border[(measure, border or "interior")] += v
    return rows, borders, by_fy, by_drug, by_border


def _fy(year: int, month: int) -> str:
    return str(year + 1 if month >= 10 else year)  # FY N runs October N-1 .. September N


def _as_totals(rows: list[tuple[str, str, int]]) -> Totals:
    return Counter({(m, k): int(v) for m, k, v in rows})


# the value as the oracle counts it: events as such, kilograms as integer milligrams
_V = "sum(toInt64(if(measure = 'seizure_kg', round(value * 1000000), value)))"


def test_cbp_fy22_25_with_interior_posts_matches_independent_totals(pipeline) -> None:
    p, db = pipeline
    path = require(CBP)
    n_rows, borders, by_fy, by_drug, by_border = oracle(path)
    interior = {s for s, b in borders.items() if b == ""}
    assert len(interior) == 15 and n_rows * 2 == 18_008
    w = p.worker()
    w.wait_ready()
    res = p.blo("import-csv", str(path), "--mapping", "cbp_drug_seizures")
    assert res.returncode == 0, res.stderr
    assert f"rows published: {n_rows}" in res.stdout
    assert "rows rejected: 0" in res.stdout
    where = "event_type = 'count_report'"
    wait_for(lambda: final_count(db, where) >= 18_008, 300, "18,008 count reports")
    assert final_count(db, where) == 18_008
    d = db.database

    # interior posts: registered without a neighbour, enriched with border '' (no bogus key)
    registry = {s: (n, b) for s, n, b in db.query(
        f"SELECT station_id, argMax(neighbour_country, valid_from), argMax(border, valid_from)"
        f" FROM {d}.stations FINAL WHERE startsWith(station_id, 'US-CBP-') GROUP BY station_id")}
    assert registry == {s: (b.split("-")[0] if b else "", b) for s, b in borders.items()}
    enriched = {s: (n, b) for s, n, b in db.query(
        f"SELECT DISTINCT station_id, neighbour_country, border FROM {d}.events FINAL "
        f"WHERE {where}")}
    assert enriched == registry

    # events FINAL: fiscal year (the local month: mid-month in UTC is the same month in any
    # zone), drug (the dimension's first part) and border, exact
    got = db.query(
        f"SELECT measure, toYear(t) AS y, toMonth(t) AS m, {_V} FROM (SELECT measure, value, "
        f"period_start + 15 * 86400 AS t FROM {d}.events FINAL WHERE {where}) "
        "GROUP BY measure, y, m")
    fy: Totals = Counter()
    for measure, y, m, v in got:
        fy[(measure, _fy(int(y), int(m)))] += int(v)
    assert fy == by_fy
    assert _as_totals(db.query(
        f"SELECT measure, splitByChar('/', dimension)[1] AS dr, {_V} FROM {d}.events FINAL "
        f"WHERE {where} GROUP BY measure, dr")) == by_drug
    assert _as_totals(db.query(
        f"SELECT measure, if(border = '', 'interior', border) AS b, {_V} FROM {d}.events FINAL "
        f"WHERE {where} GROUP BY measure, b")) == by_border

    # the month windows: one row per report, its local month as the label; the same totals
    # by fiscal year, and the border roll-up labels the interior posts as such
    def month_rows() -> int:
        return int(db.query(f"SELECT count() FROM {d}.window_stats FINAL WHERE "
                            f"window_kind = 'month' AND {where}")[0][0])

    try:
        wait_for(lambda: month_rows() >= 18_008, 120, "a month row per report", 1.0)
    except AssertionError as e:  # once in CI (session 11), not reproduced: say what it was
        m = w.metrics()
        said = {k: v for k, v in m.items() if k.startswith(("blo_sink_", "blo_window"))
                and "{" not in k}
        raise AssertionError(f"{e}: {month_rows()} month rows; worker alive {w.alive()}; "
                             f"{said}\n{w.log_tail(40)}") from None
    assert month_rows() == 18_008
    fy = Counter()
    for measure, label, v in db.query(
            f"SELECT measure, window_label, {_V} FROM {d}.window_stats FINAL "
            f"WHERE window_kind = 'month' AND {where} GROUP BY measure, window_label"):
        year, month = map(int, str(label).split("-"))
        fy[(measure, _fy(year, month))] += int(v)
    assert fy == by_fy
    assert _as_totals(db.query(
        f"SELECT measure, if(border = '', 'interior', border) AS b, {_V} "
        f"FROM {d}.window_stats FINAL WHERE window_kind = 'month' AND {where} "
        "GROUP BY measure, b")) == by_border
    assert {s for (s,) in db.query(
        f"SELECT DISTINCT station_id FROM {d}.window_stats FINAL WHERE border = ''")} == interior
    assert w.metrics().get("blo_events_dead_lettered_total", 0) == 0
    w.terminate()
