"""Trends: comparison spans, changes (no division by zero), ranking with a minimum base,
baseline bands as the alert engine's levels."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from blo.analytics.periods import Period
from blo.analytics.trends import NO_BASE, Change, Span, band, compare, ranked, relative_change
from streams.alerts.rules import BaselineRule
from tests.unit.streams.alerts.factories import rules


def test_period_spans_compare_local_months() -> None:
    q3 = Span.of_period(Period.parse("2026-Q3"))
    assert q3.months == ("2026-07", "2026-08", "2026-09")
    assert q3.base("previous").months == ("2026-04", "2026-05", "2026-06")
    assert q3.base("year_before").months == ("2025-07", "2025-08", "2025-09")
    assert q3.start < datetime(2026, 7, 1, tzinfo=UTC) < datetime(2026, 10, 1, tzinfo=UTC) \
        < q3.end  # bounds only prune


def test_range_spans() -> None:
    s = Span(datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 3, 7, tzinfo=UTC))
    assert s.base("previous") == Span(datetime(2024, 2, 22, tzinfo=UTC), s.start)
    assert s.base("year_before") == Span(datetime(2023, 2, 28, tzinfo=UTC),
                                         datetime(2023, 3, 7, tzinfo=UTC))
    assert s.months == ()


def test_changes_absolute_relative_and_no_base() -> None:
    changes = compare({("KZ",): 12.0, ("TJ",): 3.0}, {("KZ",): 8.0, ("UZ",): 5.0})
    assert [(c.group, c.current, c.base, c.change, c.change_pct, c.note) for c in changes] == [
        (("KZ",), 12.0, 8.0, 4.0, 50.0, ""),
        (("TJ",), 3.0, 0.0, 3.0, None, NO_BASE),  # no division by zero
        (("UZ",), 0.0, 5.0, -5.0, -100.0, ""),
    ]
    assert relative_change(0, 0) is None
    assert relative_change(1, 3) == pytest.approx(-66.6667)


def test_ranked_needs_a_minimum_base() -> None:
    changes = [Change(("A",), 3, 1), Change(("B",), 600, 400), Change(("C",), 50, 40),
               Change(("D",), 5, 0), Change(("E",), 10, 30)]
    # by relative change A (1 -> 3, +200 %) would lead: a base of 10 keeps it out
    assert [c.group for c in ranked(changes, by="relative", min_base=10)] == [("B",), ("C",)]
    assert [c.group for c in ranked(changes, by="relative", min_base=1)] == \
        [("A",), ("B",), ("C",)]
    assert [c.group for c in ranked(changes, by="absolute", min_base=0)] == \
        [("B",), ("C",), ("D",), ("A",)]
    assert [c.group for c in ranked(changes, by="absolute", min_base=0, n=2)] == \
        [("B",), ("C",)]
    assert [c.group for c in ranked(changes, direction="fall")] == [("E",)]


RULE = rules("""
version: 1
rules:
  - id: refused
    name: refused
    severity: warning
    message: "{value}"
    kind: baseline
    statistic: refused
    window: 1h
    filters: {event_type: crossing}
    k: 3
    clear_k: 1
    weeks: 4
    min_weeks: 3
    min_value: 10
""").rules[0]


def test_band_is_the_engines_levels() -> None:
    assert isinstance(RULE, BaselineRule)
    history = [10.0, 14.0, 12.0, 8.0, 100.0]  # most recent first; only 4 weeks are used
    b = band(RULE, 0, 30.0, history)
    mean, sd = statistics.fmean(history[:4]), statistics.pstdev(history[:4])
    assert (b.weeks, b.mean, b.stddev) == (4, pytest.approx(mean), pytest.approx(sd))
    assert b.upper == pytest.approx(mean + 3 * sd) and b.clear == pytest.approx(mean + sd)
    assert b.lower == pytest.approx(mean - 3 * sd) and b.above
    assert not band(RULE, 0, 9.5, [1.0, 1.0, 1.0]).above  # under min_value
    assert band(RULE, 0, 0.0, [5.0, 1.0, 5.0]).lower == 0  # never below 0
    few = band(RULE, 0, 50.0, [1.0, 2.0])
    assert (few.weeks, few.mean, few.upper, few.above) == (2, None, None, False)
