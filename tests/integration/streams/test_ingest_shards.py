"""Several ingest processes per worker (``BLO_INGEST_PROCESSES=2``) on the real broker and
the real ClickHouse server: the worker's 4 raw partitions dealt two and two, every event once,
counters merged on the one ``/metrics`` page, and window rows equal to an independent oracle
after one ingest process is SIGKILLed mid-stream and the worker restarted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sinks.clickhouse import ServerDatabase
from tests.integration.streams.conftest import final_count, raw_count
from tests.integration.streams.harness import Pipeline, wait_for
from tests.integration.streams.test_ingest_process import _ingest_children
from tests.integration.streams.test_windows import (
    TZ,
    _events,
    _mismatches,
    _shuffle_within,
    _view,
    _window_config,
)
from tests.integration.streams.window_oracle import oracle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

TWO = {"BLO_INGEST_PROCESS": "separate", "BLO_INGEST_PROCESSES": "2"}


def _dealt(log: str) -> list[list[int]] | None:
    """The last "raw partitions per ingest process" line of a worker log, as lists."""
    lines = re.findall(r"raw partitions per ingest process: (.*)", log)
    if not lines:
        return None
    return [json.loads(part.split(": ", 1)[1]) for part in lines[-1].split("; ")]


def _windows_equal_the_oracle(db: ServerDatabase, expected: dict[Any, Any]) -> None:
    """The readers' view of window_stats equals the oracle, windows ended by now closed."""
    closed_before = time.time() - 10
    try:
        wait_for(lambda: None if _mismatches(expected, _view(db), closed_before) else True,
                 180, "window rows equal to the oracle", 1.0)
    except AssertionError:
        bad = _mismatches(expected, _view(db), closed_before)
        raise AssertionError(f"{len(bad)} mismatches, e.g. {bad[:8]}") from None


def test_two_ingest_processes_split_the_partitions_and_store_every_event_once(
        pipeline: tuple[Pipeline, ServerDatabase], tmp_path: Path) -> None:
    p, db = pipeline
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    events = _events(20_000, seed=21, span_s=3 * 3600, end=end)
    expected = oracle(events, TZ)
    env = {**TWO, "BLO_WINDOWS_CONFIG": str(_window_config(tmp_path)),
           "BLO_KAFKA_COMMIT_INTERVAL_S": "5", "BLO_BATCH_TAKE_MAX": "1000"}
    w = p.worker(**env)
    w.wait_ready()
    kids = wait_for(lambda: k if len(k := _ingest_children(w.proc.pid)) == 2 else None, 30,
                    "two ingest processes")
    dealt = wait_for(lambda: _dealt(w.log_path.read_text(errors="replace")), 60,
                     "the partitions dealt between the ingest processes")
    assert sorted(part for mine in dealt for part in mine) == [0, 1, 2, 3]
    assert [len(mine) for mine in dealt] == [2, 2]

    arrival = _shuffle_within(events, 25, seed=22)
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in arrival)
    wait_for(lambda: final_count(db) >= len(events), 240, "every event in ClickHouse")
    time.sleep(1.0)
    d = db.database
    count, unique = db.query(f"SELECT count(), uniqExact(event_id) FROM {d}.events FINAL")[0]
    assert (count, unique) == (len(events), len(events))
    # both processes did work, and the page adds their counters up, once each
    wait_for(lambda: w.metric("blo_events_valid_total") >= len(events), 30, "the counters")
    assert w.metric("blo_events_valid_total") == len(events)
    assert w.metrics()["blo_registry_stations"] > 0
    assert sorted(_ingest_children(w.proc.pid)) == sorted(kids)

    _windows_equal_the_oracle(db, expected)
    assert w.terminate() == 0
    assert p.committed_total() == len(events)


def test_one_ingest_process_sigkilled_fails_the_worker_and_a_restart_keeps_windows_exact(
        pipeline: tuple[Pipeline, ServerDatabase], tmp_path: Path) -> None:
    p, db = pipeline
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    events = _events(60_000, seed=23, span_s=3 * 3600, end=end)
    expected = oracle(events, TZ)
    env = {**TWO, "BLO_WINDOWS_CONFIG": str(_window_config(tmp_path)),
           # a long commit interval: rows written well ahead of the offsets committed
           "BLO_KAFKA_COMMIT_INTERVAL_S": "8", "BLO_BATCH_TAKE_MAX": "1000"}
    p.produce((e["station_id"].encode(), json.dumps(e).encode())
              for e in _shuffle_within(events, 25, seed=24))
    w = p.worker(**env)
    w.wait_ready()
    kids = wait_for(lambda: k if len(k := _ingest_children(w.proc.pid)) == 2 else None, 30,
                    "two ingest processes")
    wait_for(lambda: raw_count(db) > p.committed_total() + 1000 and raw_count(db) > 5000
             and final_count(db) < len(events), 180, "writes ahead of commits", 0.05)
    os.kill(kids[1], signal.SIGKILL)
    try:
        rc = w.wait(45)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not stop:\n{w.log_tail(12)}") from None
    assert rc == 4, w.log_tail(20)
    assert "the ingest process exited unexpectedly" in w.log_path.read_text(errors="replace")
    assert final_count(db) < len(events)

    w2 = p.worker(**env)
    w2.wait_ready()
    wait_for(lambda: final_count(db) >= len(events), 300, "every event after the restart")
    assert final_count(db) == len(events)
    _windows_equal_the_oracle(db, expected)
    assert w2.terminate() == 0
