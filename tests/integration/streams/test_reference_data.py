"""Reference data is validated where it enters (issue 13): an import whose mapping derives
station records the registry refuses publishes nothing; a refused record that reaches the
stations topic anyway is a dead letter and stops nothing; every import run and the rows it
rejected are recorded (`blo imports list/show`); re-importing with a fixed mapping registers
the stations, whatever bad records of them the topic holds."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from blo.localservices.tansu import free_port
from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import Pipeline, crossing, station, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

# Two border ports and one inland office; the mapping writer first gave inland offices the
# post's own country as neighbour (the registry refuses: "must differ from country").
ROWS = [
    ("Laredo", "2001", "MX", "2018-01-01", "Trucks", "100"),
    ("Laredo", "2001", "MX", "2018-02-01", "Trucks", "120"),
    ("Laredo", "2001", "MX", "2018-02-01", "Trucks", "999"),  # duplicate_key
    ("Dallas Inland", "9001", "US", "2018-01-01", "Trucks", "7"),
    ("Dallas Inland", "9001", "US", "2018-02-01", "Trucks", "lots"),  # bad_number
    ("Dallas Inland", "9001", "US", "2018-03-01", "Trucks", "9"),
    ("Nogales", "2604", "MX", "2018-01-01", "Pedestrians", "5000"),
]

MAPPING = """\
version: 1
name: test_ports
csv:
  columns: [Port, Code, Neighbour, Date, Measure, Value]
event:
  type: count_report
fields:
  station_id: "US-{Code}"
  measure: "{Measure}"
  value: "{Value}"
  unit: count
time:
  date: "{Date}"
  formats: ["%Y-%m-%d"]
  period: month
source_seq:
  period_key: yyyymm
  parts:
    - field: measure
      digits: 2
      codes: {Trucks: 1, Pedestrians: 2}
stations:
  valid_from: 2000-01-01
  fields:
    name: "{Port}"
    country: US
    agency: customs
    crossing_point: "{Port}"
    tz: America/Chicago
    neighbour_country: NEIGHBOUR
"""
BROKEN = MAPPING.replace("NEIGHBOUR", '"{Neighbour}"')
# inland offices counted under the northern border, as the fixed mapping does
FIXED = MAPPING.replace("NEIGHBOUR", "{column: Neighbour, map: {MX: MX, US: CA}}")


def write_inputs(tmp: Path) -> tuple[Path, Path, Path]:
    data = tmp / "ports.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Port", "Code", "Neighbour", "Date", "Measure", "Value"])
        w.writerows(ROWS)
    broken, fixed = tmp / "broken.yaml", tmp / "fixed.yaml"
    broken.write_text(BROKEN)
    fixed.write_text(FIXED)
    return data, broken, fixed


def oracle(data: Path) -> dict[str, Any]:
    """What the file holds, by the csv module: accepted rows (first of a key, a number),
    their values per station, and the line of each rejected row."""
    accepted: dict[tuple[str, str, str], float] = {}
    rejected: dict[int, str] = {}
    with data.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for line, (_, code, _, date, measure, value) in enumerate(reader, start=2):
            key = (f"US-{code}", date, measure)
            try:
                v = float(value)
            except ValueError:
                rejected[line] = "bad_number"
                continue
            if key in accepted:
                rejected[line] = "duplicate_key"
                continue
            accepted[key] = v
    per_station: dict[str, float] = {}
    for (st, _, _), v in accepted.items():
        per_station[st] = per_station.get(st, 0.0) + v
    return {"events": len(accepted), "per_station": per_station, "rejected": rejected,
            "rows": len(accepted) + len(rejected)}


def topic_values(p: Pipeline, topic: str) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=None, enable_auto_commit=False,
                      consumer_timeout_ms=2500)
    try:
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, n) for n in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        return [m.value for m in c]
    finally:
        c.close()


def table(stdout: str) -> list[list[str]]:
    """The rows of a `blo` table (header and rule skipped)."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if set(ln.replace(" ", "")) == {"-"}) + 1
    return [ln.split() for ln in lines[start:] if ln != "(no rows)"]


def run_id_of(stdout: str) -> str:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("import run "))
    return line.split()[2].rstrip(":")


