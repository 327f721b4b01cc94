"""Window boundaries in epoch seconds (UTC). Pure; no database is ever asked.

* tumbling: ``[k·size, (k+1)·size)`` aligned to the UTC epoch;
* hopping: windows of ``size`` starting every ``hop`` (aligned to the epoch); an instant
  lies in ``size/hop`` of them, and its pane is ``[k·hop, (k+1)·hop)``;
* calendar day / month: the station's local day or month, with the zone rules of
  :mod:`zoneinfo` (``ZoneInfo(name)``, so the same data as the rest of the process: the
  ``tzdata`` package once ``zoneinfo.reset_tzpath(to=())`` has run, else the OS's). A
  local day starts at the first instant whose local date is that day, so it lasts 23, 24
  or 25 hours (Asia/Almaty's 2024-02-29 lasted 25: the zone moved from UTC+6 to UTC+5 at
  local midnight).

Calendar bounds are cached per (zone, UTC day number): after the first event of a UTC day
the lookup is a dict get and a comparison or two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package
from streams.windows.config import WindowSpec

Bounds = tuple[int, int, str]  # (start, end, label): [start, end) in epoch seconds
DAY_S = 86_400


def tumbling_start(t: int, size: int) -> int:
    """Start of the tumbling window of ``size`` seconds holding instant ``t``."""
    return t - t % size


def hopping_starts(t: int, size: int, hop: int) -> range:
    """Starts of every hopping window holding ``t``, oldest first."""
    pane = t - t % hop
    return range(pane - size + hop, pane + 1, hop)


def _next_day(d: date) -> date:
    return d + timedelta(days=1)


def _prev_day(d: date) -> date:
    return d - timedelta(days=1)


def _next_month(d: date) -> date:
    return date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)


def _prev_month(d: date) -> date:
    return date(d.year - 1, 12, 1) if d.month == 1 else date(d.year, d.month - 1, 1)


_STEPS: dict[str, tuple[Callable[[date], date], Callable[[date], date]]] = {
    "day": (_prev_day, _next_day),
    "month": (_prev_month, _next_month),
}


class CalendarIndex:
    """Local calendar units (days or months) of one zone, looked up by instant."""

    __slots__ = ("_by_utc_day", "_starts", "unit", "zone")

    def __init__(self, zone: ZoneInfo, unit: str) -> None:
        if unit not in ("day", "month"):
            raise ValueError(f"unit must be 'day' or 'month', not {unit!r}")
        self.zone = zone
        self.unit = unit
        self._by_utc_day: dict[int, tuple[Bounds, ...]] = {}
        self._starts: dict[date, int] = {}

    def bounds(self, t: int) -> Bounds:
        """The local day/month holding instant ``t`` (epoch seconds)."""
        units = self._by_utc_day.get(t // DAY_S)
        if units is None:
            units = self._fill(t // DAY_S)
        for b in units:
            if b[0] <= t < b[1]:
                return b
        raise AssertionError(f"no {self.unit} holds {t} in {self.zone}")  # pragma: no cover

    # -- cache misses ------------------------------------------------------------------

    def _local_date(self, t: int) -> date:
        return datetime.fromtimestamp(t, self.zone).date()

    def _start_of(self, d: date) -> int:
        """First instant whose local date is ≥ ``d``."""
        s = self._starts.get(d)
        if s is not None:
            return s
        guess = int(datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp())
        if not (self._local_date(guess) >= d > self._local_date(guess - 1)):
            # midnight missing or repeated in an unusual way: search the instant
            lo, hi = guess - 2 * DAY_S, guess + 2 * DAY_S
            while lo < hi:
                mid = (lo + hi) // 2
                if self._local_date(mid) >= d:
                    hi = mid
                else:
                    lo = mid + 1
            guess = lo
        self._starts[d] = guess
        return guess

    def _unit_of(self, t: int) -> Bounds:
        prev, step = _STEPS[self.unit]
        d = self._local_date(t)
        first = d if self.unit == "day" else d.replace(day=1)
        while self._start_of(first) > t:  # only where a zone's local date goes backwards
            first = prev(first)
        nxt = step(first)
        while self._start_of(nxt) <= t:
            first, nxt = nxt, step(nxt)
        label = first.isoformat() if self.unit == "day" else first.isoformat()[:7]
        return (self._start_of(first), self._start_of(nxt), label)

    def _fill(self, day: int) -> tuple[Bounds, ...]:
        lo, hi = day * DAY_S, (day + 1) * DAY_S
        units = [self._unit_of(lo)]
        while units[-1][1] < hi:
            units.append(self._unit_of(units[-1][1]))
        found = tuple(b for b in units if b[0] < b[1])
        self._by_utc_day[day] = found
        return found


class Calendars:
    """:class:`CalendarIndex` per (zone name, unit), created on first use."""

    __slots__ = ("_indexes", "_zones")

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, str], CalendarIndex] = {}
        self._zones: dict[str, ZoneInfo] = {}

    def index(self, tz: str, unit: str) -> CalendarIndex:
        idx = self._indexes.get((tz, unit))
        if idx is None:
            zone = self._zones.get(tz)
            if zone is None:
                zone = self._zones[tz] = ZoneInfo(tz)
            idx = self._indexes[(tz, unit)] = CalendarIndex(zone, unit)
        return idx

    def bounds(self, tz: str, unit: str, t: int) -> Bounds:
        return self.index(tz, unit).bounds(t)


def unit_of(spec: WindowSpec) -> str:
    """'day' or 'month' for calendar specs."""
    return "day" if spec.kind == "calendar_day" else "month"


def max_length_s(spec: WindowSpec) -> int:
    """An upper bound of the spec's window length (calendar units vary with the zone)."""
    if spec.kind == "calendar_day":
        return 2 * DAY_S
    if spec.kind == "calendar_month":
        return 33 * DAY_S
    assert spec.size_s is not None
    return spec.size_s


def windows_of(spec: WindowSpec, calendars: Calendars, tz: str, t: int) -> list[Bounds]:
    """Every window of ``spec`` holding instant ``t`` (calendar kinds in zone ``tz``)."""
    if spec.kind == "tumbling":
        assert spec.size_s is not None
        s = tumbling_start(t, spec.size_s)
        return [(s, s + spec.size_s, "")]
    if spec.kind == "hopping":
        assert spec.size_s is not None and spec.hop_s is not None
        return [(s, s + spec.size_s, "") for s in hopping_starts(t, spec.size_s, spec.hop_s)]
    return [calendars.bounds(tz, unit_of(spec), t)]


def utc(t: float) -> datetime:
    """Epoch seconds → aware UTC datetime (whole seconds)."""
    return datetime.fromtimestamp(int(t // 1), UTC)
