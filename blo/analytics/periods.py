"""Reporting periods: a month, a quarter or a year, as analysts name them.

``2026-10`` (a month), ``2026-Q3`` (a quarter), ``2026`` (a year). A period is a set of
calendar months **in each post's local time**, the months of the ``month`` window family
(``window_label`` ``YYYY-MM``, station-local): a bulletin for October counts each post's
own October, as the posts' month reports do. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

PeriodKind = Literal["month", "quarter", "year"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")

PERIOD_HELP = "a month (2026-10), a quarter (2026-Q3) or a year (2026)"


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    """``first`` is the period's first month as ``(year, month)``; ``kind`` its length."""

    year: int
    first_month: int
    kind: PeriodKind

    @classmethod
    def parse(cls, text: str) -> Period:
        t = text.strip()
        if m := _MONTH.match(t):
            year, month = int(m[1]), int(m[2])
            if not 1 <= month <= 12:
                raise PeriodError(f"period {text!r}: month {month} is not 01..12")
            return cls._checked(year, month, "month", text, 1971)
        if m := _QUARTER.match(t):
            return cls._checked(int(m[1]), 3 * int(m[2]) - 2, "quarter", text, 1971)
        if m := _YEAR.match(t):
            return cls._checked(int(m[1]), 1, "year", text, 1971)
        raise PeriodError(f"period {text!r}: expected {PERIOD_HELP}")

    @classmethod
    def _checked(cls, year: int, month: int, kind: PeriodKind, text: str,
                 first_year: int = 1970) -> Period:
        # what ClickHouse's DateTime holds; a period asked for starts in 1971 at the
        # earliest, so that the one before and the year before are in range too
        if not first_year <= year <= 2105:
            raise PeriodError(f"period {text!r}: year {year} is outside {first_year}..2105")
        return cls(year, month, kind)

    @property
    def length(self) -> int:
        """Months in the period."""
        return {"month": 1, "quarter": 3, "year": 12}[self.kind]

    @property
    def name(self) -> str:
        """The period as it is written: ``2026-10``, ``2026-Q3``, ``2026``."""
        if self.kind == "month":
            return f"{self.year:04d}-{self.first_month:02d}"
        if self.kind == "quarter":
            return f"{self.year:04d}-Q{(self.first_month + 2) // 3}"
        return f"{self.year:04d}"

    def __str__(self) -> str:
        return self.name

    def months(self) -> tuple[str, ...]:
        """The ``month`` window labels of the period, in order."""
        out = []
        for i in range(self.length):
            y, m = divmod(self.first_month - 1 + i, 12)
            out.append(f"{self.year + y:04d}-{m + 1:02d}")
        return tuple(out)

    def shifted(self, periods: int) -> Period:
        """The period ``periods`` periods of the same kind later (earlier when negative)."""
        y, m = divmod(self.first_month - 1 + periods * self.length, 12)
        return Period._checked(self.year + y, m + 1, self.kind, self.name)

    def previous(self) -> Period:
        """The period just before: September for October, Q2 for Q3, 2025 for 2026."""
        return self.shifted(-1)

    def year_before(self) -> Period:
        """The same period a year earlier (for a year: the previous year)."""
        return Period._checked(self.year - 1, self.first_month, self.kind, self.name)

    def utc_bounds(self, slack: timedelta = timedelta(hours=14)) -> tuple[datetime, datetime]:
        """UTC instants that surely hold every post's local months of the period: its UTC
        month bounds widened by ``slack`` on each side (no zone is more than 14 h from
        UTC). For pruning reads of events by time; the months themselves select by label."""
        start = datetime(self.year, self.first_month, 1, tzinfo=UTC)
        y, m = divmod(self.first_month - 1 + self.length, 12)
        end = datetime(self.year + y, m + 1, 1, tzinfo=UTC)
        return start - slack, end + slack