def test_a_refused_station_record_on_the_topic_is_a_dead_letter_and_a_fixed_import_registers(
        pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    data, _, fixed = write_inputs(tmp_path)
    w = p.worker()
    w.wait_ready()
    # another producer (an older importer) put a record the registry refuses on the topic
    bad = station("US-9001", "US", "US", "America/Chicago", name="Dallas Inland")
    p.produce([(b"US-9001", json.dumps(bad).encode())], topic=p.topic_stations)
    p.produce([(b"KZ-T1", json.dumps(crossing("KZ-T1", 1)).encode())])

    wait_for(lambda: db.query(
        f"SELECT station_id, details FROM {db.database}.dlq FINAL "
        f"WHERE reason = 'invalid_station_record'"), 60, "the refused station record's letter")
    [(sid, details, topic, elem)] = db.query(
        f"SELECT station_id, details, kafka_topic, element_index FROM {db.database}.dlq FINAL "
        f"WHERE reason = 'invalid_station_record'")
    assert (sid, topic, elem) == ("US-9001", p.topic_stations, -1)
    assert "neighbour_country: must differ from country" in details
    # it stops nothing: a registered station's event is stored, the worker runs on
    wait_for(lambda: final_count(db, "station_id = 'KZ-T1'") == 1, 60, "the good event")
    assert w.alive()
    letters = p.read_dlq_topic(1)
    assert [d["reason"] for d in letters] == ["invalid_station_record"]
    listed = p.blo("dlq", "list", "--reason", "invalid_station_record")
    assert listed.returncode == 0 and "US-9001" in listed.stdout, listed.stderr

    # the refused record does not count as registered: the import registers both stations
    truth = oracle(data)
    res = p.blo("import-csv", str(data), "--mapping", str(fixed))
    assert res.returncode == 0, res.stderr
    assert f"rows published: {truth['events']} ({truth['events']} events); stations " \
           "registered: 3;" in res.stdout
    wait_for(lambda: final_count(db, "event_type = 'count_report'") == truth["events"], 90,
             "the imported reports")
    got = dict(db.query(f"SELECT station_id, sum(value) FROM {db.database}.events FINAL "
                        f"WHERE event_type = 'count_report' GROUP BY station_id"))
    assert got == pytest.approx(truth["per_station"])
    assert db.query(f"SELECT border FROM {db.database}.events FINAL "
                    f"WHERE station_id = 'US-9001' LIMIT 1") == [("CA-US",)]
    # nothing of the import was dead-lettered (no unknown_station after the hold)
    assert db.query(f"SELECT count() FROM {db.database}.dlq FINAL "
                    f"WHERE reason != 'invalid_station_record'") == [(0,)]
    assert w.terminate() == 0


def test_an_invalid_mapping_publishes_nothing_and_every_run_is_recorded(
        pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    data, broken, fixed = write_inputs(tmp_path)
    truth = oracle(data)
    w = p.worker()
    w.wait_ready()  # the schema is migrated
    stations_before = topic_values(p, p.topic_stations)

    refused = p.blo("import-csv", str(data), "--mapping", str(broken))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "nothing was published" in refused.stderr
    # the first row of the inland office (line 5) derived its record
    assert ("line 5: station US-9001: neighbour_country: must differ from country"
            in refused.stderr), refused.stderr
    assert topic_values(p, p.topic_raw) == []
    assert topic_values(p, p.topic_stations) == stations_before

    dry = p.blo("import-csv", str(data), "--mapping", str(fixed), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert topic_values(p, p.topic_raw) == []

    done = p.blo("import-csv", str(data), "--mapping", str(fixed))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: final_count(db, "event_type = 'count_report'") == truth["events"], 90,
             "the imported reports")
    ids = [run_id_of(r.stdout) for r in (refused, dry, done)]

    listed = p.blo("imports", "list")
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert [r[0] for r in rows] == ids[::-1]  # newest first
    by_id = {r[0]: r for r in rows}
    # run started finished(2 cols each) file mapping outcome dry rows events rejected stations
    assert by_id[ids[0]][-6:] == ["refused", "0", str(truth["rows"]), "0",
                                  str(len(truth["rejected"]) + 1), "0"]
    assert by_id[ids[1]][-6:] == ["dry_run", "1", str(truth["rows"]), "0",
                                  str(len(truth["rejected"])), "0"]
    assert by_id[ids[2]][-6:] == ["published", "0", str(truth["rows"]), str(truth["events"]),
                                  str(len(truth["rejected"])), "3"]

    shown = p.blo("imports", "show", ids[0])
    assert shown.returncode == 0, shown.stderr
    expected = {**truth["rejected"], 5: "invalid_station_record"}
    got = {int(r[0]): r[1] for r in table(shown.stdout)}
    assert got == expected
    head = dict(ln.split(None, 1) for ln in shown.stdout.split("\n\n")[0].splitlines()
                if not ln.startswith(("mapping text", "rejected rows")))
    assert head["file_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert head["mapping_sha256"] == hashlib.sha256(BROKEN.encode()).hexdigest()
    assert (head["outcome"], head["mapping"]) == ("refused", str(broken))
    [(text,)] = db.query(f"SELECT mapping_text FROM {db.database}.import_runs FINAL "
                         f"WHERE run_id = '{ids[2]}'")
    assert text == FIXED
    missing = p.blo("imports", "show", "0123456789abcdef")
    assert missing.returncode == 1 and "no import run" in missing.stderr
    assert w.terminate() == 0


def test_stations_load_refuses_a_file_with_invalid_records(pipeline, tmp_path: Path) -> None:
    p, _ = pipeline
    f = tmp_path / "stations.csv"
    good = station("US-1", "US", "MX", "America/Chicago")
    with f.open("w", newline="") as out:
        cols = [k for k, v in good.items() if v is not None]
        w = csv.DictWriter(out, cols)
        w.writeheader()
        w.writerow({k: good[k] for k in cols})
        w.writerow({**{k: good[k] for k in cols}, "station_id": "US-2", "neighbour_country": "US"})
        w.writerow({**{k: good[k] for k in cols}, "station_id": "US-3", "tz": "Mars/Base"})
    before = topic_values(p, p.topic_stations)
    res = p.blo("stations", "load", str(f))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "line 3: neighbour_country: must differ from country" in res.stderr
    assert "line 4: tz: Input should be an IANA time zone name" in res.stderr
    assert topic_values(p, p.topic_stations) == before


def test_embedded_runs_are_recorded_through_the_door_and_read_without_a_worker(
        kafka_broker, tmp_path: Path) -> None:
    chdb_dir = tmp_path / "chdb"
    p = Pipeline(kafka_broker.bootstrap, f"chdb://{chdb_dir}", "blo", tmp_path)
    p.create_topics()
    data, _, fixed = write_inputs(tmp_path)
    truth = oracle(data)
    w = p.worker(BLO_API_PORT=str(free_port()))
    try:
        w.wait_ready()
        # the worker holds the directory: the run goes in through its admin door
        done = p.blo("import-csv", str(data), "--mapping", str(fixed))
        assert done.returncode == 0, done.stderr
        run_id = run_id_of(done.stdout)
        wait_for(lambda: w.query("SELECT count() FROM blo.api_audit WHERE path = "
                                 "'/api/imports' AND status = 200") == [[1]], 30,
                 "the door's audit row of the run's record")
        listed = p.blo("imports", "list")
        assert listed.returncode == 0, listed.stderr
        assert [r[0] for r in table(listed.stdout)] == [run_id]
        wait_for(lambda: w.query("SELECT count() FROM blo.events FINAL")[0][0]
                 == truth["events"], 90, "the imported reports")
        assert w.terminate() == 0
        # no worker: the CLI opens the directory itself, to write and to read
        dry = p.blo("import-csv", str(data), "--mapping", str(fixed), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        shown = p.blo("imports", "show", run_id)
        assert shown.returncode == 0, shown.stderr
        assert {int(r[0]): r[1] for r in table(shown.stdout)} == truth["rejected"]
        listed = p.blo("imports", "list")
        assert [r[0] for r in table(listed.stdout)] == [run_id_of(dry.stdout), run_id]
    finally:
        p.kill_workers()
