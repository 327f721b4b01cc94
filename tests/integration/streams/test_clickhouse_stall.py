"""ClickHouse paused (SIGSTOP) for 60 s under a steady stream, on a server of the test's own:
the pause is seen — ``/readyz`` 503 ``sink_stalled`` within 20 s and the stall in
``/metrics``, on a worker in each mode (``BLO_INGEST_PROCESS`` inline and separate) —, ``blo
api`` answers 503 within its own timeout instead of hanging, both recover by themselves
after SIGCONT, and ``events FINAL`` holds every event exactly once (inserts that timed out
and were retried may have landed twice: the ReplacingMergeTree collapses them)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from blo.api.scope import Scope
from blo.api.tokens import create_token
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

PAUSE_S = 60
READY_WITHIN_S = 20  # /readyz must say 503 this soon after the pause (stall bound: 15 s)
API_TIMEOUT_S = 10  # BLO_API_QUERY_TIMEOUT_S's default: the test runs with the defaults
RATE = 200  # events/s per worker: 400/s in all, as in the report of the issue
MODES = ("inline", "separate")

# Every table a worker's sink writes on a server (events and dead letters; window rows and
# the late-event ledger; alert versions; the station registry): a timed-out insert is
# retried and may land twice, so each must be a ReplacingMergeTree read through FINAL.
# (api_audit, a MergeTree, is written by a worker's sink only in embedded mode, where chDB
# inserts never time out.)
SINK_TABLES = ("events", "dlq", "window_stats", "late_events", "alerts", "stations")


class SteadyProducer(threading.Thread):
    """``rate`` events/s in bursts every 0.5 s until :meth:`stop`; remembers every id."""

    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.per_burst = bootstrap, topic, rate // 2
        self.sent: list[str] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
            seq = 0
            while not self._halt.is_set():
                tick = time.monotonic()
                for _ in range(self.per_burst):
                    st = TEST_STATIONS[seq % len(TEST_STATIONS)]["station_id"]
                    e = crossing(st, seq, at=base + timedelta(milliseconds=seq))
                    producer.send(self.topic, key=st.encode(), value=json.dumps(e).encode())
                    self.sent.append(e["event_id"])
                    seq += 1
                producer.flush()
                self._halt.wait(max(0.0, 0.5 - (time.monotonic() - tick)))
            producer.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def _http(url: str, token: str | None = None, timeout: float = 3.0
          ) -> tuple[int | None, Any, float]:
    """(status, JSON body, seconds taken); status None if nothing answered in ``timeout``."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except OSError:
        return None, None, time.monotonic() - started
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode(errors="replace")
    return status, body, time.monotonic() - started


