"""The simulator through the pipeline's pure cores (blo.sim.harness) with the default rules:
ordinary hours at demo defaults raise a handful of alerts at most, and each scripted
scenario raises exactly its alerts, within seconds of becoming decidable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blo.sim.harness import run
from blo.sim.scenarios import SCENARIOS
from blo.simulate import DEMO_RATE, DEMO_STATIONS

TICK_S = 15.0


@pytest.mark.parametrize(("seed", "start"), [
    (1, datetime(2026, 3, 2, 4, tzinfo=UTC)),    # Monday, 09:00-15:00 in Tashkent: busiest
    (2, datetime(2026, 3, 6, 7, tzinfo=UTC)),    # Friday afternoon, the busiest weekday
    (3, datetime(2026, 3, 8, 14, tzinfo=UTC)),   # Sunday evening into the night
])
def test_ordinary_hours_at_demo_defaults_raise_a_handful_of_alerts(seed: int, start: datetime
                                                                   ) -> None:
    out = run(6, stations=DEMO_STATIONS, rate=DEMO_RATE, seed=seed, start=start, tick_s=30)
    assert out.dead_letters == 0
    assert out.events > 6 * 3600 * 1.5, out.events  # the demo's traffic did flow
    critical = [r for r in out.raised if r.severity == "critical"]
    assert len(out.raised) <= 5, out.keys()
    assert len(critical) <= 1, out.keys()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_raises_exactly_its_alerts_soon_after_they_are_decidable(name: str
                                                                               ) -> None:
    start = datetime(2026, 3, 2, 4, tzinfo=UTC)
    at = start + timedelta(hours=1)
    probe = run(0.01, seed=1, start=start, scenario=name, scenario_at=at - start)
    assert probe.plan.done_by is not None and probe.plan.expected
    hours = (probe.plan.done_by - start).total_seconds() / 3600
    out = run(hours, seed=1, start=start, scenario=name, scenario_at=at - start,
              tick_s=TICK_S)
    assert out.dead_letters == 0
    expected = sorted((x.rule_id, x.scope_key) for x in out.plan.expected)
    assert sorted(out.keys()) == expected
    closing = 30 + 30  # windows.yaml: out_of_orderness_s + grace_s
    by_key = {(r.rule_id, r.scope_key): r for r in out.raised}
    for x in out.plan.expected:
        seen = by_key[(x.rule_id, x.scope_key)].seen_at
        assert seen >= at
        lag = (seen - x.ready_at).total_seconds()
        limit = TICK_S + 5 + (closing if x.closes_window else 0)  # 5: provisional rows
        assert lag <= limit, (x, seen)


def test_the_same_traffic_without_the_scenario_raises_none_of_its_alerts() -> None:
    start = datetime(2026, 3, 2, 4, tzinfo=UTC)
    out = run(2.2, seed=1, start=start, tick_s=TICK_S)
    assert out.raised == []
