"""The worker under failure, on the real broker and the real ClickHouse 18.16 server (and
embedded chDB): hostile input, a flood of garbage, ClickHouse going away, a station
registered while its events wait. Expectations are computed here from what the test sent."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker
from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import (
    TEST_STATIONS,
    Pipeline,
    WorkerProc,
    crossing,
    station,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

COUNTRY = {s["station_id"]: s["country"] for s in TEST_STATIONS}


def _value(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _compact(obj: Any) -> bytes:
    """How the worker re-encodes one element of a batched record (compact JSON, UTF-8)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _liaison(from_blo: str, to_blo: str, seq: int, at: datetime) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "schema_version": 1,
            "event_type": "liaison_message", "station_id": from_blo,
            "occurred_at": at.isoformat(), "reported_at": at.isoformat(), "source_seq": seq,
            "from_blo": from_blo, "to_blo": to_blo, "kind": "alert", "priority": "urgent"}


# --------------------------------------------------------------------------------------
# 1. hostile input
# --------------------------------------------------------------------------------------
class Plan:
    """Records to send, with what should become of each."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.valid: dict[str, dict[str, Any]] = {}  # event_id → event
        # (record index, reason, element index, the payload the DLQ must keep)
        self.dead: list[tuple[int, str, int, bytes]] = []
        self.seq = 0
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

    def event(self, station_id: str, **kw: Any) -> dict[str, Any]:
        self.seq += 1
        kw.setdefault("at", self.base + timedelta(seconds=self.seq))
        return crossing(station_id, self.seq, **kw)

    def good(self, n: int = 3) -> dict[str, Any]:
        e: dict[str, Any] = {}
        for _ in range(n):
            e = self.event(TEST_STATIONS[self.seq % len(TEST_STATIONS)]["station_id"])
            self.add_valid(e)
        return e

    def add_valid(self, e: dict[str, Any]) -> None:
        self.records.append((e["station_id"].encode(), _value(e)))
        self.valid[e["event_id"]] = e

    def bad(self, key: bytes | None, value: bytes, reason: str, element: int,
            payload: bytes | None = None) -> None:
        self.records.append((key, value))
        self.dead.append((len(self.records) - 1, reason, element, payload or value))
        self.good()


def _hostile_plan() -> tuple[Plan, dict[str, Any]]:
    p = Plan()
    p.good()
    # truncated JSON: the whole record is unusable
    p.bad(b"KZ-T1", _value(p.event("KZ-T1"))[:45], "not_json", -1)
    # wrong types: a single event object is element 0 of its record
    e = p.event("KG-T1")
    e.update(persons="many", vehicles=[1])
    p.bad(b"KG-T1", _value(e), "invalid", 0)
    # not UTF-8
    p.bad(b"KZ-T1", b'{"event_type": "crossing", "station_id": "KZ-T1", "x": "\xff\xfe\xfd"}',
          "not_utf8", -1)
    # over BLO_INGEST_MAX_RECORD_BYTES=4096 (and over the 1024-byte DLQ payload limit)
    e = p.event("UZ-T1")
    e["padding"] = "x" * 6000
    p.bad(b"UZ-T1", _value(e), "too_large", -1)
    # a station nobody registered: held 2 s, then dead-lettered
    p.bad(b"UZ-GHOST", _value(p.event("UZ-GHOST")), "unknown_station", 0)
    # a schema version from the future
    e = p.event("TJ-T1")
    e["schema_version"] = 7
    p.bad(b"TJ-T1", _value(e), "unknown_schema_version", 0)
    # an id conflict: same event_id, other body, sent after the original (same partition)
    original = p.event("KZ-T1", persons=2)
    p.add_valid(original)
    p.good(2)
    p.bad(b"KZ-T1", _value({**original, "persons": 5}), "id_conflict", 0)
    # liaison between posts of non-neighbouring countries (KZ and TJ share no border)
    p.seq += 1
    p.bad(b"KZ-T1", _value(_liaison("KZ-T1", "TJ-T1", p.seq, p.base)), "rule_violation", 0)
    # event time far ahead of the receiver's clock
    e = p.event("KG-T1", at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2))
    p.bad(b"KG-T1", _value(e), "future_event", 0)
    # a JSON scalar is not an event
    p.bad(None, b"42", "not_an_event", -1)
    # a batched record with one bad element among good ones
    a, b, c = p.event("KG-T1"), p.event("KG-T1", persons=-1), p.event("KG-T1")
    p.records.append((b"KG-T1", _value([a, b, c])))
    p.valid[a["event_id"]] = a
    p.valid[c["event_id"]] = c
    p.dead.append((len(p.records) - 1, "invalid", 1, _compact(b)))
    p.good()
    return p, original


def test_hostile_input_is_dead_lettered_and_everything_else_arrives_once(pipeline) -> None:
    p, db = pipeline
    plan, original = _hostile_plan()
    w = p.worker(BLO_INGEST_MAX_RECORD_BYTES="4096", BLO_INGEST_HOLD_UNKNOWN_STATION_S="2",
                 BLO_INGEST_DLQ_PAYLOAD_LIMIT_BYTES="1024")
    w.wait_ready()
    positions = p.produce_positions(plan.records)
    d = db.database

    def dlq_count() -> int:
        return int(db.query(f"SELECT count() FROM {d}.dlq FINAL")[0][0])

    wait_for(lambda: dlq_count() >= len(plan.dead) and final_count(db) >= len(plan.valid),
             120, "every dead letter and every valid event")
    time.sleep(1.0)  # anything extra (a duplicate, a late dead letter) would show now

    # -- the dlq table (readers' view) ----------------------------------------------------
    rows = db.query(
        f"SELECT reason, element_index, payload_size, payload_sha256, kafka_topic, "
        f"kafka_partition, kafka_offset, payload, payload_encoding, payload_truncated, "
        f"station_id, event_id FROM {d}.dlq FINAL")
    assert len(rows) == len(plan.dead)
    got = {(r[5], r[6], r[1]): r for r in rows}
    for index, reason, element, payload in plan.dead:
        partition, offset = positions[index]
        row = got[(partition, offset, element)]
        assert row[0] == reason, (reason, row)
        assert row[2] == len(payload), reason
        assert row[3] == hashlib.sha256(payload).hexdigest(), reason
        assert row[4] == p.topic_raw
        if reason == "not_utf8":
            assert row[8] == "base64" and base64.b64decode(row[7]) == payload
        elif reason == "too_large":
            assert row[9] == 1 and row[7].encode() == payload[:1024]
        else:
            assert row[8] == "utf-8" and row[9] == 0 and row[7].encode() == payload
        if reason == "id_conflict":
            assert row[11] == original["event_id"] and row[10] == "KZ-T1"
        if reason == "unknown_station":
            assert row[10] == "UZ-GHOST"

    # -- the DLQ topic has the same records ------------------------------------------------
    on_topic = p.read_dlq_topic(len(plan.dead))
    topic_facts = Counter((m["reason"], m["source"]["partition"], m["source"]["offset"],
                           m["source"]["element_index"], m["payload_sha256"]) for m in on_topic)
    table_facts = Counter((r[0], r[5], r[6], r[1], r[3]) for r in rows)
    assert topic_facts == table_facts

    # -- every valid event exactly once, the conflicting copy not stored ---------------------
    ids = dict(db.query(f"SELECT toString(event_id), count() FROM {d}.events FINAL "
                        "GROUP BY event_id"))
    assert ids == {eid: 1 for eid in plan.valid}
    persons = db.query(f"SELECT persons FROM {d}.events FINAL "
                       f"WHERE event_id = toUUID('{original['event_id']}')")
    assert persons == [(2,)]
    countries = dict(db.query(f"SELECT toString(event_id), country FROM {d}.events FINAL"))
    assert countries == {eid: COUNTRY[e["station_id"]] for eid, e in plan.valid.items()}

    # -- the worker lives on and counted each reason ------------------------------------------
    assert w.alive()
    expected = Counter(reason for _, reason, _, _ in plan.dead)
    for reason, n in expected.items():
        assert w.metric("blo_events_dead_lettered_total", reason=reason) == n, reason
    assert w.metric("blo_events_dead_lettered_total") == len(plan.dead)
    assert w.metric("blo_events_held") == 0
    assert w.terminate() == 0


# --------------------------------------------------------------------------------------
# 2. the DLQ-ratio guard
# --------------------------------------------------------------------------------------
def test_dlq_flood_stops_the_worker_with_exit_code_3(pipeline) -> None:
    p, db = pipeline
    sent = p.produce((b"KZ-T1", f"garbage {i} {{".encode()) for i in range(1000))
    w = p.worker(BLO_INGEST_DLQ_GUARD_MIN_EVENTS="200", BLO_INGEST_DLQ_GUARD_RATIO="0.9")
    rc = w.wait(120)  # it stops by itself
    out = w.log_path.read_text(errors="replace")
    assert rc == 3, out[-3000:]
    assert "blo worker stopped" in out and "BLO_INGEST_DLQ_GUARD_RATIO" in out
    # the only source, named with its reason
    assert "1 of the 1 stations with events recently are failing — (no station id) (" in out
    assert "not_json" in out
    committed = p.committed_total()
    assert committed <= sent
    dead = int(db.query(f"SELECT count() FROM {db.database}.dlq FINAL")[0][0])
    # the tripping batch's dead letters were written before the stop (never lost), and
    # nothing was committed without its dead letter
    assert dead >= 200 and committed <= dead


# --------------------------------------------------------------------------------------
# 3. ClickHouse goes away for 20 s under a steady stream
# --------------------------------------------------------------------------------------
class SteadyProducer(threading.Thread):
    def __init__(self, bootstrap: str, topic: str, bursts: int, per_burst: int,
                 every_s: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.bursts, self.per_burst, self.every_s = bursts, per_burst, every_s
        self.sent: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
            seq = 0
            for _ in range(self.bursts):
                tick = time.monotonic()
                for _ in range(self.per_burst):
                    st = TEST_STATIONS[seq % len(TEST_STATIONS)]["station_id"]
                    e = crossing(st, seq, at=base + timedelta(milliseconds=seq))
                    producer.send(self.topic, key=st.encode(), value=_value(e))
                    self.sent.append(e["event_id"])
                    seq += 1
                producer.flush()
                time.sleep(max(0.0, self.every_s - (time.monotonic() - tick)))
            producer.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def test_clickhouse_outage_loses_and_doubles_nothing(
        kafka_broker: TansuBroker, fresh_clickhouse_server: ClickHouseServer,
        make_clickhouse_db, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    srv = fresh_clickhouse_server
    db = make_clickhouse_db(server=srv, migrated=False)
    p = Pipeline(kafka_broker.bootstrap, srv.url(db.database), db.database, tmp_path)
    request.addfinalizer(p.kill_workers)
    p.create_topics()
    p.load_stations(TEST_STATIONS)
    w = p.worker(BLO_BATCH_SINK_RETRY_MAX_S="2", BLO_CLICKHOUSE_CONNECT_TIMEOUT_S="2")
    w.wait_ready()
    pid = w.proc.pid

    producer = SteadyProducer(p.bootstrap, p.topic_raw, bursts=80, per_burst=50, every_s=0.5)
    producer.start()  # 4,000 events over ~40 s
    wait_for(lambda: final_count(db) > 0, 60, "the first events in ClickHouse")
    time.sleep(3)

    before = w.metrics()
    srv.stop()
    samples: list[dict[str, float]] = []
    alive_throughout = True
    try:
        down_until = time.monotonic() + 20
        while time.monotonic() < down_until:
            alive_throughout &= w.alive()
            m = w.metrics()
            if m:
                samples.append(m)
            time.sleep(0.5)
    finally:
        srv.start()
    after_outage = samples[-1] if samples else {}

    producer.join(120)
    assert producer.error is None, producer.error
    assert not producer.is_alive()
    n = len(producer.sent)
    assert n == 4000

    retries_before = before.get("blo_sink_retries_total", 0.0)
    retries_during = after_outage.get("blo_sink_retries_total", 0.0)
    max_paused = max((s.get("blo_consumer_paused_partitions", 0.0) for s in samples), default=0)
    max_bp = max((s.get("blo_sink_backpressured", 0.0) for s in samples), default=0)
    mid = samples[len(samples) // 2] if samples else {}
    print(f"\noutage observed over {len(samples)} samples: blo_sink_retries_total "
          f"{retries_before:g} before → {mid.get('blo_sink_retries_total', 0):g} midway → "
          f"{retries_during:g} at the end; max blo_consumer_paused_partitions {max_paused:g}; "
          f"max blo_sink_backpressured {max_bp:g}")
    assert len(samples) >= 10  # /metrics answered while ClickHouse was down
    assert retries_during > mid.get("blo_sink_retries_total", 0.0) > retries_before
    assert max_paused > 0 or max_bp == 1

    wait_for(lambda: final_count(db) >= n, 180, "every event after the outage")
    time.sleep(1.0)
    count, unique = db.query(f"SELECT count(), uniqExact(event_id) FROM {db.database}.events "
                             "FINAL")[0]
    assert (count, unique) == (n, n)
    stored = {r[0] for r in db.query(f"SELECT toString(event_id) FROM {db.database}.events")}
    assert stored == set(producer.sent)
    assert alive_throughout and w.alive() and w.proc.pid == pid
    assert w.metric("blo_sink_backpressured") == 0
    assert w.metric("blo_events_dead_lettered_total") == 0
    assert w.terminate() == 0


# --------------------------------------------------------------------------------------
# 4. a station registered while its events are held
# --------------------------------------------------------------------------------------
def test_station_loaded_live_releases_its_held_events(pipeline) -> None:
    p, db = pipeline
    d = db.database
    w = p.worker(BLO_INGEST_HOLD_UNKNOWN_STATION_S="60")
    w.wait_ready()
    pid = w.proc.pid
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    new = [crossing("UZ-LIVE", i, at=base + timedelta(seconds=i), persons=i % 4 + 1)
           for i in range(25)]
    known = [crossing("KZ-T1", 100 + i, at=base + timedelta(seconds=i)) for i in range(10)]
    records = [(e["station_id"].encode(), _value(e)) for e in new]
    records.insert(5, (b"UZ-LIVE", _value(new[5:8])))  # a batched record of the new post too
    p.produce(records + [(e["station_id"].encode(), _value(e)) for e in known])
    expected_held = len(new) + 3

    wait_for(lambda: w.metric("blo_events_held") >= expected_held, 60, "the events held")
    wait_for(lambda: final_count(db, "station_id = 'KZ-T1'") >= len(known), 60,
             "the known station's events (not blocked by the held ones)")
    assert final_count(db, "station_id = 'UZ-LIVE'") == 0
    assert w.metric("blo_events_held") == expected_held

    file = p.workdir / "new-station.json"
    file.write_text(json.dumps([station("UZ-LIVE", "UZ", "TJ", "Asia/Tashkent")]))
    res = p.blo("stations", "load", str(file))
    assert res.returncode == 0, res.stderr

    wait_for(lambda: final_count(db, "station_id = 'UZ-LIVE'") >= len(new), 60,
             "the held events after the station was loaded")
    time.sleep(1.0)
    rows = db.query(f"SELECT toString(event_id), country, border, persons FROM {d}.events "
                    "FINAL WHERE station_id = 'UZ-LIVE'")
    assert sorted(r[0] for r in rows) == sorted(e["event_id"] for e in new)
    by_id = {e["event_id"]: e for e in new}
    for eid, country, border, persons in rows:
        assert (country, border, persons) == ("UZ", "TJ-UZ", by_id[eid]["persons"])
    assert int(db.query(f"SELECT count() FROM {d}.dlq FINAL")[0][0]) == 0
    assert db.query(f"SELECT country FROM {d}.stations FINAL "
                    "WHERE station_id = 'UZ-LIVE'") == [("UZ",)]
    assert w.metric("blo_events_held") == 0
    assert w.alive() and w.proc.pid == pid  # no restart
    assert w.terminate() == 0
    assert p.committed_total() == len(records) + len(known)


# --------------------------------------------------------------------------------------
# 5. embedded chDB
# --------------------------------------------------------------------------------------
_CHECK_CHDB = """
import json, sys
from blo.settings import parse_clickhouse_url
from sinks.chdb import ChdbDatabase
db = ChdbDatabase(parse_clickhouse_url(sys.argv[1]))
rows = db.query("SELECT toString(event_id) FROM blo.events FINAL")
db.close()
print(json.dumps([r[0] for r in rows]))
"""


def _ids_in_chdb(url: str) -> tuple[list[str], str]:
    """Event ids stored in the chDB directory: in this process when chDB is free here,
    else in a fresh interpreter (chDB opens one directory per process)."""
    from sinks import chdb as chdb_module

    if not chdb_module._OPEN:  # no chDB session open in this test process
        from blo.settings import parse_clickhouse_url
        from sinks.chdb import ChdbDatabase

        db = ChdbDatabase(parse_clickhouse_url(url))
        try:
            return [str(r[0]) for r in db.query("SELECT toString(event_id) FROM "
                                                 "blo.events FINAL")], "this process"
        finally:
            db.close()
    out = subprocess.run([sys.executable, "-c", _CHECK_CHDB, url], check=False,
                         capture_output=True,
                         text=True, timeout=120, env=os.environ.copy(),
                         cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), "a subprocess"


def test_embedded_chdb_worker_stores_every_event_once(
        kafka_broker: TansuBroker, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    chdb_dir = tmp_path / "chdb"
    url = f"chdb://{chdb_dir}"
    p = Pipeline(kafka_broker.bootstrap, url, "blo", tmp_path)
    request.addfinalizer(p.kill_workers)
    p.create_topics()
    p.load_stations(TEST_STATIONS)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = [crossing(TEST_STATIONS[i % 4]["station_id"], i, at=base + timedelta(seconds=i))
              for i in range(1500)]
    w: WorkerProc = p.worker()
    w.wait_ready()
    p.produce((e["station_id"].encode(), _value(e)) for e in events)

    def count() -> int:
        return int(w.query("SELECT count() FROM blo.events FINAL")[0][0])

    wait_for(lambda: count() >= len(events), 120, "every event, read through /api/query")
    time.sleep(1.0)
    total, unique = w.query("SELECT count(), uniqExact(event_id) FROM blo.events FINAL")[0]
    assert (int(total), int(unique)) == (len(events), len(events))
    by_station = dict(w.query("SELECT station_id, count() FROM blo.events FINAL "
                              "GROUP BY station_id"))
    assert {k: int(v) for k, v in by_station.items()} == dict(
        Counter(e["station_id"] for e in events))
    assert w.terminate() == 0

    # a restart rebuilds the window state from chDB (same SQL as on the server) and the
    # window rows stay those of the events: one per hour and station, none counted twice
    w2 = p.worker()
    w2.wait_ready()
    wait_for(lambda: w2.metric("blo_window_restores_total") >= 1, 60, "a window restore")
    time.sleep(2.5)  # ticks after the restore
    hourly = w2.query("SELECT station_id, sum(events) FROM blo.window_stats FINAL "
                      "WHERE window_kind = '1h' GROUP BY station_id")
    assert {k: int(v) for k, v in hourly} == dict(Counter(e["station_id"] for e in events))
    assert w2.terminate() == 0

    ids, where = _ids_in_chdb(url)
    print(f"\nchDB directory re-opened in {where}")
    assert sorted(ids) == sorted(e["event_id"] for e in events)
