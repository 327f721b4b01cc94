"""``event_row``: the column contract of ``events`` and the normalised quantities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from schemas.parse import parse_event
from schemas.station import StationRecord
from sinks.tables import EVENTS
from streams.stages.decode import SourcePos
from streams.stages.rows import event_row
from tests.unit.schemas.factories import EVENT_TYPE_NAMES, make_event

NOW = datetime(2025, 1, 1, tzinfo=UTC)
INGESTED = datetime(2025, 1, 1, 0, 0, 7, tzinfo=UTC)
SOURCE = SourcePos("raw-topic", 3, 1234)
TABLET_MG = 250.0

STATION = StationRecord.model_validate({
    "station_id": "KZ-KORDAI", "name": "Kordai", "country": "KZ", "agency": "customs",
    "crossing_point": "Kordai / Ak-Jol", "neighbour_country": "KG", "paired_blo": "KG-AK-JOL",
    "lat": 43.03, "lon": 74.71, "tz": "Asia/Almaty", "valid_from": "2018-01-01T00:00:00Z",
})


def row_of(obj: dict[str, Any], tablet_mass_mg: float = TABLET_MG) -> dict[str, Any]:
    ev = parse_event(obj, now=NOW, max_future_skew=timedelta(minutes=5))
    row = event_row(ev, STATION, body_hash="h" * 32, payload="{}", ingested_at=INGESTED,
                    source=SOURCE, tablet_mass_mg=tablet_mass_mg)
    assert len(row) == len(EVENTS.columns)
    return dict(zip(EVENTS.column_names, row, strict=True))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize("event_type", EVENT_TYPE_NAMES)
def test_every_event_type_fills_every_column_in_table_order(event_type: str) -> None:
    e = make_event(event_type)
    r = row_of(e)
    # envelope, enrichment and provenance: the same for every type
    assert r["event_id"] == UUID(e["event_id"])
    assert (r["event_type"], r["schema_version"], r["station_id"], r["source_seq"]) == (
        event_type, 1, "KZ-KORDAI", e["source_seq"])
    assert r["occurred_at"] == utc(e["occurred_at"]) and r["occurred_at"].tzinfo is not None
    assert r["reported_at"] == utc(e["reported_at"])
    assert r["ingested_at"] == INGESTED
    assert (r["country"], r["agency"], r["crossing_point"]) == ("KZ", "customs", "Kordai / Ak-Jol")
    assert (r["border"], r["neighbour_country"], r["paired_blo"]) == ("KG-KZ", "KG", "KG-AK-JOL")
    assert (r["lat"], r["lon"], r["station_tz"]) == (43.03, 74.71, "Asia/Almaty")
    assert (r["body_hash"], r["payload"]) == ("h" * 32, "{}")
    assert (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) == ("raw-topic", 3, 1234)
    # string columns are never None (ClickHouse String), numeric ones None when not given
    for name, ch_type in EVENTS.columns:
        if ch_type == "String":
            assert isinstance(r[name], str), name


def test_crossing_columns() -> None:
    e = make_event("crossing", persons=3, vehicles=1, direction="outbound",
                   document_check="refused")
    r = row_of(e)
    assert (r["direction"], r["subject"], r["mode"], r["vehicle_class"]) == (
        "outbound", e["subject"], e["mode"], e["vehicle_class"])
    assert (r["outcome"], r["persons"], r["vehicles"], r["arrests"]) == ("refused", 3, 1, None)
    assert r["quantity_kg"] is None and r["value"] is None and r["period_start"] is None


@pytest.mark.parametrize(("unit", "quantity", "kg"), [
    ("g", 1500.0, 1.5),
    ("kg", 12.4, 12.4),
    ("l", 3.0, 3.0),  # a litre counts as a kilogram
    ("ml", 250.0, 0.25),
    ("tablet", 4000.0, 4000 * TABLET_MG / 1_000_000),  # 1.0 kg at 250 mg a tablet
])
def test_seizure_quantity_in_kg(unit: str, quantity: float, kg: float) -> None:
    r = row_of(make_event("seizure", unit=unit, quantity=quantity, persons_arrested=2))
    assert r["quantity"] == quantity and r["quantity_unit"] == unit
    assert r["quantity_kg"] == pytest.approx(kg)
    assert (r["drug"], r["arrests"], r["persons"]) == ("heroin", 2, None)


def test_tablet_mass_is_the_configured_one() -> None:
    e = make_event("seizure", unit="tablet", quantity=1000)
    assert row_of(e, tablet_mass_mg=100.0)["quantity_kg"] == pytest.approx(0.1)
    assert row_of(e, tablet_mass_mg=300.0)["quantity_kg"] == pytest.approx(0.3)


def test_count_report_columns() -> None:
    e = make_event("count_report", measure="Trucks", dimension="inbound", value=12.5,
                   unit="vehicles")
    r = row_of(e)
    assert r["period_start"] == utc(e["period_start"]) == datetime(2024, 4, 30, 19, tzinfo=UTC)
    assert r["period_end"] == utc(e["period_end"])
    assert (r["measure"], r["dimension"], r["value"], r["unit"]) == (
        "Trucks", "inbound", 12.5, "vehicles")
    assert r["persons"] is None and r["quantity_kg"] is None and r["direction"] == ""


def test_count_report_without_dimension_has_an_empty_string() -> None:
    e = make_event("count_report")
    del e["dimension"]
    assert row_of(e)["dimension"] == ""


def test_inspection_detention_incident_columns() -> None:
    assert row_of(make_event("inspection", outcome="find"))["outcome"] == "find"
    assert row_of(make_event("detention", persons=3))["persons"] == 3
    assert row_of(make_event("incident", persons=4))["persons"] == 4


def test_an_interior_post_has_empty_border_neighbour_and_pair() -> None:
    airport = STATION.model_copy(update={"station_id": "KZ-ALMATY-AIRPORT",
                                         "neighbour_country": None, "paired_blo": None})
    ev = parse_event(make_event("crossing", station_id="KZ-ALMATY-AIRPORT"), now=NOW,
                     max_future_skew=timedelta(minutes=5))
    row = event_row(ev, airport, body_hash="h" * 32, payload="{}", ingested_at=INGESTED,
                    source=SOURCE, tablet_mass_mg=TABLET_MG)
    r = dict(zip(EVENTS.column_names, row, strict=True))
    assert (r["country"], r["border"], r["neighbour_country"], r["paired_blo"]) == (
        "KZ", "", "", "")