class BloApi:
    """``blo api`` (server mode) as a subprocess against one pipeline's database."""

    def __init__(self, p: Pipeline, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "api.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = p.env(BLO_API_PORT=str(self.port), BLO_API_ALLOW_UNSAFE_USERS="true")
        self.proc = subprocess.Popen([sys.executable, "-m", "blo", "api"], env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=p.workdir)

    def wait_serving(self) -> None:
        def serving() -> bool:
            assert self.proc.poll() is None, self.log_path.read_text()
            return _http(self.base + "/api/v1/openapi.json")[0] == 200

        wait_for(serving, 60, "blo api serving")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def _readyz(w: WorkerProc) -> tuple[int | None, Any]:
    status, body, _ = _http(w.base + "/readyz")
    return status, body


def _pause(srv: ClickHouseServer, sig: signal.Signals) -> None:
    srv.send_signal(sig)  # the server's own process (a session of its own, no children)


def test_a_paused_clickhouse_is_seen_answered_and_loses_or_doubles_nothing(
        kafka_broker: TansuBroker, fresh_clickhouse_server: ClickHouseServer,
        make_clickhouse_db: Any, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    srv = fresh_clickhouse_server
    runs: dict[str, tuple[Pipeline, ServerDatabase, WorkerProc]] = {}
    for mode in MODES:
        db = make_clickhouse_db(server=srv, migrated=False)
        (tmp_path / mode).mkdir()
        p = Pipeline(kafka_broker.bootstrap, srv.url(db.database), db.database, tmp_path / mode)
        request.addfinalizer(p.kill_workers)
        p.create_topics()
        p.load_stations(TEST_STATIONS)
        runs[mode] = (p, db, p.worker(BLO_INGEST_PROCESS=mode, BLO_BATCH_SINK_RETRY_MAX_S="2"))
    for _, _, w in runs.values():
        w.wait_ready()

    for _, db, _ in runs.values():  # a retried insert cannot double count in the readers' view
        engines = dict(db.query(f"SELECT name, engine FROM system.tables WHERE database = "
                                f"'{db.database}'"))
        assert {t: engines.get(t) for t in SINK_TABLES} == {
            t: "ReplacingMergeTree" for t in SINK_TABLES}

    p_api, db_api, _ = runs["inline"]
    _, secret = create_token(db_api, "stall test", Scope(all=True))
    api = BloApi(p_api, tmp_path / "inline")
    request.addfinalizer(api.stop)
    api.wait_serving()
    health = api.base + "/api/v1/health"
    assert _http(health, secret, timeout=30)[0] == 200

    producers = {m: SteadyProducer(kafka_broker.bootstrap, runs[m][0].topic_raw, RATE)
                 for m in MODES}
    for prod in producers.values():
        prod.start()
    request.addfinalizer(lambda: [prod.stop() for prod in producers.values()])
    for mode, (_, db, w) in runs.items():
        wait_for(lambda db=db: final_count(db) > 0, 60, f"the first events ({mode})")
    time.sleep(3)
    for mode, (_, _, w) in runs.items():
        assert _readyz(w)[0] == 200, (mode, _readyz(w))
        assert w.metric("blo_sink_stalled") == 0

    # -- the pause --------------------------------------------------------------------------
    api_answers: list[tuple[int | None, Any, float]] = []

    def call_api() -> None:  # the client waits twice the API's timeout at most
        for _ in range(2):
            api_answers.append(_http(health, secret, timeout=2 * API_TIMEOUT_S))

    caller = threading.Timer(5.0, call_api)
    first_503: dict[str, float] = {}
    stalled_bodies: dict[str, Any] = {}
    peak: dict[str, dict[str, float]] = {m: {} for m in MODES}
    paused_at = time.monotonic()
    _pause(srv, signal.SIGSTOP)
    try:
        caller.start()
        while time.monotonic() - paused_at < PAUSE_S:
            for mode, (_, _, w) in runs.items():
                assert w.alive(), w.log_tail()
                status, body = _readyz(w)
                if status == 503 and isinstance(body, dict) and "sink_stalled" in body:
                    first_503.setdefault(mode, time.monotonic() - paused_at)
                    stalled_bodies[mode] = body
                m = w.metrics()
                for name in ("blo_sink_stalled", "blo_sink_oldest_pending_seconds",
                             "blo_sink_backpressured"):
                    peak[mode][name] = max(peak[mode].get(name, 0.0), m.get(name, 0.0))
            time.sleep(0.5)
        caller.join(3 * API_TIMEOUT_S)
    finally:
        _pause(srv, signal.SIGCONT)
    resumed_at = time.monotonic()
    print(f"\n/readyz 503 after {first_503} s; peaks {peak}; API answers "
          f"{[(s, round(t, 1)) for s, _, t in api_answers]}")

    for mode in MODES:
        assert mode in first_503, (mode, runs[mode][2].log_tail())
        assert first_503[mode] <= READY_WITHIN_S, (mode, first_503[mode])
        body = stalled_bodies[mode]
        assert body["ready"] is False and body["checks"]["sink_not_stalled"] is False
        assert "ClickHouse is not answering" in body["sink_stalled"]
        assert peak[mode]["blo_sink_stalled"] == 1
        assert peak[mode]["blo_sink_oldest_pending_seconds"] > 15
        assert peak[mode]["blo_sink_backpressured"] == 1
    assert len(api_answers) == 2
    for status, body, took in api_answers:
        assert status == 503, (status, body, took, api.log_path.read_text()[-3000:])
        assert body["error"].startswith("ClickHouse is not answering ("), body
        assert took < 2 * API_TIMEOUT_S

    # -- after SIGCONT: recovered by themselves, every event exactly once --------------------
    for mode, (_, _, w) in runs.items():
        wait_for(lambda w=w: _readyz(w)[0] == 200, 90, f"/readyz 200 again ({mode})")
    wait_for(lambda: _http(health, secret, timeout=2 * API_TIMEOUT_S)[0] == 200, 60,
             "the API answering again")
    print(f"ready again {time.monotonic() - resumed_at:.1f} s after SIGCONT")
    time.sleep(3)
    for prod in producers.values():
        prod.stop()
        prod.join(60)
        assert prod.error is None, prod.error
    for mode, (_, db, w) in runs.items():
        sent = producers[mode].sent
        n = len(sent)
        assert n > RATE * PAUSE_S  # the stream flowed before, during and after the pause
        wait_for(lambda db=db, n=n: final_count(db) >= n, 180, f"every event ({mode})")
        time.sleep(1.0)
        count, unique = db.query(f"SELECT count(), uniqExact(event_id) FROM {db.database}"
                                 ".events FINAL")[0]
        assert (count, unique) == (n, n), mode
        stored = {r[0] for r in db.query(f"SELECT toString(event_id) FROM {db.database}"
                                         ".events FINAL")}
        assert stored == set(sent), mode
        raw = db.query(f"SELECT count() FROM {db.database}.events")[0][0]
        timeouts = w.metric("blo_sink_write_timeouts_total")
        # reads and inserts: which one the pause catches in flight is luck (with a lookup
        # hanging, backpressure holds every insert back until it answers)
        retried = w.metric("blo_sink_retries_total", error="timeout")
        print(f"{mode}: {n} events, {raw} physical rows, {timeouts:g} insert timeouts, "
              f"{retried:g} calls timed out and retried")
        assert retried > 0  # calls did time out (and were retried), not hang for good
        assert retried >= timeouts
        assert w.metric("blo_sink_stalled") == 0
        assert w.metric("blo_events_dead_lettered_total") == 0
        assert w.alive()
    for mode, (_, _, w) in runs.items():
        assert w.terminate() == 0, (mode, w.log_tail())
