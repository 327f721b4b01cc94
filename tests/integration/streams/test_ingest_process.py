"""The worker's ingest process (``BLO_INGEST_PROCESS``) on the real broker and the real
ClickHouse server: one child running ``streams.engine_process`` beside the Faust process,
its metrics on the worker's one ``/metrics`` page, dying with its parent, failing the worker
when it dies alone — and every event exactly once in the readers' view through all of it.
Processes are found through /proc; expectations are computed from what the test sent."""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from blo.localservices.tansu import TansuBroker
from sinks.clickhouse import ServerDatabase
from tests.integration.streams.conftest import final_count, raw_count
from tests.integration.streams.harness import TEST_STATIONS, Pipeline, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ENGINE = "streams.engine_process"


# -- processes, through /proc --------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[1] == pid and st[0] != "Z":
                out.append(int(entry))
    return sorted(out)


def _ingest_children(pid: int) -> list[int]:
    return [c for c in _children(pid) if ENGINE in _cmdline(c)]


PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def subreaper() -> Iterator[None]:
    """This test process adopts its orphaned grandchildren while the test runs, so the test
    can learn (os.waitpid) how the ingest process of a killed worker ended."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, ctypes.get_errno()
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    st = _stat(pid)
    return st is None or st[0] == "Z"


# -- events --------------------------------------------------------------------------------
def _value(e: Any) -> bytes:
    return json.dumps(e).encode()


def _events(n: int, seed: int) -> list[dict[str, Any]]:
    """Crossings at random posts over the last hour, each post's ``source_seq`` without
    gaps and its newest event recent (so no sequence-gap or silence alert fires: alert
    writes at shutdown are another matter than the ingest process)."""
    rng = random.Random(seed)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    seq: Counter[str] = Counter()
    out = []
    for i in range(n):
        st = rng.choice(TEST_STATIONS)["station_id"]
        seq[st] += 1
        out.append(crossing(st, seq[st], at=base + timedelta(seconds=i * 3000 // n),
                            persons=rng.randint(1, 5)))
    return out


def _records(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(e["station_id"].encode(), _value(e)) for e in events]


def _assert_exactly_once(db: ServerDatabase, events: list[dict[str, Any]]) -> None:
    """The readers' view holds every event once: count, distinct ids, the ids themselves."""
    d = db.database
    count, unique = db.query(f"SELECT count(), uniqExact(event_id) FROM {d}.events FINAL")[0]
    assert (count, unique) == (len(events), len(events))
    stored = {r[0] for r in db.query(f"SELECT toString(event_id) FROM {d}.events FINAL")}
    assert stored == {e["event_id"] for e in events}
    by_station: dict[str, int] = dict(db.query(
        f"SELECT station_id, count() FROM {d}.events FINAL GROUP BY station_id"))
    assert by_station == dict(Counter(e["station_id"] for e in events))


