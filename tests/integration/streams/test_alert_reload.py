"""A running worker picks up an edited rules file without a restart, and keeps its rules
when an edit is broken (real broker, real ClickHouse server)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import crossing, wait_for

RULES = """version: 1
rules:
  - id: busy-post-1m
    name: Busy post
    severity: info
    message: "{station_id}: {value} events in the minute from {window_start}"
    kind: threshold
    statistic: events
    window: 1m
    scope: station
    filters: {event_type: crossing}
    op: ">="
    raise: RAISE
    on: provisional
"""


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # as editors and config management do: never half a file


def test_rules_reload_without_restart_and_a_broken_edit_keeps_the_old_rules(
        pipeline: Any, tmp_path: Path) -> None:
    p, db = pipeline
    rules = tmp_path / "rules.yaml"
    _write(rules, RULES.replace("RAISE", "100000"))  # never fires
    w = p.worker(BLO_ALERTS_RULES=str(rules), BLO_ALERTS_RELOAD_INTERVAL_S="0.5")
    w.wait_ready()
    at = datetime.now(UTC).replace(microsecond=0)
    events = [crossing("KZ-T1", i, at=at) for i in range(1, 9)]
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    wait_for(lambda: final_count(db) == len(events), 90, "the events stored")

    def window_events() -> int:
        rows = db.query(f"SELECT max(events) FROM {db.database}.window_stats FINAL "
                        "WHERE window_kind = '1m' AND station_id = 'KZ-T1'")
        return int(rows[0][0]) if rows else 0

    wait_for(lambda: window_events() == len(events), 60, "the minute's window row")
    time.sleep(2)  # a few engine ticks over those rows
    assert db.query(f"SELECT count() FROM {db.database}.alerts")[0][0] == 0

    _write(rules, RULES.replace("RAISE", "5"))  # now 8 events in a minute is busy

    def fired() -> list[Any]:
        return db.query(f"SELECT rule_id, station_id, state, provisional, value FROM "
                        f"{db.database}.alerts FINAL")

    got = wait_for(fired, 60, "the edited rule firing on the recent window rows")
    assert [tuple(r) for r in got] == [("busy-post-1m", "KZ-T1", "firing", 1, 8.0)]
    assert w.metric("blo_alert_rule_reloads_total", result="ok") == 1

    _write(rules, RULES.replace("RAISE", "lots"))  # broken: the previous rules stay
    wait_for(lambda: w.metric("blo_alert_rule_reloads_total", result="error") >= 1, 30,
             "the broken edit counted")
    assert w.metric("blo_alert_rules") == 1
    assert "rules.0.raise" in w.log_path.read_text()  # every problem logged, with its field
    w.wait_ready(10)  # still ready: a bad edit is not a failure of the stream
    assert w.terminate() == 0
