"""Baselines: what "usual" is for a window, from the same hour of week in past weeks. Pure.

The engine asks a :data:`BaselineProvider` (the runtime's, which reads ``window_stats``)
for the history of a (rule, scope key, window start): the rule's statistic over the same
scope and window kind in the windows starting exactly 1, 2, … ``rule.weeks`` weeks earlier
(:func:`history_starts`), most recent first. A week without rows counts as 0 when the
scope was reporting then, and is left out when it was not (a post that did not exist yet
is no history). The engine uses at most ``weeks`` values and judges nothing with fewer
than ``min_weeks``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.alerts.rules import BaselineRule

WEEK_S = 7 * 86_400

BaselineProvider = Callable[["BaselineRule", str, int], Sequence[float]]
"""(rule, scope key, window start in epoch seconds) → past values, most recent first."""


def history_starts(window_start: int, weeks: int) -> list[int]:
    """Starts of the windows at the same hour of week 1..``weeks`` weeks before."""
    return [window_start - i * WEEK_S for i in range(1, weeks + 1)]


def mean_stddev(values: Sequence[float]) -> tuple[float, float]:
    """Mean and *population* standard deviation (÷ n), computed with exact sums."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)


def baseline_level(values: Sequence[float], k: float) -> float:
    """mean + k·stddev of ``values``."""
    mean, sd = mean_stddev(values)
    return mean + k * sd
