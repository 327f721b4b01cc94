"""CBP seizure summaries: two count reports per row, FY months, pounds to kilograms."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from blo.importer import Mapped
from tests.unit.importer.helpers import CBP, Items, mapped, rejected, require, run, schema_problems

LB = 0.45359237
Rows = list[tuple[int, dict[str, str]]]  # (line number, row by header)


@pytest.fixture(scope="module")
def items() -> Items:
    return run(require(CBP), "cbp_drug_seizures")


@pytest.fixture(scope="module")
def rows() -> Rows:
    with require(CBP).open(newline="", encoding="utf-8") as f:
        return [(n, row) for n, row in enumerate(csv.DictReader(f), start=2)]


def _item(items: Items, line_no: int) -> Mapped:
    item = next(i for i in items if i.line_no == line_no)
    assert isinstance(item, Mapped)
    return item


def test_two_reports_per_row(items: Items, rows: Rows) -> None:
    assert rejected(items) == []
    assert len(mapped(items)) == len(rows)
    for m in mapped(items)[:50]:
        assert [e["measure"] for e in m.events] == ["seizure_events", "seizure_kg"]
        assert [e["unit"] for e in m.events] == ["count", "kg"]
    ids = [e["event_id"] for m in mapped(items) for e in m.events]
    assert len(ids) == 2 * len(rows) == len(set(ids))


@pytest.mark.parametrize(
    ("fy", "month", "calendar"),
    [
        ("2023", "OCT", "2022-10"),  # FY2023 starts in October 2022
        ("2023", "DEC", "2022-12"),
        ("2023", "JAN", "2023-01"),
        ("2023", "SEP", "2023-09"),
        ("2025 (FYTD)", "NOV", "2024-11"),
        ("2025 (FYTD)", "MAY", "2025-05"),
    ],
)
def test_fiscal_month_is_the_calendar_month(
    items: Items, rows: Rows, fy: str, month: str, calendar: str
) -> None:
    zones = {m.station["station_id"]: m.station["tz"] for m in mapped(items) if m.station}
    picked = [n for n, r in rows if r["FY"] == fy and r["Month (abbv)"] == month][:25]
    assert picked
    for line_no in picked:
        for e in _item(items, line_no).events:
            local = datetime.fromisoformat(e["period_start"]).astimezone(
                ZoneInfo(zones[e["station_id"]]))
            assert (local.strftime("%Y-%m"), local.day, local.hour) == (calendar, 1, 0)
            assert e["source_seq"] // 10_000 == int(calendar.replace("-", ""))


def test_period_is_local_month_of_the_office(items: Items, rows: Rows) -> None:
    line_no, _ = next((n, r) for n, r in rows if r["FY"] == "2023" and r["Month (abbv)"] == "OCT"
                      and r["Area of Responsibility"] == "SAN DIEGO FIELD OFFICE")
    event = _item(items, line_no).events[0]
    assert event["station_id"] == "US-CBP-SAN-DIEGO-FIELD-OFFICE"
    assert event["period_start"] == "2022-10-01T07:00:00+00:00"  # PDT midnight
    assert event["period_end"] == "2022-11-01T07:00:00+00:00"


def test_pounds_become_kilograms(items: Items, rows: Rows) -> None:
    frame = pd.read_csv(CBP)
    oracle = frame.groupby("Drug Type")["Sum Qty (lbs)"].sum() * LB
    events_oracle = frame.groupby("Drug Type")["Count of Event"].sum()
    drug_of = {n: r["Drug Type"] for n, r in rows}
    kg: dict[str, float] = defaultdict(float)
    count: dict[str, float] = defaultdict(float)
    for m in mapped(items):
        events, kgs = m.events
        count[drug_of[m.line_no]] += events["value"]
        kg[drug_of[m.line_no]] += kgs["value"]
    for drug, total in oracle.items():
        assert kg[drug] == pytest.approx(total, rel=1e-9, abs=1e-3), drug
        assert count[drug] == events_oracle[drug]
    line_no, row = rows[0]
    assert _item(items, line_no).events[1]["value"] == round(float(row["Sum Qty (lbs)"]) * LB, 6)


def test_dimension_is_drug_then_land_filter(items: Items, rows: Rows) -> None:
    line_no, row = next((n, r) for n, r in rows
                        if r["Drug Type"] == "Marijuana" and r["Land Filter"] == "Land Only")
    assert {e["dimension"] for e in _item(items, line_no).events} == {"cannabis_herb/land"}
    stations = {m.station["station_id"]: m.station for m in mapped(items) if m.station}
    assert len(stations) == len({r["Area of Responsibility"] for _, r in rows})
    assert stations["US-CBP-TUCSON-SECTOR"]["agency"] == "border_guard"
    assert stations["US-CBP-TUCSON-SECTOR"]["neighbour_country"] == "MX"
    assert stations["US-CBP-SAN-JUAN-FIELD-OFFICE"]["tz"] == "America/Puerto_Rico"
    assert stations["US-CBP-CHICAGO-FIELD-OFFICE"]["neighbour_country"] is None
    assert row["Drug Type"] == "Marijuana"


def test_output_validates_and_inland_offices_are_interior_posts(items: Items, rows: Rows) -> None:
    """Events and station records all validate with schemas/; the Coastal/Interior offices
    have no land neighbour and become interior posts (border ''), the others sit on the
    MX-US or CA-US border."""
    from schemas.station import StationRecord

    assert schema_problems(items) == []
    region = {r["Area of Responsibility"]: r["Region"] for _, r in rows}
    records = [StationRecord.model_validate(m.station) for m in mapped(items) if m.station]
    want = {"Coastal/Interior": "", "Southwest Border": "MX-US", "Northern Border": "CA-US"}
    got = {r.station_id: r.border for r in records}
    assert got == {f"US-CBP-{office.replace(' ', '-')}": want[reg]
                   for office, reg in region.items()}
    assert sum(1 for b in got.values() if b == "") == 15


@pytest.mark.parametrize("interior", ['""', "{unmapped: empty}"])
def test_other_ways_to_mark_interior_posts_give_the_same_records(
        items: Items, interior: str, tmp_path: Path) -> None:
    """docs/import-csv.md: an empty constant, or a value left unmapped with ``unmapped:
    empty``, marks a post interior just as ``null`` does."""
    shipped = (Path(__file__).resolve().parents[3] / "blo" / "data" / "mappings"
               / "cbp_drug_seizures.yaml").read_text(encoding="utf-8")
    text = shipped
    if interior == '""':
        text = text.replace("Coastal/Interior: null", 'Coastal/Interior: ""')
    else:
        text = text.replace("        Coastal/Interior: null\n", "      unmapped: empty\n")
    assert text != shipped
    path = tmp_path / "cbp_interior.yaml"
    path.write_text(text, encoding="utf-8")
    again = run(require(CBP), str(path))
    assert schema_problems(again) == []
    assert [m.station for m in mapped(again)] == [m.station for m in mapped(items)]
