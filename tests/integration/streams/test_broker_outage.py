"""The worker and a Kafka broker that stops answering, on a real Tansu broker of the test's own
and the session's ClickHouse 18.16 server.

Tansu keeps its topics in memory (a restart loses them), so an outage is a pause: SIGSTOP
(the port still accepts connections, nothing answers, like a hung or partitioned broker)
and SIGCONT. Expected of a long-running consumer: it stays up, says so once (not once per
retry), answers ``/readyz`` 503 with the reason, carries on by itself afterwards, and the
counts are exact. A worker started against a closed port waits for its broker the same way.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker, free_port
from sinks.clickhouse import ServerDatabase
from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import (
    TEST_STATIONS,
    Pipeline,
    WorkerProc,
    crossing,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PAUSE_S = 60.0
GHOST = "KZ-GHOST"  # never registered: held BLO_INGEST_HOLD_UNKNOWN_STATION_S, then dead-lettered
# a line about the broker or its clients (ours, aiokafka's, kafka-python's, Faust's transport)
BROKER_LINE = re.compile(r"kafka|broker|aiokafka|coordinator|fetch|metadata|node",
                         re.IGNORECASE)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker only this test pauses; SIGCONT before stopping, whatever happened."""
    broker = TansuBroker(workdir=tmp_path / "tansu")
    broker.start()
    try:
        yield broker
    finally:
        if broker.running:
            broker.send_signal(signal.SIGCONT)
        broker.stop()


@pytest.fixture
def outage_pipeline(own_broker: TansuBroker, clickhouse_server: ClickHouseServer,
                    make_clickhouse_db: Any, tmp_path: Path
                    ) -> Iterator[tuple[Pipeline, ServerDatabase, TansuBroker]]:
    db: ServerDatabase = make_clickhouse_db(migrated=False)
    p = Pipeline(own_broker.bootstrap, clickhouse_server.url(db.database), db.database,
                 tmp_path)
    p.create_topics()
    p.load_stations(TEST_STATIONS)
    yield p, db, own_broker
    p.kill_workers()


