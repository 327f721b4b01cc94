"""Station records of an import are judged by the registry's own schema, and "registered"
means accepted by it (blo/importer/stations.py)."""

from __future__ import annotations

import json
from pathlib import Path

from blo.importer import Mapped, iter_import, parse_mapping
from blo.importer.records import StationRecordDict
from blo.importer.stations import check_station, registered_stations
from schemas.station import StationRecord
from tests.unit.importer.helpers import REPORTED_AT

MAPPING = """\
version: 1
name: t
csv: {columns: [Port, Code, Neighbour, Date, Value]}
event: {type: count_report}
fields: {station_id: "US-{Code}", measure: Trucks, value: "{Value}", unit: count}
time: {date: "{Date}", formats: ["%Y-%m-%d"], period: month}
source_seq: {period_key: yyyymm, parts: []}
stations:
  valid_from: 2000-01-01
  fields: {name: "{Port}", country: US, agency: customs, crossing_point: "{Port}",
           tz: America/Chicago, neighbour_country: "{Neighbour}"}
"""


def derived(tmp_path: Path, rows: list[str]) -> list[tuple[int, StationRecordDict]]:
    f = tmp_path / "p.csv"
    f.write_text("Port,Code,Neighbour,Date,Value\n" + "\n".join(rows) + "\n")
    items = iter_import(f, parse_mapping(MAPPING), reported_at=REPORTED_AT)
    return [(i.line_no, i.station) for i in items if isinstance(i, Mapped) and i.station]


def test_a_record_the_registry_accepts_passes_and_one_it_refuses_names_line_and_field(
        tmp_path: Path) -> None:
    [(line1, good), (line2, bad)] = derived(tmp_path, [
        "Laredo,2001,MX,2018-01-01,1", "Laredo,2001,MX,2018-02-01,2",
        "Dallas,9001,US,2018-01-01,3"])
    assert check_station(good, line1) is None
    StationRecord.model_validate(good)  # the same judge
    problem = check_station(bad, line2)
    assert problem is not None
    assert problem.describe() == ("line 4: station US-9001: neighbour_country: must differ "
                                  "from country")


def test_every_field_the_registry_refuses_is_listed(tmp_path: Path) -> None:
    [(line, rec)] = derived(tmp_path, ["Dallas,9001,US,2018-01-01,3"])
    rec = {**rec, "lat": 10.0}  # lat without lon
    problem = check_station(rec, line)  # type: ignore[arg-type]
    assert problem is not None and len(problem.problems) == 1
    rec = {**rec, "tz": "Mars/Base"}
    problem = check_station(rec, line)  # type: ignore[arg-type]
    assert problem is not None and any(p.startswith("tz:") for p in problem.problems)


def station(sid: str, neighbour: str | None, tz: str = "America/Chicago") -> bytes:
    return json.dumps({"station_id": sid, "name": sid, "country": "US", "agency": "customs",
                       "crossing_point": sid, "neighbour_country": neighbour, "tz": tz,
                       "valid_from": "2000-01-01T00:00:00Z"}).encode()


def test_registered_means_accepted_by_the_registry() -> None:
    values = [station("US-1", "MX"), station("US-2", "ZZ"), station("US-3", "US"), None,
              b"not json", station("US-4", "CA", "America/Denver"),
              station("US-4", "CA", "America/Phoenix"), station("US-5", None)]
    # US-2 (no such country) and US-3 (its own country as neighbour) are refused; US-5 is an
    # interior post (no neighbour), which the registry accepts
    assert registered_stations(values) == {"US-1": "America/Chicago",
                                           "US-4": "America/Phoenix",
                                           "US-5": "America/Chicago"}
    # a valid record of a station after a refused one registers it
    assert registered_stations([station("US-3", "US"), station("US-3", "MX")]) == {
        "US-3": "America/Chicago"}