class Stream(threading.Thread):
    """Events sent in bursts while the test does its damage: ``bursts`` × ``per_burst``,
    one burst every ``every_s`` seconds."""

    def __init__(self, p: Pipeline, events: list[dict[str, Any]], bursts: int,
                 every_s: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = p.bootstrap, p.topic_raw
        self.events, self.bursts, self.every_s = events, bursts, every_s
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            per = -(-len(self.events) // self.bursts)
            for i in range(0, len(self.events), per):
                tick = time.monotonic()
                for k, v in _records(self.events[i:i + per]):
                    producer.send(self.topic, key=k, value=v)
                producer.flush()
                self.sent = min(i + per, len(self.events))
                time.sleep(max(0.0, self.every_s - (time.monotonic() - tick)))
            producer.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def finish(self) -> None:
        self.join(120)
        assert self.error is None, self.error
        assert not self.is_alive() and self.sent == len(self.events)


# -- a. the default on a server --------------------------------------------------------------
def _streaming(p: Pipeline, db: ServerDatabase, events: list[dict[str, Any]]
               ) -> tuple[Any, int, Stream]:
    """A worker with its ingest process, and events flowing to it, some already written."""
    w = p.worker(BLO_KAFKA_COMMIT_INTERVAL_S="3")
    w.wait_ready()
    child = wait_for(lambda: _ingest_children(w.proc.pid), 30, "the ingest process")[0]
    stream = Stream(p, events, bursts=20, every_s=0.5)
    stream.start()
    wait_for(lambda: raw_count(db) > 0, 60, "the first rows written", every=0.05)
    return w, child, stream


def _restart_and_check(p: Pipeline, db: ServerDatabase, events: list[dict[str, Any]],
                       stream: Stream) -> None:
    """The rest of the stream to a new worker: every event once, and a clean stop."""
    stream.finish()
    w2 = p.worker()
    w2.wait_ready()
    assert len(_ingest_children(w2.proc.pid)) == 1
    wait_for(lambda: final_count(db) >= len(events), 120, "every event after the restart")
    time.sleep(1.0)
    _assert_exactly_once(db, events)
    assert w2.terminate() == 0


def test_default_on_a_server_runs_one_ingest_process_whose_metrics_are_merged(
        pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    assert (os.cpu_count() or 1) > 1, "auto means inline on one core"
    w = p.worker()  # no BLO_INGEST_PROCESS: auto, with a server (and this machine's cores)
    w.wait_ready()
    kids = wait_for(lambda: _ingest_children(w.proc.pid), 30, "the ingest process")
    assert len(kids) == 1, [(k, _cmdline(k)) for k in kids]
    child = kids[0]

    valid = _events(3000, seed=11)
    # rejected by validation in the ingest process (negative persons), spread among the valid
    invalid = [crossing(TEST_STATIONS[i % 4]["station_id"], 10_000 + i, persons=-1)
               for i in range(30)]
    records = _records(valid)
    for i, e in enumerate(invalid):
        records.insert((i + 1) * len(records) // (len(invalid) + 1), (b"x", _value(e)))
    p.produce(records)

    wait_for(lambda: final_count(db) >= len(valid), 120, "every valid event in ClickHouse")
    wait_for(lambda: w.metric("blo_events_valid_total") >= len(valid), 30,
             "the valid events counted on /metrics")
    wait_for(lambda: w.metric("blo_events_dead_lettered_total") >= len(invalid), 30,
             "the invalid events counted on /metrics")
    time.sleep(1.0)  # a duplicate or an extra count would show now
    _assert_exactly_once(db, valid)

    # these counters are recorded only in the ingest process: seeing them on the worker's
    # page proves the merge; each once, per event type
    m = w.metrics()
    assert m["blo_events_valid_total"] == len(valid)
    assert w.metric("blo_events_valid_total", event_type="crossing") == len(valid)
    assert w.metric("blo_events_dead_lettered_total", reason="invalid") == len(invalid)
    assert m["blo_events_dead_lettered_total"] == len(invalid)
    # both processes read the station registry: the same fact, not twice the stations
    assert m["blo_registry_stations"] == len(TEST_STATIONS)
    dead = int(db.query(f"SELECT count() FROM {db.database}.dlq FINAL")[0][0])
    assert dead == len(invalid)

    assert _ingest_children(w.proc.pid) == [child]  # the same one throughout
    assert w.terminate() == 0  # SIGTERM: the ingest process drains, the worker commits
    assert _gone(child)
    assert p.committed_total() == len(records)  # acknowledged from the child's acks


def _inserts_running(db: ServerDatabase) -> int:
    """How many INSERTs into the test's database the ClickHouse server is running."""
    return int(db.query(
        "SELECT count() FROM system.processes WHERE query LIKE %(p)s",
        {"p": f"INSERT INTO {db.database}.%"})[0][0])


# -- b. the worker SIGKILLed -----------------------------------------------------------------
def test_sigkilled_worker_takes_its_ingest_process_along_and_a_restart_loses_nothing(
        subreaper: None, pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    events = _events(4000, seed=12)
    w, child, stream = _streaming(p, db, events)

    flowing = stream.is_alive()
    w.kill()  # SIGKILL: no drain, no commit, no word to the child
    t0 = time.monotonic()
    assert flowing, "the events were all sent before the kill: nothing was in flight"
    wait_for(lambda: _gone(child), 5, "the orphaned ingest process to die", every=0.05)
    took = time.monotonic() - t0

    def reaped() -> tuple[int] | None:  # the orphan is ours now (subreaper)
        pid, status = os.waitpid(child, os.WNOHANG)
        return (status,) if pid == child else None

    (status,) = wait_for(reaped, 5, "the orphaned ingest process to be reaped", every=0.05)
    print(f"\ningest process gone {took:.2f}s after its worker was killed, status {status:#x}")
    # killed by the kernel on its parent's death (PR_SET_PDEATHSIG), not exiting by itself
    # after noticing the closed channel, with who knows what still to write
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status

    # the orphan writes nothing more: the row count stays put while no worker runs. An
    # insert it had wholly sent before it died may still be finishing on the server (a
    # loaded CI machine took over a second): the count is read once none is running.
    wait_for(lambda: not _inserts_running(db), 30, "the server to finish inserts in flight",
             every=0.05)
    settled = raw_count(db)
    time.sleep(1.5)
    assert raw_count(db) == settled

    _restart_and_check(p, db, events, stream)


# -- c. the ingest process SIGKILLed alone -----------------------------------------------------
def test_ingest_process_killed_alone_fails_the_worker_and_a_restart_loses_nothing(
        pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    events = _events(4000, seed=13)
    w, child, stream = _streaming(p, db, events)
    written_before = raw_count(db)
    flowing = stream.is_alive()

    os.kill(child, signal.SIGKILL)
    try:
        rc = w.wait(45)  # it stops by itself
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker did not exit within 45 s after its ingest process "
                             f"was killed:\n{w.log_tail(12)}") from None
    log = w.log_path.read_text(errors="replace")
    print(f"\nworker exited {rc} with {written_before} rows written before the kill; "
          f"its last words:\n{w.log_tail(5)}")
    assert rc == 4, log[-3000:]  # a fatal stop other than the dead-letter guard
    assert "the ingest process exited unexpectedly" in log, log[-3000:]
    assert "blo worker stopped" in log
    assert flowing and written_before < len(events), "the kill came after the stream"

    _restart_and_check(p, db, events, stream)
    assert p.committed_total() == len(events)


# -- d. inline on a server -------------------------------------------------------------------
def test_inline_on_a_server_runs_no_ingest_process_and_stores_every_event_once(
        pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    events = _events(2000, seed=14)
    w = p.worker(BLO_INGEST_PROCESS="inline")
    w.wait_ready()
    assert _ingest_children(w.proc.pid) == []
    p.produce(_records(events))
    wait_for(lambda: final_count(db) >= len(events), 120, "every event in ClickHouse")
    time.sleep(1.0)
    _assert_exactly_once(db, events)
    assert _ingest_children(w.proc.pid) == []  # none started later either
    assert w.metric("blo_events_valid_total") == len(events)
    assert w.metric("blo_registry_stations") == len(TEST_STATIONS)
    assert w.terminate() == 0
    assert p.committed_total() == len(events)


# -- e. separate with embedded chDB ----------------------------------------------------------
def test_separate_with_embedded_chdb_is_refused_naming_the_setting(
        kafka_broker: TansuBroker, tmp_path: Path) -> None:
    chdb_dir = tmp_path / "chdb"
    p = Pipeline(kafka_broker.bootstrap, f"chdb://{chdb_dir}", "blo", tmp_path)
    assert p.clickhouse_url.startswith("chdb:///")
    t0 = time.monotonic()
    res = p.blo("worker", BLO_INGEST_PROCESS="separate", timeout=90)
    took = time.monotonic() - t0
    print(f"\nrefused in {took:.1f}s: {res.stderr.strip().splitlines()[-1:]}")
    # a SettingsError: the CLI's one clear line and exit code 2 (blo/cli/__init__.py)
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "BLO_INGEST_PROCESS" in errors[0], res.stderr[-3000:]
    assert "Traceback" not in res.stderr  # one clear line, not a crash
    assert took < 60
