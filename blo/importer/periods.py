"""Reading a row's reporting period and anchoring it in time.

Naive dates are **station-local**: a BTS ``12/01/2018 12:00:00 AM`` at a Texas port is
local midnight in America/Chicago, i.e. ``2018-12-01T06:00:00Z``. Dates carrying an offset
(``%z``) keep it. Month/year/day periods are truncated to their start and end at the next
start (exclusive), both computed on the local wall clock and then converted, so DST days
and months have their true length. Results are cached per (cell text, zone): a file has
few distinct dates, so parsing costs next to nothing per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package
from blo.importer.fields import Row, RowError, compile_text
from blo.importer.mapping import TimeSpec

_MONTHS = {
    name: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for name in names
}
_KEY_OF: dict[str, Callable[[datetime], int]] = {
    "yyyy": lambda t: t.year,
    "yyyymm": lambda t: t.year * 100 + t.month,
    "yyyymmdd": lambda t: (t.year * 100 + t.month) * 100 + t.day,
    "yyyymmddhh": lambda t: ((t.year * 100 + t.month) * 100 + t.day) * 100 + t.hour,
}
_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # UTC
    start_iso: str  # RFC 3339, UTC
    end_iso: str
    key: int  # source_seq period key, from the local start


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _zone_or_reject(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RowError("bad_tz", f"station time zone {name!r} is not an IANA zone") from None


def _month_number(text: str) -> int:
    t = text.strip().lower()
    if t.isdigit() and 1 <= int(t) <= 12:
        return int(t)
    try:
        return _MONTHS[t]
    except KeyError:
        raise RowError("bad_date", f"time.fiscal.month: {text!r} is not a month") from None


def _next_start(local: datetime, period: str) -> datetime:
    if period == "day":
        return local + timedelta(days=1)
    if period == "year":
        return local.replace(year=local.year + 1)
    if local.month == 12:
        return local.replace(year=local.year + 1, month=1)
    return local.replace(month=local.month + 1)


def _truncate(dt: datetime, period: str) -> datetime:
    if period == "year":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    return dt


def _utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


class PeriodReader:
    """``read(row, tz_name) -> Period`` for one mapping's ``time`` block; raises RowError."""

    def __init__(self, spec: TimeSpec, index: dict[str, int], period_key: str) -> None:
        self._spec = spec
        self._formats = tuple(spec.formats)
        self._key_of = _KEY_OF[period_key]
        self._cache: dict[tuple[str, str, str], Period | RowError] = {}
        self._window = spec.window
        self._text: Callable[[Row], str]
        self._end: Callable[[Row], str] | None = None
        if spec.fiscal is not None:
            year = compile_text(spec.fiscal.year, index, "time.fiscal.year")
            month = compile_text(spec.fiscal.month, index, "time.fiscal.month")
            self._text = lambda row: f"{year(row)}\x1f{month(row)}"
        else:
            assert spec.date is not None  # checked when the mapping was loaded
            self._text = compile_text(spec.date, index, "time.date")
        if spec.end is not None:
            self._end = compile_text(spec.end, index, "time.end")

    def read(self, row: Row, tz_name: str) -> Period:
        text = self._text(row)
        end_text = self._end(row) if self._end is not None else ""
        key = (text, end_text, tz_name)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = self._compute(text, end_text, tz_name)
            except RowError as err:
                hit = err
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        if isinstance(hit, RowError):
            raise hit
        return hit

    def _parse(self, text: str, where: str) -> datetime:
        for fmt in self._formats:
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
        raise RowError("bad_date", f"{where}: {text!r} matches none of {list(self._formats)}")

    def _start(self, text: str) -> datetime:
        fiscal = self._spec.fiscal
        if fiscal is None:
            if not text:
                raise RowError("bad_date", "time.date is empty")
            return self._parse(text, "time.date")
        year_text, month_text = text.split("\x1f")
        if not (year_text.isdigit() and len(year_text) == 4):
            raise RowError("bad_date", f"time.fiscal.year: {year_text!r} is not a year")
        fy, month = int(year_text), _month_number(month_text)
        year = fy - 1 if fiscal.first_month > 1 and month >= fiscal.first_month else fy
        return datetime(year, month, 1)

    def _compute(self, text: str, end_text: str, tz_name: str) -> Period:
        period = self._spec.period
        local = _truncate(self._start(text), period)
        tz: tzinfo = local.tzinfo if local.tzinfo is not None else _zone_or_reject(tz_name)
        local = local.replace(tzinfo=tz)
        self._check_window(local.date(), text)
        if period == "explicit":
            end = self._parse(end_text, "time.end")
            if self._spec.end_inclusive:
                end += timedelta(days=1)
            end = end if end.tzinfo is not None else end.replace(tzinfo=tz)
            if end <= local:
                raise RowError("bad_period", f"time.end {end_text!r} is not after {text!r}")
        else:
            end = _next_start(local, period)
        start_utc = local.astimezone(UTC)
        return Period(start_utc, start_utc.isoformat(), _utc_iso(end),
                      self._key_of(local))

    def _check_window(self, day: date, text: str) -> None:
        w = self._window
        if w is None:
            return
        if (w.start is not None and day < w.start) or (w.end is not None and day >= w.end):
            lo = w.start.isoformat() if w.start else "-inf"
            hi = w.end.isoformat() if w.end else "+inf"
            raise RowError("out_of_window",
                           f"period starting {day.isoformat()} (from {text!r}) is outside "
                           f"time.window [{lo}, {hi})")
