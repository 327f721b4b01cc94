"""Station records, registry history lookups, station files and the shipped seed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.countries import are_neighbours
from schemas.station import Registry, StationFileError, StationRecord, load_station_file
from schemas.vocab import Agency
from tests.unit.schemas.factories import DROP, make_station

SEED = Path(__file__).resolve().parents[3] / "blo" / "data" / "stations_seed.yaml"


def record(**overrides: Any) -> StationRecord:
    return StationRecord.model_validate(make_station(**overrides))


def at(reg: Registry, when: datetime, station_id: str = "TJ-NIZHNIY-PYANJ") -> StationRecord:
    found = reg.lookup(station_id, when)
    assert found is not None
    return found


def rule_fields(**overrides: Any) -> set[str]:
    with pytest.raises(ValidationError) as info:
        record(**overrides)
    out = set()
    for err in info.value.errors():
        ctx = err.get("ctx") or {}
        out.add(ctx["field"] if err["type"] == "rule" else ".".join(map(str, err["loc"])))
    return out


def test_valid_record() -> None:
    r = record()
    assert r.border == "AF-TJ"
    assert r.agency is Agency.JOINT
    assert r.valid_from == datetime(2018, 1, 1, tzinfo=UTC)
    assert r.active is True


def test_defaults() -> None:
    r = record(paired_blo=DROP, lat=DROP, lon=DROP, coord_source=DROP, coord_approximate=DROP,
               active=DROP)
    assert (r.paired_blo, r.lat, r.lon, r.coord_source) == (None, None, None, None)
    assert r.coord_approximate is True and r.active is True


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"station_id": "bad id"}, "station_id"),
        ({"country": "XX"}, "country"),
        ({"country": "tj"}, "country"),
        ({"neighbour_country": "TJ"}, "neighbour_country"),
        ({"neighbour_country": "KZ"}, "neighbour_country"),  # TJ and KZ share no border
        ({"country": "CN", "neighbour_country": "TM"}, "neighbour_country"),  # TM is in table
        ({"paired_blo": "TJ-NIZHNIY-PYANJ"}, "paired_blo"),
        ({"lat": 91}, "lat"),
        ({"lon": -180.5}, "lon"),
        ({"lat": DROP}, "lat"),
        ({"tz": "Asia/Nowhere"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"tz": ""}, "tz"),
        ({"agency": "army"}, "agency"),
        ({"valid_from": "2018-01-01T00:00:00"}, "valid_from"),
        ({"valid_from": "2018-01-01"}, "valid_from"),
        ({"name": ""}, "name"),
        ({"active": "yes"}, "active"),
        ({"owner": "someone"}, "owner"),
        ({"border": "AF-TJ"}, "border"),
    ],
)
def test_record_rules(overrides: dict[str, Any], field: str) -> None:
    assert field in rule_fields(**overrides)


@pytest.mark.parametrize(
    ("country", "neighbour"),
    [("US", "MX"), ("US", "CA"), ("AF", "PK"), ("AF", "TJ"), ("CN", "KZ"), ("KZ", "RU")],
)
def test_neighbours_outside_or_inside_the_table(country: str, neighbour: str) -> None:
    assert record(country=country, neighbour_country=neighbour, tz="UTC").border


@pytest.mark.parametrize("empty", [DROP, None, ""])
def test_an_interior_post_has_no_neighbour_and_no_border(empty: object) -> None:
    r = record(station_id="TJ-DUSHANBE-AIRPORT", crossing_point="Dushanbe airport",
               neighbour_country=empty, paired_blo=empty)
    assert (r.neighbour_country, r.border, r.paired_blo, r.interior) == (None, "", None, True)
    assert record().interior is False
    again = StationRecord.model_validate_json(r.model_dump_json())
    assert again == r and again.border == ""


def test_an_interior_post_may_have_a_partner_abroad() -> None:
    r = record(station_id="KZ-ALMATY-AIRPORT", country="KZ", neighbour_country=None,
               paired_blo="TR-ISTANBUL-AIRPORT")
    assert (r.border, r.paired_blo) == ("", "TR-ISTANBUL-AIRPORT")


@pytest.mark.parametrize(
    ("neighbour", "field"),
    [("TJ", "neighbour_country"), ("KZ", "neighbour_country"), ("tj", "neighbour_country"),
     ("ZZ", "neighbour_country"), (" ", "neighbour_country"), (0, "neighbour_country")],
)
def test_a_given_neighbour_is_still_checked(neighbour: object, field: str) -> None:
    assert field in rule_fields(neighbour_country=neighbour)


def test_the_shipped_interior_example_is_an_interior_post() -> None:
    [r] = load_station_file(SEED.parent / "examples" / "interior-station.yaml")
    assert (r.station_id, r.neighbour_country, r.border, r.interior) == (
        "KZ-ALMATY-AIRPORT", None, "", True)


def test_station_json_round_trip() -> None:
    r = record(valid_from="2018-01-01T05:00:00+05:00")
    again = StationRecord.model_validate_json(r.model_dump_json())
    assert again == r


# -- registry ----------------------------------------------------------------------------

T0 = datetime(2018, 1, 1, tzinfo=UTC)


def test_lookup_by_valid_from() -> None:
    reg = Registry([record(), record(valid_from="2021-06-01T00:00:00Z", name="Nijniy Pyanj 2")])
    assert at(reg, datetime(2020, 1, 1, tzinfo=UTC)).name == "Nijniy Pyanj"
    at_change = datetime(2021, 6, 1, 5, tzinfo=timezone(timedelta(hours=5)))  # same instant
    assert at(reg, at_change).name == "Nijniy Pyanj 2"
    just_before = datetime(2021, 5, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert at(reg, just_before).name == "Nijniy Pyanj"
    assert at(reg, datetime(2030, 1, 1, tzinfo=UTC)).name == (
        "Nijniy Pyanj 2"
    )


def test_event_before_first_entry_and_unknown_station() -> None:
    reg = Registry([record()])
    assert reg.lookup("TJ-NIZHNIY-PYANJ", T0 - timedelta(microseconds=1)) is None
    assert reg.lookup("TJ-NIZHNIY-PYANJ", T0) is not None
    assert reg.lookup("KZ-NOWHERE", T0) is None
    assert reg.known("TJ-NIZHNIY-PYANJ") and not reg.known("KZ-NOWHERE")
    assert reg.earliest("TJ-NIZHNIY-PYANJ") == record()
    assert reg.earliest("KZ-NOWHERE") is None and reg.latest("KZ-NOWHERE") is None


def test_correction_with_later_valid_from_and_same_valid_from() -> None:
    reg = Registry()
    reg.upsert(record(lat=37.0))
    reg.upsert(record(lat=37.25, valid_from="2022-01-01T00:00:00Z"))  # a later correction
    reg.upsert(record(lat=37.1))  # same valid_from: replaces the first entry
    assert [r.lat for r in reg.history("TJ-NIZHNIY-PYANJ")] == [37.1, 37.25]
    assert at(reg, datetime(2019, 1, 1, tzinfo=UTC)).lat == 37.1
    latest = reg.latest("TJ-NIZHNIY-PYANJ")
    assert latest is not None and latest.lat == 37.25
    assert len(reg) == 1


def test_out_of_order_upserts_are_sorted() -> None:
    reg = Registry()
    for year in (2023, 2019, 2021):
        reg.upsert(record(valid_from=f"{year}-01-01T00:00:00Z", name=f"v{year}"))
    assert [r.name for r in reg.history("TJ-NIZHNIY-PYANJ")] == ["v2019", "v2021", "v2023"]
    assert at(reg, datetime(2022, 7, 1, tzinfo=UTC)).name == "v2021"


def test_registry_counts_stations() -> None:
    reg = Registry([record(), record(station_id="TJ-ISHKASHIM", paired_blo=None)])
    assert len(reg) == 2 and "TJ-ISHKASHIM" in reg
    assert list(reg.station_ids()) == ["TJ-NIZHNIY-PYANJ", "TJ-ISHKASHIM"]
    assert reg.history("KZ-NOWHERE") == ()


def test_lookup_rejects_naive_time() -> None:
    with pytest.raises(ValueError):
        Registry([record()]).lookup("TJ-NIZHNIY-PYANJ", datetime(2020, 1, 1))


# -- files -------------------------------------------------------------------------------

CSV_HEADER = "station_id,name,country,agency,crossing_point,neighbour_country,lat,lon,tz,valid_from"


def test_load_csv(tmp_path: Path) -> None:
    path = tmp_path / "ports.csv"
    path.write_text(
        CSV_HEADER + ",coord_approximate\n"
        'US-2506,Laredo,US,customs,"Laredo, TX",MX,27.5,-99.5,America/Chicago,'
        "2018-01-01T00:00:00Z,false\n"
        "US-0115,Calais,US,customs,Calais,CA,,,America/New_York,2018-01-01T00:00:00Z,\n",
        encoding="utf-8",
    )
    laredo, calais = load_station_file(path)
    assert laredo.lat == 27.5 and laredo.crossing_point == "Laredo, TX"
    assert laredo.coord_approximate is False and laredo.border == "MX-US"
    assert calais.lat is None and calais.coord_approximate is True


def test_bad_csv_row_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "ports.csv"
    path.write_text(
        CSV_HEADER + "\n"
        "US-2506,Laredo,US,customs,Laredo,MX,27.5,-99.5,America/Chicago,2018-01-01T00:00:00Z\n"
        "US-0115,Calais,US,customs,Calais,CA,95,-67.3,America/New_York,2018-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    with pytest.raises(StationFileError) as info:
        load_station_file(path)
    message = str(info.value)
    assert "ports.csv" in message and "line 3" in message and "lat" in message


def test_csv_unknown_column_and_extra_cells(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("station_id,colour\nX1,red\n", encoding="utf-8")
    with pytest.raises(StationFileError, match="line 1: unknown columns: colour"):
        load_station_file(path)
    path.write_text("station_id,name\nX1,a,b\n", encoding="utf-8")
    with pytest.raises(StationFileError, match="line 2: more cells"):
        load_station_file(path)


def test_csv_empty_neighbour_is_an_interior_post(tmp_path: Path) -> None:
    path = tmp_path / "interior.csv"
    path.write_text(
        f"{CSV_HEADER}\n"
        "US-CBP-CHICAGO,Chicago Field Office,US,customs,Chicago,,,,America/Chicago,"
        "2000-01-01T00:00:00Z\n"
        "US-LAREDO,Laredo,US,customs,Laredo,MX,,,America/Chicago,2000-01-01T00:00:00Z\n",
        encoding="utf-8")
    chicago, laredo = load_station_file(path)
    assert (chicago.neighbour_country, chicago.border) == (None, "")
    assert (laredo.neighbour_country, laredo.border) == ("MX", "MX-US")


def test_load_json_and_yaml(tmp_path: Path) -> None:
    js = tmp_path / "s.json"
    js.write_text(json.dumps({"stations": [make_station()]}), encoding="utf-8")
    assert load_station_file(js) == [record()]
    js.write_text(json.dumps([make_station(), make_station(lat=91)]), encoding="utf-8")
    with pytest.raises(StationFileError, match=r"s\.json: entry 1: lat"):
        load_station_file(js)
    ym = tmp_path / "s.yaml"
    ym.write_text("- station_id: KZ-KORDAI\n  name: Kordai\n  country: KZ\n", encoding="utf-8")
    with pytest.raises(StationFileError, match=r"s\.yaml: entry 0: agency: .*missing"):
        load_station_file(ym)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [("s.yaml", "a: [", "not valid YAML"), ("s.json", "{", "not valid JSON"),
     ("s.yaml", "just text", "expected a list"), ("s.txt", "", "unsupported file type")],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StationFileError, match=match):
        load_station_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StationFileError, match="cannot read"):
        load_station_file(tmp_path / "nope.yaml")


# -- the shipped seed --------------------------------------------------------------------


def test_seed_loads_and_is_consistent() -> None:
    stations = load_station_file(SEED)
    by_id = {s.station_id: s for s in stations}
    assert len(by_id) == len(stations) >= 16
    for must in ("KZ-KORDAI", "KZ-KONYSBAEV", "TJ-PAKHTAOBOD", "UZ-KUDUKLI", "UZ-ALAT",
                 "TJ-NIZHNIY-PYANJ", "TJ-ISHKASHIM", "TJ-KYZYL-ART", "TJ-FOTEHOBOD", "UZ-OYBEK"):
        assert must in by_id
    for s in stations:
        assert s.station_id.startswith(s.country + "-") and s.station_id.isupper()
        assert s.coord_approximate and s.coord_source and s.lat is not None
        assert s.valid_from == datetime(2018, 1, 1, tzinfo=UTC)
        assert are_neighbours(s.country, s.neighbour_country)
        if s.paired_blo is not None:
            peer = by_id[s.paired_blo]
            assert peer.paired_blo == s.station_id, f"{s.station_id} -> {peer.station_id}"
            assert (peer.country, peer.neighbour_country) == (s.neighbour_country, s.country)
            assert peer.crossing_point == s.crossing_point


def test_seed_pairs_and_zones() -> None:
    by_id = {s.station_id: s for s in load_station_file(SEED)}
    assert by_id["TJ-PAKHTAOBOD"].paired_blo == "UZ-KUDUKLI"
    assert by_id["TJ-FOTEHOBOD"].paired_blo == "UZ-OYBEK"
    zones = {"KZ": "Asia/Almaty", "TJ": "Asia/Dushanbe", "UZ": "Asia/Tashkent",
             "KG": "Asia/Bishkek", "TM": "Asia/Ashgabat", "AF": "Asia/Kabul"}
    for s in by_id.values():
        assert s.tz == zones[s.country], s.station_id


def test_every_invalid_record_of_a_file_is_listed(tmp_path: Path) -> None:
    js = tmp_path / "s.json"
    js.write_text(json.dumps([make_station(lat=91), make_station(),
                              make_station(tz="Mars/Base")]), encoding="utf-8")
    with pytest.raises(StationFileError) as info:
        load_station_file(js)
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{js}: entry 0: lat")
    assert problems[1].startswith(f"{js}: entry 2: tz")


@pytest.mark.parametrize("valid_from", ["2018-01-01T00:00Z", "2018-01-01T00:00:00+0500",
                                        "2018-01-01T00:00:00.1234567891Z"])
def test_a_registry_record_read_from_json_keeps_taking_other_iso_forms(valid_from: str
                                                                       ) -> None:
    # The registry topic is compacted and kept for good: a record once read from JSON must
    # keep registering its station (events' timestamps, validated from JSON on their fast
    # path, take the RFC 3339 pattern only; a Python dict never took these forms).
    rec = StationRecord.model_validate_json(json.dumps(make_station(valid_from=valid_from)))
    assert rec.valid_from.tzinfo is not None
    assert rec.valid_from.year == 2018
    with pytest.raises(ValidationError):
        StationRecord.model_validate(make_station(valid_from=valid_from))
