"""At-least-once through rebalances under live traffic, on the real broker and ClickHouse
server: events keep arriving while a second worker joins the group and while a worker
leaves it (stopped, or killed), and every event ends up stored exactly once in the
readers' view — none lost at a hand-over of partitions, none counted twice.

(A compose test once saw 52 of ~128 events stored after publishing during a first
rebalance, never reproduced: these tests publish *through* the rebalances on purpose.)
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from sinks.clickhouse import ServerDatabase
from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import (
    TEST_STATIONS,
    Pipeline,
    WorkerProc,
    crossing,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 400  # events/s offered, a station per partition
SECONDS = 45


def _metric_on_port(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith(name) and not line.startswith("#"))


class Traffic(threading.Thread):
    """Offers RATE events/s for SECONDS, station i's events to partition i (as keying by
    station does), in send order; ``sent`` counts what the broker acknowledged."""

    def __init__(self, p: Pipeline) -> None:
        super().__init__(daemon=True)
        self.p = p
        self.ids: list[str] = []
        self.error: BaseException | None = None
        self.started_at = 0.0

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self.p.bootstrap, acks="all", linger_ms=20)
        try:
            self.started_at = time.monotonic()
            seq = dict.fromkeys((s["station_id"] for s in TEST_STATIONS), 0)
            at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
            futures = []
            for i in range(RATE * SECONDS):
                part = i % len(TEST_STATIONS)
                sid = TEST_STATIONS[part]["station_id"]
                seq[sid] += 1
                e = crossing(sid, seq[sid], at=at + timedelta(milliseconds=i))
                self.ids.append(e["event_id"])
                futures.append(producer.send(self.p.topic_raw, key=sid.encode(),
                                             value=json.dumps(e).encode(), partition=part))
                due = self.started_at + (i + 1) / RATE
                if (pause := due - time.monotonic()) > 0:
                    time.sleep(pause)
            producer.flush()
            for f in futures:
                f.get(timeout=60)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            producer.close()


def _second_worker(p: Pipeline, env: dict[str, str]) -> tuple[WorkerProc, int]:
    port = p.web_port + 1
    return p.worker(**{**env, "BLO_WEB_PORT": str(port)}), port


def _metric_or_0(port: int, name: str) -> float:
    try:
        return _metric_on_port(port, name)
    except OSError:  # not listening yet (a loaded machine starts it slowly)
        return 0.0


def _consumed(port: int) -> float:
    return _metric_or_0(port, "blo_records_consumed_total")


def _all_stored_once(p: Pipeline, db: ServerDatabase, traffic: Traffic, workers: str) -> None:
    traffic.join(SECONDS * 4)
    assert traffic.error is None, traffic.error
    n = len(traffic.ids)
    try:
        wait_for(lambda: final_count(db) >= n, 240, "every event stored")
    except AssertionError:
        per_partition = db.query(
            f"SELECT kafka_partition, count() FROM {db.database}.events FINAL "
            "GROUP BY kafka_partition ORDER BY kafka_partition")
        raise AssertionError(f"{final_count(db)} of {n} events stored "
                             f"(per partition {per_partition}); {workers}") from None
    assert final_count(db) == n
    ids = db.query(f"SELECT count(DISTINCT event_id) FROM {db.database}.events")
    assert ids[0][0] == n


def test_no_event_lost_or_doubled_when_a_worker_joins_and_one_leaves_under_traffic(
        pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    env = {"BLO_BATCH_TAKE_MAX": "200"}
    w1 = p.worker(**env)
    w1.wait_ready()
    traffic = Traffic(p)
    traffic.start()
    wait_for(lambda: final_count(db) > RATE * 3, 60, "the first worker storing")
    w2, port2 = _second_worker(p, env)  # joins: a rebalance while events flow
    wait_for(lambda: _consumed(port2) > RATE, 120, "the second worker consuming its share")
    before = w1.metric("blo_records_consumed_total")
    time.sleep(3)
    assert w1.metric("blo_records_consumed_total") > before  # both own partitions now
    assert w1.terminate(60) == 0  # leaves: its partitions go to the second while events flow
    _all_stored_once(p, db, traffic, w2.log_tail(5))
    assert w2.alive()


def test_no_event_lost_when_a_worker_is_killed_under_traffic(
        pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    # a short session: the group notices the dead member within seconds
    env = {"BLO_BATCH_TAKE_MAX": "200", "BLO_KAFKA_SESSION_TIMEOUT_S": "6",
           "BLO_KAFKA_COMMIT_INTERVAL_S": "4"}
    w1 = p.worker(**env)
    w1.wait_ready()
    w2, port2 = _second_worker(p, env)
    wait_for(lambda: _metric_or_0(port2, "blo_window_restores_total") > 0, 120,
             "the second worker's share of the partitions")
    traffic = Traffic(p)
    traffic.start()
    wait_for(lambda: _consumed(port2) > RATE * 3, 120, "the second worker consuming")
    w2.kill()  # rows written ahead of its committed offsets are redelivered to the first
    _all_stored_once(p, db, traffic, w1.log_tail(5))
    assert w1.alive()
