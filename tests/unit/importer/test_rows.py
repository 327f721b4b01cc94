"""Row-level behaviour on small synthetic files: every bad row is a reasoned rejection."""

from __future__ import annotations

import types
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from blo.importer import (
    ImportFileError,
    ImportMapping,
    Mapped,
    Rejected,
    iter_import,
    parse_mapping,
    summarise,
)
from tests.unit.importer.helpers import REPORTED_AT, event_id_fn, make_mapping

HEADER = "Port,Date,Measure,Value\n"


def write(tmp_path: Path, body: str | bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    if isinstance(body, str):
        path.write_text(body, encoding="utf-8")
    else:
        path.write_bytes(body)
    return path


def mapping(**changes: Any) -> ImportMapping:
    return parse_mapping(yaml.safe_dump(make_mapping(**changes)))


def items(path: Path, m: ImportMapping | None = None, **kw: Any) -> list[Mapped | Rejected]:
    kw.setdefault("reported_at", REPORTED_AT)
    return list(iter_import(path, m or mapping(), event_id=event_id_fn(), **kw))


def reasons(result: list[Mapped | Rejected]) -> list[tuple[int, str]]:
    return [(i.line_no, i.reason_code) for i in result if isinstance(i, Rejected)]


def test_bad_rows_become_rejections(tmp_path: Path) -> None:
    lines = [
        "P1,2020-01-01,a,5",        # 2 ok
        "P1,01/02/2020,a,5",        # 3 bad_date
        "P1,2020-02-01,a,-1",       # 4 negative_value
        "P1,2020-03-01,a,",         # 5 missing_value
        "P1,2020-04-01,a,many",     # 6 bad_number
        "P1,2020-05-01,a",          # 7 column_count
        "P1,2020-06-01,z,1",        # 8 unknown_measure
        "P1,2099-01-01,a,1",        # 9 future_period
        "",                         # 10 blank_line
        "P1,2020-01-01,a,6",        # 11 duplicate_key (line 2 has the key)
        ",2020-07-01,a,1",          # 12 missing_value (station)
        "P1,2020-08-01,b,1.5",      # 13 ok
    ]
    path = write(tmp_path, HEADER + "".join(f"{line}\n" for line in lines))
    result = items(path)
    assert reasons(result) == [
        (3, "bad_date"), (4, "negative_value"), (5, "missing_value"), (6, "bad_number"),
        (7, "column_count"), (8, "unknown_measure"), (9, "future_period"), (10, "blank_line"),
        (11, "duplicate_key"), (12, "missing_value"),
    ]
    ok = [i for i in result if isinstance(i, Mapped)]
    assert [(i.line_no, i.events[0]["value"]) for i in ok] == [(2, 5), (13, 1.5)]
    messages = {i.reason_code: i.message for i in result if isinstance(i, Rejected)}
    assert "'01/02/2020'" in messages["bad_date"] and "%Y-%m-%d" in messages["bad_date"]
    assert "fields.value" in messages["negative_value"]
    assert "'z'" in messages["unknown_measure"]
    assert "line 2" in messages["duplicate_key"]
    summary = summarise(result)
    assert (summary.rows, summary.mapped_rows, summary.rejected_rows) == (12, 2, 10)
    assert summary.rejections["missing_value"] == 2


def test_undecodable_bytes_reject_only_their_row(tmp_path: Path) -> None:
    m = mapping(**{"fields.station_id": "X1", "fields.dimension": "{Port}"})
    body = (HEADER + "P1,2020-01-01,a,1\n").encode() + b"P\xe9,2020-02-01,a,1\n" + \
        "Pé,2020-03-01,a,1\n".encode()
    result = items(write(tmp_path, body), m)
    assert reasons(result) == [(3, "bad_encoding")]
    assert [i.events[0]["dimension"] for i in result if isinstance(i, Mapped)] == ["P1", "Pé"]


def test_line_numbers_follow_quoted_newlines(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + 'P1,2020-01-01,a,"\n1"\nP2,bad,a,1\n')
    result = items(path)
    assert reasons(result) == [(4, "bad_date")]
    assert result[0].line_no == 2


def test_text_shapes_of_the_schema_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "P 1,2020-01-01,a,1\n")
    (bad_id,) = items(path)
    assert isinstance(bad_id, Rejected) and bad_id.reason_code == "bad_value"
    assert "fields.station_id: 'X-P 1'" in bad_id.message
    m = mapping(**{"fields.station_id": "X1", "fields.dimension": "{Port}"})
    path = write(tmp_path, HEADER + f"{'p' * 129},2020-01-01,a,1\n", "long.csv")
    (too_long,) = items(path, m)
    assert isinstance(too_long, Rejected) and too_long.reason_code == "bad_value"
    assert too_long.message.startswith("fields.dimension:")


