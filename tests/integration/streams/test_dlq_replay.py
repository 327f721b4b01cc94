"""`blo dlq replay`: a station registered too late loses nothing — its dead-lettered events
are re-published once the cause is fixed, and land exactly once."""

from __future__ import annotations

import json

import pytest

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import crossing, station, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_late_station_dead_letters_are_replayed_exactly_once(pipeline, tmp_path) -> None:
    p, db = pipeline
    w = p.worker(BLO_INGEST_HOLD_UNKNOWN_STATION_S="1")
    w.wait_ready()
    late = [crossing("TM-LATE", i) for i in range(40)]
    known = [crossing("KZ-T1", i) for i in range(10)]
    records = [(e["station_id"].encode(), json.dumps(e).encode()) for e in late + known]
    # half of the late station's events travel as one batched record
    records.append((b"TM-LATE", json.dumps([crossing("TM-LATE", 100 + i) for i in range(20)])
                    .encode()))
    p.produce(records)
    dlq_rows = lambda: int(db.query(
        f"SELECT count() FROM {db.database}.dlq FINAL WHERE reason = 'unknown_station'")[0][0])
    wait_for(lambda: dlq_rows() >= 60, 60, "60 unknown_station dead letters")
    wait_for(lambda: final_count(db) >= 10, 60, "the known station's events")
    assert final_count(db, "station_id = 'TM-LATE'") == 0

    listed = p.blo("dlq", "list", "--reason", "unknown_station", "--limit", "100")
    rows = [ln for ln in listed.stdout.splitlines() if "unknown_station  TM-LATE" in ln]
    assert listed.returncode == 0 and len(rows) == 60, listed.stdout

    f = tmp_path / "late.json"
    f.write_text(json.dumps([station("TM-LATE", "TM", "UZ", "Asia/Ashgabat")]))
    assert p.blo("stations", "load", str(f)).returncode == 0
    dry = p.blo("dlq", "replay", "--reason", "unknown_station", "--dry-run")
    assert "would re-publish 60" in dry.stdout, dry.stdout + dry.stderr
    res = p.blo("dlq", "replay", "--reason", "unknown_station")
    assert res.returncode == 0 and "re-published 60" in res.stdout, res.stdout + res.stderr
    wait_for(lambda: final_count(db, "station_id = 'TM-LATE'") >= 60, 90, "replayed events")
    again = p.blo("dlq", "replay", "--reason", "unknown_station")  # stored: nothing to do
    assert again.returncode == 0 and "re-published 0" in again.stdout, again.stdout
    assert "skipped: 60 (already stored" in again.stdout, again.stdout
    got = db.query(f"SELECT toString(event_id), country FROM {db.database}.events FINAL "
                   "WHERE station_id = 'TM-LATE'")
    assert sorted(r[0] for r in got) == sorted(
        [e["event_id"] for e in late] + [json.loads(records[-1][1])[i]["event_id"]
                                         for i in range(20)])
    assert {r[1] for r in got} == {"TM"}
    m = w.metrics()
    assert any(k.startswith("blo_consumer_lag_records{") for k in m), "lag per partition"
    w.terminate()
