"""Vocabularies, country codes, land borders and kilogram equivalents."""

from __future__ import annotations

import pytest

from schemas.countries import (
    CENTRAL_ASIA,
    CENTRAL_ASIA_NEIGHBOURS,
    LAND_BORDERS,
    are_neighbours,
    border_of,
    in_border_table,
    is_country,
    iso_alpha2_codes,
    same_or_neighbouring,
)
from schemas.units import to_kg_equivalent
from schemas.vocab import (
    PRECURSORS,
    AgeBand,
    Agency,
    Drug,
    EventType,
    Mode,
    SeizureUnit,
    VehicleClass,
)


def test_vocabularies_are_wire_strings() -> None:
    assert isinstance(Mode.ROAD, str) and str(Mode.ROAD) == "road"
    assert f"{Mode.PIPELINE}" == "pipeline"
    assert {m.value for m in Mode} == {"road", "rail", "air", "pedestrian", "water", "pipeline"}
    assert {u.value for u in SeizureUnit} == {"g", "kg", "l", "ml", "tablet"}
    assert {a.value for a in Agency} == {
        "border_guard", "customs", "police", "drug_control", "joint",
    }
    assert "rail_container_empty" in {v.value for v in VehicleClass}
    assert VehicleClass.NONE.value == "none" and AgeBand.FROM_65.value == "65_plus"
    assert {e.value for e in EventType} == {
        "crossing", "inspection", "seizure", "detention", "incident", "liaison_message",
        "count_report",
    }


def test_precursors() -> None:
    assert Drug.ACETIC_ANHYDRIDE in PRECURSORS and Drug.OTHER_PRECURSOR in PRECURSORS
    assert Drug.HEROIN not in PRECURSORS
    assert PRECURSORS <= set(Drug)


def test_iso_codes() -> None:
    assert len(iso_alpha2_codes()) >= 249
    for code in ("AF", "KZ", "KG", "TJ", "TM", "UZ", "US", "MX", "CA"):
        assert is_country(code)
    for bad in ("XX", "ZZ", "tj", "TJK", "", "U"):
        assert not is_country(bad)


def test_neighbour_table_is_symmetric() -> None:
    for country, others in CENTRAL_ASIA_NEIGHBOURS.items():
        for other in others:
            if other in CENTRAL_ASIA:
                assert country in CENTRAL_ASIA_NEIGHBOURS[other], (country, other)
            assert are_neighbours(country, other) and are_neighbours(other, country)
    assert len(LAND_BORDERS) == 15  # 7 inside Central Asia + 8 with CN, RU, AF, IR


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("TJ", "AF", True), ("AF", "TJ", True), ("UZ", "AF", True), ("KZ", "TJ", False),
     ("TJ", "TM", False), ("KZ", "RU", True), ("TM", "IR", True), ("KG", "KG", False),
     ("AF", "PK", False), ("US", "MX", False)],
)
def test_are_neighbours(a: str, b: str, expected: bool) -> None:
    assert are_neighbours(a, b) is expected


def test_same_or_neighbouring() -> None:
    assert same_or_neighbouring("TJ", "TJ")
    assert same_or_neighbouring("TJ", "UZ")
    assert not same_or_neighbouring("TJ", "KZ")


def test_border_of_and_table_membership() -> None:
    assert border_of("TJ", "AF") == border_of("AF", "TJ") == "AF-TJ"
    assert border_of("KZ", "KG") == "KG-KZ"
    assert in_border_table("UZ") and not in_border_table("AF")


@pytest.mark.parametrize(
    ("quantity", "unit", "kg"),
    [(500, "g", 0.5), (2, "kg", 2.0), (3, "l", 3.0), (250, "ml", 0.25), (1000, "tablet", 0.2)],
)
def test_kg_equivalent(quantity: float, unit: str, kg: float) -> None:
    assert to_kg_equivalent(quantity, unit, tablet_mass_mg=200) == pytest.approx(kg)


def test_kg_equivalent_errors() -> None:
    with pytest.raises(ValueError):
        to_kg_equivalent(1, "lb", tablet_mass_mg=200)
    with pytest.raises(ValueError):
        to_kg_equivalent(1, SeizureUnit.TABLET, tablet_mass_mg=0)
