"""Baseline rules: value > mean + k·stddev of the same hour of week in past weeks."""

from __future__ import annotations

from typing import Any

import pytest

from streams.alerts import AlertEngine
from tests.unit.streams.alerts.factories import (
    T0,
    H,
    History,
    alerts,
    engine,
    rule_yaml,
    rules,
    states,
    wrow,
)

REFUSED = """
    statistic: refused
    window: 1h
    filters: {event_type: crossing}
    k: 2
    weeks: 4
    min_weeks: 3
    settle_s: 0
"""


def crossings(i: int, refused: int, **kw: Any) -> tuple[Any, ...]:
    return wrow(T0 + i * H, event_type="crossing", dimension="", refused=refused, **kw)


def run(body: str, history: History, values: list[int]) -> list[tuple[Any, ...]]:
    e = engine(rule_yaml(body, kind="baseline",
                         message="{value} vs {mean}±{stddev} (k={k}, {history_weeks} weeks)"),
               baseline=history)
    out = []
    for i, v in enumerate(values):
        e.on_window_row(crossings(i, v))
        out.extend(e.drain())
    return out


def test_fires_above_mean_plus_k_stddev_of_the_history() -> None:
    # history 8, 12, 8, 12: mean 10, population stddev 2 → level 10 + 2·2 = 14
    assert run(REFUSED, History([8, 12, 8, 12]), [14]) == []
    h = History([8, 12, 8, 12])
    [a] = alerts(run(REFUSED, h, [15]))
    assert (a["kind"], a["value"], a["threshold"]) == ("baseline", 15.0, 14.0)
    assert a["message"] == "15 vs 10±2 (k=2, 4 weeks)"
    assert h.calls == [("r1", "TJ-PYANJ", T0)]


def test_uses_at_most_weeks_values() -> None:
    [a] = alerts(run(REFUSED, History([8, 12, 8, 12, 500, 900]), [15]))
    assert a["threshold"] == 14.0


def test_not_before_min_weeks_of_history() -> None:
    assert run(REFUSED, History([8, 12]), [100, 100, 100]) == []
    [a] = alerts(run(REFUSED, History([8, 12, 10]), [100]))
    # 8, 12, 10: mean 10, stddev sqrt(8/3)
    assert a["threshold"] == pytest.approx(10 + 2 * (8 / 3) ** 0.5)


def test_min_value_keeps_a_flat_history_from_firing_on_noise() -> None:
    body = REFUSED + "min_value: 5\n"
    assert run(body, History([0, 0, 0, 0]), [3]) == []
    [a] = alerts(run(body, History([0, 0, 0, 0]), [5]))
    assert a["threshold"] == 0.0


def test_clear_k_gives_hysteresis() -> None:
    # level 14, clear level 10 + 1·2 = 12: 13 keeps it firing, 12 resolves
    rows = run(REFUSED + "clear_k: 1\n", History([8, 12, 8, 12]), [15, 13, 14, 12, 0])
    assert states(rows) == [("TJ-PYANJ", "firing", 1), ("TJ-PYANJ", "resolved", 2)]
    assert alerts(rows)[1]["value"] == 12.0 and alerts(rows)[1]["threshold"] == 12.0


def test_the_history_is_asked_once_per_window() -> None:
    h = History([8, 12, 8, 12])
    e = engine(rule_yaml(REFUSED + "on: provisional\n", kind="baseline"), baseline=h)
    e.on_window_row(crossings(0, 1, status="provisional", version=1))
    e.on_window_row(crossings(0, 2, status="provisional", version=2))
    e.on_window_row(crossings(0, 3, status="final", version=3))
    e.on_window_row(crossings(1, 3, status="provisional", version=4))
    assert h.calls == [("r1", "TJ-PYANJ", T0), ("r1", "TJ-PYANJ", T0 + H)]


def test_a_baseline_rule_needs_a_provider() -> None:
    with pytest.raises(ValueError, match="BaselineProvider"):
        AlertEngine(rules(rule_yaml(REFUSED, kind="baseline")), {}, None)
