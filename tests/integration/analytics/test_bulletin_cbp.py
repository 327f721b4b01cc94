"""A bulletin of real data: the US CBP drug seizures of FY2024 (October 2023 – September
2024), imported with the shipped mapping through a real worker into the session's ClickHouse
server. The quarter 2024-Q1 bulletin of scope US: every seizure figure (headline with the
previous quarter and the same quarter a year before, by drug, by office) equals an
independent computation on the CSV alone (csv module, integer micro-kilograms), in the
figure model and in what the HTML and the command line show."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from blo.analytics.bulletin import make, render
from blo.analytics.bulletin.strings import kg, number, percent
from blo.analytics.periods import Period
from tests.integration.analytics.test_bulletin_sim import cells_of, reader
from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import wait_for
from tests.unit.importer.helpers import CBP, require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

LB = 0.45359237
DRUG = {"Cocaine": "cocaine", "Ecstasy": "mdma", "Fentanyl": "fentanyl", "Heroin": "heroin",
        "Ketamine": "ketamine", "Khat (Catha Edulis)": "khat", "Lsd": "lsd",
        "Marijuana": "cannabis_herb", "Methamphetamine": "methamphetamine",
        "Other Drugs**": "other"}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
PERIOD = Period.parse("2024-Q1")


def _station(office: str) -> str:
    return "US-CBP-" + re.sub(r"[^A-Za-z0-9]+", "-", office).strip("-").upper()


def fy2024(path: Path, out: Path) -> Path:
    """The FY2024 rows of the CBP file (with its header), written to ``out``."""
    with path.open(newline="", encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    out.write_text(lines[0] + "".join(x for x in lines[1:] if x.startswith("2024,")),
                   encoding="utf-8")
    return out


def oracle(path: Path, months: tuple[str, ...]) -> dict[str, Counter[str]]:
    """Cases and micro-kg of ``months`` (``YYYY-MM``) in total, by drug and by office."""
    out: dict[str, Counter[str]] = {k: Counter() for k in ("total", "drug_cases", "drug_ukg",
                                                          "post_cases", "post_ukg")}
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            fy = int(r["FY"][:4])
            m = MONTHS.index(r["Month (abbv)"]) + 1
            label = f"{fy - 1 if m >= 10 else fy:04d}-{m:02d}"
            if label not in months:
                continue
            cases = int(float(r["Count of Event"]))
            ukg = round(round(float(r["Sum Qty (lbs)"]) * LB, 6) * 1_000_000)
            drug, post = DRUG[r["Drug Type"]], _station(r["Area of Responsibility"])
            out["total"]["rows"] += 1
            out["total"]["seizure_cases"] += cases
            out["total"]["seizure_ukg"] += ukg
            out["drug_cases"][drug] += cases
            out["drug_ukg"][drug] += ukg
            out["post_cases"][post] += cases
            out["post_ukg"][post] += ukg
    return out


def test_cbp_fy2024_bulletin_equals_the_csv(pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    path = fy2024(require(CBP), tmp_path / "cbp_fy2024.csv")
    n_rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
    assert n_rows == 2481
    w = p.worker()
    w.wait_ready()
    res = p.blo("import-csv", str(path), "--mapping", "cbp_drug_seizures")
    assert res.returncode == 0, res.stderr
    where = "event_type = 'count_report'"
    wait_for(lambda: final_count(db, where) >= 2 * n_rows, 300, "the FY2024 count reports")

    def month_rows() -> int:
        return int(db.query(f"SELECT count() FROM {db.database}.window_stats FINAL WHERE "
                            f"window_kind = 'month' AND {where}")[0][0])

    wait_for(lambda: month_rows() >= 2 * n_rows, 120, "a month row per report", 1.0)

    cur = oracle(path, PERIOD.months())
    prev = oracle(path, PERIOD.previous().months())
    assert cur["total"]["seizure_cases"] > 0 and prev["total"]["seizure_cases"] > 0
    b = make(reader(db), db.database, "US", PERIOD)
    heads = {h.key: h for h in b.headline}
    for k in ("seizure_cases", "seizure_ukg"):
        assert (heads[k].current, heads[k].previous, heads[k].year_before) == (
            cur["total"][k], prev["total"][k], 0), k
    assert {d.drug: (d.cases, d.ukg) for d in b.drugs} == {
        d: (cur["drug_cases"][d], cur["drug_ukg"][d]) for d in cur["drug_cases"]}
    assert {pl.station_id: (pl.totals.seizure_cases, pl.totals.seizure_ukg)
            for pl in b.post_lines if pl.totals.seizure_cases or pl.totals.seizure_ukg} == {
        s: (cur["post_cases"][s], cur["post_ukg"][s]) for s in cur["post_cases"]
        if cur["post_cases"][s] or cur["post_ukg"][s]}
    assert {p.country for p in b.posts} == {"US"}
    assert b.method.provisional_months == ()
    assert dict(b.method.events) == {"count_report": 2 * cur["total"]["rows"]}
    for lang in ("en", "ru"):
        cells = cells_of(render(b, lang, "html"))  # type: ignore[arg-type]
        assert cells["headline.seizure_cases.current"] == number(cur["total"]["seizure_cases"], lang)  # type: ignore[arg-type]
        assert cells["headline.seizure_kg.current"] == kg(cur["total"]["seizure_ukg"], lang)  # type: ignore[arg-type]
        assert cells["headline.seizure_kg.previous"] == kg(prev["total"]["seizure_ukg"], lang)  # type: ignore[arg-type]
        c, pv = cur["total"]["seizure_ukg"], prev["total"]["seizure_ukg"]
        assert cells["headline.seizure_kg.previous_pct"] == percent(
            round((c - pv) * 100 / pv, 1), lang)  # type: ignore[arg-type]
        assert cells["headline.seizure_kg.year_before_pct"] == percent(None, lang)  # type: ignore[arg-type]
        for d, ukg in cur["drug_ukg"].items():
            assert cells[f"drug.{d}.kg"] == kg(ukg, lang)  # type: ignore[arg-type]
            assert cells[f"drug.{d}.cases"] == number(cur["drug_cases"][d], lang)  # type: ignore[arg-type]
        for s, ukg in cur["post_ukg"].items():
            assert cells[f"post.{s}.seizure_kg"] == kg(ukg, lang)  # type: ignore[arg-type]

    # the command line: the same figures, twice the same bytes
    one = p.blo("report", "bulletin", "--scope", "US", "--period", "2024-Q1", "--format",
                "json")
    two = p.blo("report", "bulletin", "--scope", "US", "--period", "2024-Q1", "--format",
                "json")
    assert one.returncode == 0, one.stderr
    assert one.stdout == two.stdout
    got = json.loads(one.stdout)
    assert got["data_version"]["digest"] == b.version.digest
    assert {d["drug"]: round(d["kg"] * 1_000_000) for d in got["drugs"]} == dict(
        cur["drug_ukg"])
    w.terminate()
