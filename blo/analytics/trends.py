"""Trends and comparisons: a figure against the period before, against the same period a
year before, against its seasonal baseline; and the groups whose figure changed most.
Pure.

* **Spans.** A comparison sets a *current* span against a *base* span. With a reporting
  period (:class:`blo.analytics.periods.Period`) the spans are station-local months (the
  ``month`` window labels of the period and of the previous period or the year before);
  with a plain time range ``[t0, t1)`` the previous span is the equally long range just
  before and the year before is the same dates a year earlier (29 February → 28).
* **Changes.** Per group: ``current``, ``base``, the absolute ``change`` and the relative
  ``change_pct`` (percent of the base). A base of 0 has no relative change: ``change_pct``
  is None and ``note`` says why — never a division by zero, never an infinity.
* **Ranking.** "Posts whose refusals rose most": the groups with the largest rise (or fall)
  by absolute or relative change, among those whose base is at least ``min_base``, so
  that 1 → 3 (+200 %) does not outrank 400 → 600.
* **Baseline bands.** The band of a baseline alert rule for one window: the mean and
  population standard deviation of its history (the same hour of week in past weeks,
  :mod:`streams.alerts.baseline`, read by :class:`streams.alert_baseline.BaselineHistory`
  exactly as the alert engine reads it), ``upper`` = mean + k·sd (the rule fires above
  it), ``clear`` = mean + clear_k·sd, ``lower`` = mean − k·sd (at least 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from blo.analytics.periods import Period
from streams.alerts.baseline import mean_stddev
from streams.alerts.rules import BaselineRule

Against = Literal["previous", "year_before"]
AGAINST: tuple[Against, ...] = ("previous", "year_before")
NO_BASE = "no relative change: the base is 0"
"""The ``note`` of a change whose base is 0."""

GroupKey = tuple[object, ...]


@dataclass(frozen=True)
class Span:
    """A stretch of time compared: ``[start, end)`` in UTC; with a reporting period, its
    station-local month labels (``start``/``end`` then only bound the reads)."""

    start: datetime
    end: datetime
    period: Period | None = None

    @property
    def months(self) -> tuple[str, ...]:
        return self.period.months() if self.period is not None else ()

    @classmethod
    def of_period(cls, period: Period) -> Span:
        start, end = period.utc_bounds()
        return cls(start, end, period)

    def base(self, against: Against) -> Span:
        """The span this one is compared against."""
        if self.period is not None:
            p = self.period.previous() if against == "previous" else self.period.year_before()
            return Span.of_period(p)
        if against == "previous":
            return Span(self.start - (self.end - self.start), self.start)
        return Span(_year_earlier(self.start), _year_earlier(self.end))


def _year_earlier(t: datetime) -> datetime:
    try:
        return t.replace(year=t.year - 1)
    except ValueError:  # 29 February
        return t.replace(year=t.year - 1, day=28)


@dataclass(frozen=True)
class Change:
    """One group's figure in the current and the base span."""

    group: GroupKey
    current: float
    base: float

    @property
    def change(self) -> float:
        return round(self.current - self.base, 6)

    @property
    def change_pct(self) -> float | None:
        """Percent of the base; None when the base is 0 (see :attr:`note`)."""
        return relative_change(self.current, self.base)

    @property
    def note(self) -> str:
        return NO_BASE if self.base == 0 else ""


def relative_change(current: float, base: float) -> float | None:
    """``(current - base) / base`` in percent, rounded to 4 decimals; None for a base of
    0 (nothing to divide by)."""
    if base == 0:
        return None
    return round((current - base) / abs(base) * 100, 4)


def compare(current: Mapping[GroupKey, float], base: Mapping[GroupKey, float]
            ) -> list[Change]:
    """The change of every group found in either span (a group missing from one has 0
    there), in group order."""
    keys = sorted(set(current) | set(base), key=_sortable)
    return [Change(k, float(current.get(k, 0) or 0), float(base.get(k, 0) or 0))
            for k in keys]


def _sortable(key: GroupKey) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in key)


def ranked(changes: Iterable[Change], *, by: Literal["absolute", "relative"] = "absolute",
           direction: Literal["rise", "fall"] = "rise", n: int = 10, min_base: float = 1.0
           ) -> list[Change]:
    """The ``n`` groups that rose (``fall``: fell) most, by absolute or relative change,
    among those whose base is at least ``min_base`` (and, by relative change, not 0); only
    groups that did rise (fall). Ties: the larger base first, then the group."""
    sign = 1 if direction == "rise" else -1
    kept = []
    for c in changes:
        if c.base < min_base or sign * c.change <= 0:
            continue
        metric = c.change if by == "absolute" else c.change_pct
        if metric is None:
            continue
        kept.append((sign * metric, c))
    kept.sort(key=lambda mc: (-mc[0], -mc[1].base, _sortable(mc[1].group)))
    return [c for _, c in kept[:n]]


@dataclass(frozen=True)
class Band:
    """A baseline rule's band for one window of one scope key. ``weeks``: the past weeks
    the history holds (the scope reporting then); no levels (None) with fewer than the
    rule's ``min_weeks``. ``above``: the value passes the level the rule fires at (and
    its ``min_value``)."""

    window_start: int
    value: float
    weeks: int
    mean: float | None
    stddev: float | None
    lower: float | None
    upper: float | None
    clear: float | None
    min_value: float = 0.0

    @property
    def above(self) -> bool:
        return self.upper is not None and self.value > self.upper \
            and self.value >= self.min_value


def band(rule: BaselineRule, window_start: int, value: float, history: Sequence[float]
         ) -> Band:
    """The band of ``rule`` for a window of value ``value`` whose history (most recent
    first, as :class:`streams.alert_baseline.BaselineHistory` gives it) is ``history``:
    the levels the alert engine computes (:mod:`streams.alerts.windowed`), from at most
    ``rule.weeks`` values, none with fewer than ``rule.min_weeks``."""
    past = list(history)[: rule.weeks]
    if len(past) < rule.min_weeks:
        return Band(window_start, value, len(past), None, None, None, None, None,
                    rule.min_value)
    mean, sd = mean_stddev(past)
    clear_k = rule.k if rule.clear_k is None else rule.clear_k
    return Band(window_start, value, len(past), round(mean, 6), round(sd, 6),
                round(max(0.0, mean - rule.k * sd), 6), round(mean + rule.k * sd, 6),
                round(mean + clear_k * sd, 6), rule.min_value)