def test_a_row_is_atomic(tmp_path: Path) -> None:
    m = mapping(**{
        "csv.columns": ["Port", "Date", "Count", "Lbs"],
        "fields.measure": None, "fields.value": None, "fields.unit": None,
        "event.emit": [{"measure": "a", "value": "{Count}", "unit": "count"},
                       {"measure": "b", "value": {"column": "Lbs", "scale": 0.45359237},
                        "unit": "kg"}],
    })
    path = write(tmp_path, "Port,Date,Count,Lbs\nP1,2020-01-01,2,10\nP1,2020-02-01,3,-4\n")
    result = items(path, m)
    assert reasons(result) == [(3, "negative_value")]
    (ok,) = [i for i in result if isinstance(i, Mapped)]
    assert [(e["measure"], e["value"], e["unit"]) for e in ok.events] == [
        ("a", 2, "count"), ("b", pytest.approx(4.5359237), "kg")]
    assert ok.events[0]["source_seq"] == 202001 * 10 + 1
    assert ok.events[1]["source_seq"] == 202001 * 10 + 2


def test_file_problems_raise_on_the_call(tmp_path: Path) -> None:
    wrong = write(tmp_path, "Port,Day,Measure,Value\n", "wrong.csv")
    with pytest.raises(ImportFileError, match="does not match csv.columns"):
        iter_import(wrong, mapping(), reported_at=REPORTED_AT, event_id=event_id_fn())
    undeclared = mapping(**{"csv.columns": None})
    with pytest.raises(ImportFileError, match=r"\['Date'\] used by mapping"):
        iter_import(wrong, undeclared, reported_at=REPORTED_AT, event_id=event_id_fn())
    with pytest.raises(ImportFileError, match="no such file"):
        iter_import(tmp_path / "absent.csv", mapping(), reported_at=REPORTED_AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        iter_import(wrong, mapping(), reported_at=datetime(2026, 1, 1))


def test_header_is_read_when_columns_are_not_declared(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffExtra,Value,Measure,Date,Port\nx,7,a,2020-01-01,P1\n")
    result = items(path, mapping(**{"csv.columns": None}))
    (ok,) = result
    assert isinstance(ok, Mapped) and ok.events[0]["value"] == 7


def test_lazy_iterator(tmp_path: Path) -> None:
    it = iter_import(write(tmp_path, HEADER + "P1,2020-01-01,a,1\n"), mapping(),
                     reported_at=REPORTED_AT, event_id=event_id_fn())
    assert isinstance(it, types.GeneratorType)
    assert isinstance(next(it), Mapped)


STATIONS = {
    "valid_from": "2000-01-01",
    "fields": {
        "name": "{Port}", "country": "US",
        "tz": {"column": "Port", "map": {"P1": "America/New_York", "P2": "Asia/Dushanbe"}},
        "neighbour_country": {"column": "Port", "map": {"P1": "CA"}, "unmapped": "empty"},
    },
}


def test_station_record_on_first_mapped_row_only(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "P1,bad,a,1\nP1,2020-01-01,a,1\nP1,2020-02-01,a,1\n"
                 "P2,2020-01-01,a,1\nP3,2020-01-01,a,1\n")
    result = items(path, mapping(stations=STATIONS))
    assert reasons(result) == [(2, "bad_date"), (6, "unmapped_value")]
    got = [(i.line_no, i.station["station_id"] if i.station else None)
           for i in result if isinstance(i, Mapped)]
    assert got == [(3, "X-P1"), (4, None), (5, "X-P2")]
    p1 = next(i for i in result if isinstance(i, Mapped) and i.station)
    assert p1.station is not None
    assert p1.station["valid_from"] == "2000-01-01T00:00:00+00:00"
    assert p1.station["neighbour_country"] == "CA" and p1.station["tz"] == "America/New_York"
    assert p1.events[0]["period_start"] == "2020-01-01T05:00:00+00:00"
    p2 = next(i for i in result if isinstance(i, Mapped) and i.line_no == 5)
    assert p2.station is not None and p2.station["neighbour_country"] is None
    assert p2.events[0]["period_start"] == "2019-12-31T19:00:00+00:00"  # Dushanbe, UTC+5


def test_known_stations_use_the_registry_zone(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "P1,2020-01-01,a,1\n")
    result = items(path, mapping(stations=STATIONS), known_stations={"X-P1": "Asia/Almaty"})
    (ok,) = result
    assert isinstance(ok, Mapped) and ok.station is None
    assert ok.events[0]["period_start"] == "2019-12-31T18:00:00+00:00"  # Almaty, UTC+6 then


def test_bad_registry_zone_rejects_rows(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "P1,2020-01-01,a,1\n")
    result = items(path, known_stations={"X-P1": "Nowhere/Atlantis"})
    assert reasons(result) == [(2, "bad_tz")]


def test_day_period_across_dst_has_its_true_length(tmp_path: Path) -> None:
    m = mapping(**{"time.period": "day", "time.default_tz": "America/New_York"})
    result = items(write(tmp_path, HEADER + "P1,2021-03-14,a,1\n"), m)
    (ok,) = result
    assert isinstance(ok, Mapped)
    e = ok.events[0]
    start, end = (datetime.fromisoformat(e[k]) for k in ("period_start", "period_end"))
    assert (end - start).total_seconds() == 23 * 3600
    assert e["source_seq"] == 20210314 * 10 + 1


def test_explicit_end_column_inclusive(tmp_path: Path) -> None:
    m = mapping(**{
        "csv.columns": ["Port", "Date", "End", "Measure", "Value"],
        "time.period": "explicit", "time.end": "{End}", "time.end_inclusive": True,
        "source_seq.period_key": "yyyymmdd",
    })
    body = "Port,Date,End,Measure,Value\nP1,2020-01-06,2020-01-12,a,1\nP1,2020-01-06,2020-01-05,b,1\n"
    result = items(write(tmp_path, body), m)
    assert reasons(result) == [(3, "bad_period")]
    e = next(i for i in result if isinstance(i, Mapped)).events[0]
    assert (e["period_start"], e["period_end"]) == ("2020-01-06T00:00:00+00:00",
                                                    "2020-01-13T00:00:00+00:00")


def test_fiscal_year_rows(tmp_path: Path) -> None:
    m = mapping(**{
        "csv.columns": ["Port", "FY", "Month", "Measure", "Value"],
        "time.date": None, "time.formats": [],
        "time.fiscal": {"year": {"column": "FY", "transforms": [{"regex": r"^(\d{4})"}]},
                        "month": "{Month}", "first_month": 10},
    })
    body = ("Port,FY,Month,Measure,Value\nP1,2023,OCT,a,1\nP1,2023 (FYTD),Sep,a,1\n"
            "P1,2023,3,b,1\nP1,FY23,JAN,a,1\nP1,2023,Smarch,a,1\n")
    result = items(write(tmp_path, body), m)
    assert reasons(result) == [(5, "bad_value"), (6, "bad_date")]
    starts = [i.events[0]["period_start"][:7] for i in result if isinstance(i, Mapped)]
    assert starts == ["2022-10", "2023-09", "2023-03"]


def test_summary_lines_name_reasons_and_lines(tmp_path: Path) -> None:
    result = items(write(tmp_path, HEADER + "P1,x,a,1\nP1,2020-01-01,a,1\n"))
    lines = summarise(result).lines()
    assert lines[0].startswith("rows 2: mapped 1 (1 events")
    assert "bad_date: 1" in lines[1] and "line 2" in lines[2]
