"""BTS border crossing 2018 through the bundled mapping, checked against pandas."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from blo.importer import CountReportDict, Mapped, summarise
from tests.unit.importer.helpers import (
    BTS_2018,
    SAN_YSIDRO,
    Items,
    mapped,
    rejected,
    require,
    run,
    schema_problems,
)

# BTS renamed "Full" to "Loaded"; the mapping normalises to the later name.
RENAMED = {"Truck Containers Full": "Truck Containers Loaded",
           "Rail Containers Full": "Rail Containers Loaded"}


@pytest.fixture(scope="module")
def items() -> Items:
    return run(require(BTS_2018), "bts_border_crossing")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(require(BTS_2018), dtype={"Port Code": str})


def test_one_count_report_per_row_and_no_rejection(items: Items, frame: pd.DataFrame) -> None:
    assert len(frame) == 9534
    assert rejected(items) == []
    events = [e for m in mapped(items) for e in m.events]
    assert len(events) == 9534
    assert {e["event_type"] for e in events} == {"count_report"}
    measures = Counter(e["measure"] for e in events)
    assert set(measures) == set(frame["Measure"].replace(RENAMED))
    assert measures["Truck Containers Loaded"] == (frame["Measure"] == "Truck Containers Full").sum()
    summary = summarise(items)
    assert (summary.rows, summary.events, summary.rejected_rows) == (9534, 9534, 0)


def test_totals_per_border_and_measure_equal_pandas(items: Items, frame: pd.DataFrame) -> None:
    oracle = (
        frame.assign(Measure=frame["Measure"].replace(RENAMED))
        .groupby(["Border", "Measure"])["Value"].sum()
    )
    neighbour = {"US-Mexico Border": "MX", "US-Canada Border": "CA"}
    border_of = {m.station["station_id"]: m.station["neighbour_country"] or ""
                 for m in mapped(items) if m.station is not None}
    got: dict[tuple[str, str], float] = defaultdict(float)
    for m in mapped(items):
        for e in m.events:
            got[(border_of[e["station_id"]], e["measure"])] += e["value"]
    assert len(got) == len(oracle)
    for (border, measure), total in oracle.items():
        assert got[(neighbour[border], measure)] == total, (border, measure)
    assert got[("MX", "Pedestrians")] == oracle[("US-Mexico Border", "Pedestrians")] > 0


def test_station_per_port_code(items: Items, frame: pd.DataFrame) -> None:
    events = [e for m in mapped(items) for e in m.events]
    station_ids = {e["station_id"] for e in events}
    assert len(station_ids) == frame["Port Code"].nunique() == 114
    assert station_ids == {f"US-{code}" for code in frame["Port Code"].unique()}
    stations = [m.station for m in mapped(items) if m.station is not None]
    assert sorted(s["station_id"] for s in stations) == sorted(station_ids)  # once each
    first = {s["station_id"]: s for s in stations}
    assert first["US-3318"]["neighbour_country"] == "CA"
    assert first["US-2504"]["neighbour_country"] == "MX"
    assert first["US-3318"]["tz"] == "America/Denver"  # Montana
    assert first["US-2402"]["tz"] == "America/Denver"  # El Paso: Mountain time in Texas
    assert first["US-2304"]["tz"] == "America/Chicago"  # Laredo
    assert all(s["country"] == "US" for s in stations)
    valid_from = datetime.fromisoformat(first["US-3318"]["valid_from"])
    assert valid_from <= min(datetime.fromisoformat(e["period_start"]) for e in events)


def test_event_ids_unique_and_stable_across_runs(items: Items) -> None:
    ids = [e["event_id"] for m in mapped(items) for e in m.events]
    assert len(set(ids)) == len(ids)
    keys = [(e["station_id"], e["source_seq"]) for m in mapped(items) for e in m.events]
    assert len(set(keys)) == len(keys)
    again = run(BTS_2018, "bts_border_crossing", reported_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert [e["event_id"] for m in mapped(again) for e in m.events] == ids


def test_naive_date_is_station_local(items: Items, frame: pd.DataFrame) -> None:
    texas = frame[(frame["State"] == "Texas") & (frame["Port Name"] == "Laredo")
                  & (frame["Date"] == "12/01/2018 12:00:00 AM")]
    line_no = int(texas.index[0]) + 2  # header is line 1
    item = next(i for i in items if i.line_no == line_no)
    assert isinstance(item, Mapped)
    (event,) = item.events
    expected = datetime(2018, 12, 1, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)
    assert datetime.fromisoformat(event["period_start"]) == expected
    assert event["period_start"] == "2018-12-01T06:00:00+00:00"
    assert event["period_end"] == "2019-01-01T06:00:00+00:00"
    assert event["occurred_at"] == event["period_start"]
    assert event["source_seq"] // 100 == 201812


def test_output_validates_with_schemas(items: Items) -> None:
    pytest.importorskip("schemas.station")
    assert schema_problems(items) == []


def test_same_fact_from_two_files_is_the_same_event(items: Items) -> None:
    """San Ysidro's 2018 rows in the 26-year file (another date layout) map to the very
    events of the 2018 file: same ids, same bodies, so a re-import is a no-op downstream."""

    def body(e: CountReportDict) -> dict[str, object]:
        return {k: v for k, v in e.items() if k != "reported_at"}

    from_2018 = {e["event_id"]: body(e) for m in mapped(items) for e in m.events
                 if e["station_id"] == "US-2504"}
    sy = run(require(SAN_YSIDRO), "bts_san_ysidro")
    assert rejected(sy) == []
    from_sy = {e["event_id"]: body(e) for m in mapped(sy) for e in m.events
               if e["source_seq"] // 10_000 == 2018}  # yyyymm * 100 + measure code
    assert len(from_2018) == 60
    assert from_sy == from_2018
