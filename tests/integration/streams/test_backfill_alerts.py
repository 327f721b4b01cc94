"""Imports don't alarm: San Ysidro 1996–2021 and BTS 2018, imported with the shipped mappings
through the real worker under the shipped rules (plus a month rule over count reports that
every imported month would pass), raise no alert at all; a live seizure spike published while
the import runs still raises its one alert."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from blo.settings import AlertSettings
from tests.integration.streams.alert_scenario import (
    SPIKE,
    STATIONS,
    Feed,
    expected_id,
    table_final,
)
from tests.integration.streams.harness import wait_for
from tests.unit.importer.helpers import SHARED_DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

R_SPIKE, R_MONTH = "spike-kg-1m", "reports-month"
EXTRA_RULES = f"""
  - id: {R_SPIKE}
    name:  # the shipped file declares languages: en, ru (names and messages)
      en: Seizure spike at a post
      ru: Всплеск изъятий на посту
    severity: critical
    message:
      en: "{{station_id}}: {{value:.1f}} kg"
      ru: "{{station_id}}: {{value:.1f}} кг"
    kind: threshold
    statistic: seizure_kg
    window: 1m
    filters: {{event_type: seizure}}
    raise: 50
    settle_s: 5
  - id: {R_MONTH}
    name:
      en: Any count reported in a month
      ru: Любой отчёт за месяц
    severity: info
    message:
      en: "{{station_id}}: {{value}} in {{window_label}}"
      ru: "{{station_id}}: {{value}} за {{window_label}}"
    kind: threshold
    statistic: value
    window: month
    filters: {{event_type: count_report}}
    raise: 1
"""


def _config(tmp: Path) -> dict[str, str]:
    shipped = AlertSettings().rules_path().read_text()
    rules = tmp / "rules.yaml"
    rules.write_text(shipped.rstrip() + "\n" + EXTRA_RULES)
    windows = tmp / "windows.json"
    windows.write_text(json.dumps({
        "windows": [{"name": "1m", "kind": "tumbling", "size_s": 60},
                    {"name": "1h", "kind": "tumbling", "size_s": 3600},
                    {"name": "day", "kind": "calendar_day"},
                    {"name": "month", "kind": "calendar_month"}],
        "out_of_orderness_s": 3, "grace_s": 2, "allowed_lateness_s": 3600,
        "idle_timeout_s": 5, "provisional_interval_s": 1}))
    return {"BLO_ALERTS_RULES": str(rules), "BLO_WINDOWS_CONFIG": str(windows),
            "BLO_ALERTS_TICK_INTERVAL_S": "0.5"}


def _reports(db: Any) -> int:
    """Distinct count reports stored (no FINAL: 26 years of monthly partitions exceed
    18.16's memory limit with it, which is another part of issue 13)."""
    return int(db.query(f"SELECT uniqExact(event_id) FROM {db.database}.events "
                        "WHERE event_type = 'count_report'")[0][0])


def _months(db: Any) -> tuple[int, int]:
    """(month windows of count reports, of which provisional), latest version of each."""
    got = db.query(
        "SELECT count(), countIf(st = 'provisional') FROM (SELECT argMax(status, version) AS st "
        f"FROM {db.database}.window_stats WHERE window_kind = 'month' "
        "AND event_type = 'count_report' "
        "GROUP BY station_id, event_type, measure, dimension, window_start)")[0]
    return int(got[0]), int(got[1])


def _published(out: str) -> int:
    got = re.search(r"rows published: (\d+)", out)
    assert got is not None, out
    return int(got.group(1))


def test_imports_raise_nothing_while_a_live_spike_still_alerts(pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    p.load_stations(STATIONS)
    env = _config(tmp_path)
    w = p.worker(**env)
    w.wait_ready()
    feed = Feed(p)
    feed.active.add(SPIKE)  # a live post reporting every second
    feed.start()
    results: dict[str, Any] = {}

    def run_imports() -> None:
        for name, mapping in (("bts_san_ysidro_1996_2021.csv", "bts_san_ysidro"),
                              ("bts_border_crossing_2018.csv", "bts_border_crossing")):
            results[name] = p.blo("import-csv", str(SHARED_DATA / name), "--mapping", mapping,
                                  **env)

    importer = threading.Thread(target=run_imports)
    try:
        importer.start()
        # the live spike while the import runs: 60 kg now
        wait_for(lambda: _reports(db) > 0, 120,
                 "the import under way")
        spike_at = int(time.time())
        feed.send(lambda: [feed.seize(SPIKE, spike_at, 60.0)])
        importer.join(400)
        assert not importer.is_alive()
        published = 0
        for name, res in results.items():
            assert res.returncode == 0, (name, res.stdout, res.stderr)
            published += _published(res.stdout)
        assert published > 12_000
        # everything imported is stored, and its month windows are final
        # (San Ysidro's 2018 reports are in both files: the same ids, stored once)
        counts: list[int] = []

        def stored_and_still() -> bool:
            counts.append(_reports(db))
            return len(counts) > 5 and counts[-1] == counts[-6] > 12_000

        wait_for(stored_and_still, 300, "the imported reports stored", 1.0)
        wait_for(lambda: _months(db)[0] > 0 and _months(db)[1] == 0, 180,
                 "every imported month final", 1.0)
        # the engine has read its input to the end since then
        n = w.metric("blo_alert_input_records_total")
        wait_for(lambda: w.metric("blo_alert_input_records_total") > n
                 and w.metric("blo_alert_engine_caught_up") == 1, 60, "the engine caught up")
        spike_id = expected_id(R_SPIKE, SPIKE, spike_at // 60 * 60)
        wait_for(lambda: any(r[0] == spike_id for r in table_final(db)), 120, "the spike alert")
        time.sleep(3)  # a few more caught-up ticks (silence, gaps, settling)
    finally:
        feed.stop()
    rows = table_final(db)
    got = [(r[0], r[2], r[4]) for r in rows]
    if got != [(spike_id, R_SPIKE, SPIKE)]:  # a short message: a failure may be thousands
        by_rule = Counter(r[2] for r in rows)
        raise AssertionError(f"{len(rows)} alerts, by rule {dict(by_rule)}; first "
                             f"{[r[:6] for r in rows[:5]]}; worker log:\n{w.log_tail(20)}")
    # the imported stations did report history: their gap rule saw them and judged nothing
    assert db.query(f"SELECT uniqExact(station_id) FROM {db.database}.events "
                    "WHERE event_type = 'count_report'")[0][0] > 100
