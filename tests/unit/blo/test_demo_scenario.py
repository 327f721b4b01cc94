"""`blo demo --scenario NAME [--scenario-at S]`: the scenario the demo's simulator runs, the
alerts the demo says it should raise, and the refusals before anything starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from blo.cli import main
from blo.demo import scenario_lines, scenario_plan
from blo.localservices.tansu import free_port
from blo.sim.scenarios import SCENARIOS, ScenarioError

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday morning at the posts


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_demo_prints_every_alert_its_scenario_should_raise(name: str) -> None:
    plan = scenario_plan(name, 16, 5.0, START, 90)
    assert plan.expected  # every scenario expects something
    lines = scenario_lines(name, plan, START, 90)
    assert lines[0].startswith(f"scenario {name} from 06:01:30 UTC; it should raise "
                               f"{len(plan.expected)} alert")
    for x in plan.expected:
        assert any(f"  {x.rule_id} {x.scope_key} (" in ln
                   and f"{x.ready_at:%H:%M:%S} UTC)" in ln for ln in lines), (x, lines)
    injected = [e.at for e in plan.events] + [s.start for s in plan.silences]
    assert min(injected) >= START + timedelta(seconds=90)  # --scenario-at moves it


def test_the_scenario_starts_later_with_a_later_scenario_at() -> None:
    early = scenario_plan("silent-post", 16, 5.0, START, 0)
    late = scenario_plan("silent-post", 16, 5.0, START, 600)
    assert late.silences[0].start - early.silences[0].start == timedelta(seconds=600)
    assert [x.ready_at - y.ready_at for x, y in zip(late.expected, early.expected,
                                                     strict=True)] == [timedelta(seconds=600)]


def test_unknown_scenarios_and_missing_posts_are_refused() -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; one of: heroin-run"):
        scenario_plan("nope", 16, 5.0, START, 60)
    with pytest.raises(ScenarioError, match="TJ-NIZHNIY-PYANJ"):
        scenario_plan("heroin-run", 2, 5.0, START, 60)


@pytest.mark.parametrize(("args", "says"), [
    (["--scenario", "nope"], "unknown scenario 'nope'"),
    (["--scenario", "heroin-run", "--stations", "2"], "needs the seed post(s)"),
])
def test_the_demo_refuses_a_bad_scenario_before_starting_anything(
        tmp_path: Path, args: list[str], says: str) -> None:
    res = CliRunner().invoke(main, ["demo", "--data-dir", str(tmp_path / "demo"),
                                    "--port", str(free_port()),
                                    "--api-port", str(free_port()), *args])
    assert res.exit_code == 2, res.output
    assert says in res.output
    assert not (tmp_path / "demo" / "broker").exists()  # no broker was started


def test_demo_help_names_the_scenario_options() -> None:
    res = CliRunner().invoke(main, ["demo", "--help"])
    assert "--scenario NAME" in res.output and "--scenario-at SECONDS" in res.output
