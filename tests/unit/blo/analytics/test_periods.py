"""Reporting periods: parsing, their months, the previous period and the year before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blo.analytics.periods import Period, PeriodError


@pytest.mark.parametrize(("text", "months"), [
    ("2026-10", ("2026-10",)),
    ("2026-Q3", ("2026-07", "2026-08", "2026-09")),
    ("2026-q4", ("2026-10", "2026-11", "2026-12")),
    ("2024", tuple(f"2024-{m:02d}" for m in range(1, 13))),
])
def test_a_period_is_its_local_months(text: str, months: tuple[str, ...]) -> None:
    p = Period.parse(text)
    assert p.months() == months
    assert Period.parse(p.name) == p  # the name reads back as the same period


@pytest.mark.parametrize(("text", "previous", "year_before"), [
    ("2026-10", "2026-09", "2025-10"),
    ("2026-01", "2025-12", "2025-01"),
    ("2026-Q1", "2025-Q4", "2025-Q1"),
    ("2026-Q3", "2026-Q2", "2025-Q3"),
    ("2026", "2025", "2025"),
])
def test_previous_period_and_the_same_period_a_year_before(
        text: str, previous: str, year_before: str) -> None:
    p = Period.parse(text)
    assert p.previous().name == previous
    assert p.year_before().name == year_before
    assert p.shifted(-1) == p.previous() and p.shifted(1).previous() == p


def test_utc_bounds_hold_every_zones_months() -> None:
    t0, t1 = Period.parse("2026-Q4").utc_bounds()
    # Kamchatka's 1 October 00:00 (UTC+12) and Baker Island's 31 December 24:00 (UTC-12)
    assert t0 <= datetime(2026, 9, 30, 12, tzinfo=UTC)
    assert t1 >= datetime(2027, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("text", "says"), [
    ("2026-13", "month 13"), ("2026-Q5", "expected"), ("26-10", "expected"),
    ("October 2026", "expected"), ("1969", "outside"), ("1970-01", "outside"),
    ("2106", "outside"), ("", "expected"),
])
def test_a_bad_period_is_refused_with_what_is_expected(text: str, says: str) -> None:
    with pytest.raises(PeriodError, match=says):
        Period.parse(text)


def test_the_earliest_period_has_a_period_and_a_year_before() -> None:
    p = Period.parse("1971-01")
    assert (p.previous().name, p.year_before().name) == ("1970-12", "1970-01")