def _readyz(w: WorkerProc) -> tuple[int | None, dict[str, Any]]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(w.base + "/readyz", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return None, {}


def _served(answer: tuple[int | None, dict[str, Any]]
            ) -> tuple[int | None, dict[str, Any]] | None:
    return answer if answer[0] is not None else None


class Stations:
    """Stations sending all along, at least once: a chunk whose delivery failed (the broker
    paused) is sent again, so every event reaches the broker; duplicates must collapse."""

    def __init__(self, p: Pipeline, per_chunk: int = 20, every_s: float = 0.5) -> None:
        self.p, self.per_chunk, self.every_s = p, per_chunk, every_s
        self.sent: dict[str, dict[str, Any]] = {}
        self.resent_chunks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(300)
        assert not self._thread.is_alive(), "the stations' producer did not finish"
        assert self.error is None, self.error

    def _run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.p.bootstrap, acks="all",
                                     request_timeout_ms=10_000, max_block_ms=300_000)
            seq = 0
            while not self._stop.is_set():
                chunk = []
                for _ in range(self.per_chunk):
                    seq += 1
                    sid = TEST_STATIONS[seq % len(TEST_STATIONS)]["station_id"]
                    chunk.append(crossing(sid, seq))
                self._deliver(producer, chunk)
                for e in chunk:
                    self.sent[e["event_id"]] = e
                self._stop.wait(self.every_s)
            producer.close()
        except BaseException as e:  # noqa: BLE001 - reported by finish()
            self.error = e

    def _deliver(self, producer: KafkaProducer, chunk: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + 240
        while True:
            futures = [producer.send(self.p.topic_raw, key=e["station_id"].encode(),
                                     value=json.dumps(e).encode()) for e in chunk]
            try:
                for f in futures:
                    f.get(timeout=60)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.resent_chunks += 1


def _dlq_count(db: ServerDatabase) -> int:
    return int(db.query(f"SELECT count() FROM {db.database}.dlq FINAL")[0][0])


@pytest.mark.parametrize("mode", ["separate", "inline"])
def test_broker_paused_60s_mid_stream_is_waited_out_with_exact_counts(
        outage_pipeline, mode: str) -> None:
    p, db, broker = outage_pipeline
    w = p.worker(BLO_INGEST_HOLD_UNKNOWN_STATION_S="20", BLO_INGEST_PROCESS=mode)
    w.wait_ready()
    stations = Stations(p)
    stations.start()
    wait_for(lambda: final_count(db) >= 100, 60, "the first events written")
    # held 20 s for their unknown station, then dead-lettered: the dead letters are produced
    # while the broker is paused (the produce that used to fail after 40 s and stop the worker)
    ghosts = [crossing(GHOST, 900_000 + i) for i in range(5)]
    p.produce((GHOST.encode(), json.dumps(e).encode()) for e in ghosts)
    wait_for(lambda: w.metric("blo_events_held") >= len(ghosts), 30, "the held events")

    log_before = w.log_path.read_text(errors="replace")
    broker.send_signal(signal.SIGSTOP)
    paused_at = time.monotonic()
    seen: list[tuple[float, int | None, dict[str, Any]]] = []
    try:
        while time.monotonic() - paused_at < PAUSE_S:
            assert w.alive(), f"the worker exited during the outage:\n{w.log_tail(30)}"
            status, body = _readyz(w)
            seen.append((time.monotonic() - paused_at, status, body))
            time.sleep(1.0)
    finally:
        broker.send_signal(signal.SIGCONT)
    resumed_at = time.monotonic()
    during = w.log_path.read_text(errors="replace")[len(log_before):]

    # -- during the pause: alive, 503 with the broker's reason, a handful of lines --------
    unready = [(t, b) for t, s, b in seen if s == 503 and
               b.get("checks", {}).get("broker_connected") is False]
    assert unready, f"/readyz never said the broker was unreachable: {seen[-3:]}"
    first_503 = unready[0][0]
    assert first_503 < 30, f"/readyz said 503 only {first_503:.0f} s into the pause"
    # from then on it stays 503 (no flapping while nothing answers)
    assert all(s == 503 for t, s, _ in seen if t >= first_503 + 1), seen
    reason = unready[-1][1].get("broker_unreachable", "")
    assert f"BLO_KAFKA_BOOTSTRAP={p.bootstrap}" in reason, unready[-1][1]
    assert unready[-1][1]["ready"] is False
    broker_lines = [ln for ln in during.splitlines() if BROKER_LINE.search(ln)]
    print(f"\n{len(broker_lines)} lines about the broker in the {PAUSE_S:.0f} s pause:\n"
          + "\n".join(broker_lines))
    assert len(broker_lines) < 20, "\n".join(broker_lines[:40])
    assert "Traceback" not in during, during[-3000:]
    unreachable = [ln for ln in during.splitlines()
                   if f"Kafka broker unreachable at BLO_KAFKA_BOOTSTRAP={p.bootstrap}" in ln]
    assert 1 <= len(unreachable) <= 2, unreachable  # the Faust process, the ingest process

    # -- after: it carries on by itself, every event once, every dead letter once -----------
    def ready_again() -> bool:
        status, body = _readyz(w)
        return status == 200 and body.get("ready") is True

    wait_for(ready_again, 120, "/readyz 200 after the pause")
    print(f"ready again {time.monotonic() - resumed_at:.0f} s after SIGCONT")
    time.sleep(2.0)
    stations.finish()
    expected = len(stations.sent)
    wait_for(lambda: final_count(db) >= expected, 180,
             f"all {expected} events in ClickHouse")
    wait_for(lambda: _dlq_count(db) >= len(ghosts), 120, "the ghosts' dead letters")
    time.sleep(2.0)  # anything surplus would show up now
    assert final_count(db) == expected
    got = {r[0] for r in db.query(f"SELECT toString(event_id) FROM {db.database}.events FINAL")}
    assert got == set(stations.sent)
    assert _dlq_count(db) == len(ghosts)
    assert w.alive()
    after = w.log_path.read_text(errors="replace")[len(log_before):]
    assert "Kafka broker reachable again after" in after, w.log_tail(40)
    assert w.metric("blo_kafka_broker_up") == 1
    print(f"{expected} events ({stations.resent_chunks} chunks re-sent by the stations), "
          f"{len(ghosts)} dead letters")
    assert w.terminate() == 0


def test_unreachable_bootstrap_at_start_is_named_once_and_waited_for(
        clickhouse_server: ClickHouseServer, make_clickhouse_db: Any, tmp_path: Path) -> None:
    db: ServerDatabase = make_clickhouse_db(migrated=False)
    port = free_port()  # nothing listens here (yet)
    p = Pipeline(f"127.0.0.1:{port}", clickhouse_server.url(db.database), db.database,
                 tmp_path)
    w = p.worker()
    broker: TansuBroker | None = None
    try:
        line = f"Kafka broker unreachable at BLO_KAFKA_BOOTSTRAP=127.0.0.1:{port}"
        wait_for(lambda: line in w.log_path.read_text(errors="replace"), 30,
                 "the line naming BLO_KAFKA_BOOTSTRAP")
        status, body = wait_for(lambda: _served(_readyz(w)), 30, "/readyz while waiting")
        assert status == 503, body
        assert body["checks"]["broker_connected"] is False
        assert "connection refused" in body["broker_unreachable"], body
        time.sleep(20)  # several retries later
        assert w.alive(), w.log_tail(30)
        text = w.log_path.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
        assert sum(line in ln for ln in text.splitlines()) == 1, text
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert len(lines) <= 5, text  # the line, and nothing per retry

        # the broker appears on that port: the worker proceeds by itself
        broker = TansuBroker(port=port, workdir=tmp_path / "tansu").start()
        wait_for(lambda: "Kafka broker at BLO_KAFKA_BOOTSTRAP" in
                 w.log_path.read_text(errors="replace"), 60, "the broker found")
        p.load_stations(TEST_STATIONS)  # the worker created the topics
        w.wait_ready(120)
        events = [crossing(TEST_STATIONS[i % 4]["station_id"], i) for i in range(200)]
        p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
        wait_for(lambda: final_count(db) >= len(events), 120, "the events written")
        time.sleep(1.0)
        assert final_count(db) == len(events)
        assert w.terminate() == 0
    finally:
        p.kill_workers()
        if broker is not None:
            broker.stop()


def test_sigterm_while_waiting_for_the_broker_stops_cleanly(
        clickhouse_server: ClickHouseServer, make_clickhouse_db: Any, tmp_path: Path) -> None:
    db: ServerDatabase = make_clickhouse_db(migrated=False)
    p = Pipeline(f"127.0.0.1:{free_port()}", clickhouse_server.url(db.database), db.database,
                 tmp_path)
    w = p.worker()
    try:
        wait_for(lambda: "BLO_KAFKA_BOOTSTRAP" in w.log_path.read_text(errors="replace"), 30,
                 "the line naming BLO_KAFKA_BOOTSTRAP")
        assert w.terminate(30) == 0, w.log_tail(20)
        assert "Traceback" not in w.log_path.read_text(errors="replace")
    finally:
        p.kill_workers()
