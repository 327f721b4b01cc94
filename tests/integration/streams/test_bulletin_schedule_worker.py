"""The bulletin schedule in real workers (``blo worker`` against the session's broker and
ClickHouse server): with two workers in the group and a closed month in the database, the
editions of every scope and language appear once, made by the one worker that owns raw
partition 0 (the other's schedule never runs), and later runs over the same data make
nothing more."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blo.analytics.bulletin import make
from blo.analytics.bulletin.editions import editions_from_rows, list_query
from blo.analytics.periods import Period
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate
from tests.integration.analytics.bulletin_data import simulate
from tests.integration.streams.harness import Pipeline, WorkerProc, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

START = datetime(2026, 8, 31, 0, tzinfo=UTC)
END = datetime(2026, 10, 31, 0, tzinfo=UTC)
MONTH = "2026-10"
ENV = {"BLO_BULLETINS_INTERVAL_S": "5", "BLO_BULLETINS_MONTHS": "1"}
"""Every 5 s: the first run comes after the workers have written the test stations' registry
rows (which the bulletins' data version includes)."""


def test_one_worker_makes_each_edition_once(
        pipeline: tuple[Pipeline, ServerDatabase]) -> None:
    p, db = pipeline
    migrate(db)
    simulate(db, START, END, stations=3)  # posts of KZ and KG, October closed
    w1 = p.worker(**ENV)
    port2 = free_port()
    w2 = p.worker(**ENV, BLO_WEB_PORT=str(port2))
    w2.base = f"http://127.0.0.1:{port2}"
    w1.wait_ready(120)
    w2.wait_ready(120)

    def listed() -> list[tuple[str, str, str, str]]:
        return sorted((e.scope, e.period, e.lang, e.data_version)
                      for e in editions_from_rows(db.query(*list_query(db.database))))

    wait_for(lambda: db.query(f"SELECT count() FROM {db.database}.stations "
                              "WHERE station_id = 'KZ-T1'")[0][0] > 0, 60,
             "the test stations' registry rows")
    period = Period.parse(MONTH)
    want = sorted((s, MONTH, lang, make(lambda q, a: db.query(q, a), db.database, s,
                                        period).version.digest)
                  for s in ("region", "KG", "KZ") for lang in ("ru", "en"))
    wait_for(lambda: listed() == want, 240, "the six editions of October", every=1)

    def runs(w: WorkerProc) -> float:
        return w.metric("blo_bulletin_schedule_runs_total")

    # made once in all (the two workers' counts), then the owner goes on running with
    # nothing new to make while the other worker's schedule does not run at all
    made = {w: w.metric("blo_bulletin_editions_total") for w in (w1, w2)}
    assert sum(made.values()) == 6
    assert sum(w.metric("blo_bulletin_editions_total", lang="ru") for w in (w1, w2)) == 3
    start = {w: runs(w) for w in (w1, w2)}
    wait_for(lambda: max(runs(w) - start[w] for w in (w1, w2)) >= 2, 60,
             "two more runs of the owner's schedule", every=1)
    delta = sorted(runs(w) - start[w] for w in (w1, w2))
    assert delta[0] == 0 and delta[1] >= 2, delta
    for w in (w1, w2):
        assert w.metric("blo_bulletin_schedule_runs_total", outcome="failed") == 0
    assert listed() == want
    raw = db.query(f"SELECT count() FROM {db.database}.bulletin_editions")
    assert raw[0][0] == 6  # made once each, not only collapsed
    logs = w1.log_path.read_text() + w2.log_path.read_text()
    assert logs.count("bulletin edition KZ 2026-10 (ru) stored") == 1
