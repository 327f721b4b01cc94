"""Window boundaries: epoch-aligned tumbling/hopping windows and station-local calendar
days and months (oracles: hard-coded instants, pandas, a minute-by-minute scan)."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streams.windows.assign import Calendars, hopping_starts, tumbling_start, windows_of
from streams.windows.config import WindowSpec
from tests.unit.streams.windows.oracle import epoch, local_day, local_month

ZONES = ["Asia/Almaty", "Asia/Tashkent", "Asia/Dushanbe", "Asia/Bishkek", "Asia/Ashgabat"]


def test_tumbling_windows_are_aligned_to_the_utc_epoch() -> None:
    t = epoch("2024-05-01T12:34:56+00:00")
    assert tumbling_start(t, 60) == epoch("2024-05-01T12:34:00+00:00")
    assert tumbling_start(t, 3600) == epoch("2024-05-01T12:00:00+00:00")
    assert tumbling_start(t, 86400) == epoch("2024-05-01T00:00:00+00:00")
    edge = epoch("2024-05-01T13:00:00+00:00")
    assert tumbling_start(edge, 3600) == edge  # the start belongs to the window
    assert tumbling_start(edge - 1, 3600) == edge - 3600  # the end does not


def test_hopping_windows_holding_an_instant() -> None:
    t = epoch("2024-05-01T12:07:00+00:00")
    starts = list(hopping_starts(t, 3600, 300))
    expected = [epoch("2024-05-01T11:10:00+00:00") + 300 * i for i in range(12)]
    assert starts == expected
    assert all(s <= t < s + 3600 for s in starts)
    # brute force: every 5-minute-aligned start whose window holds t
    assert starts == [s for s in range(t - 7200, t + 1) if s % 300 == 0 and s <= t < s + 3600]


def test_windows_of_each_kind() -> None:
    cal = Calendars()
    t = epoch("2024-05-01T23:30:00+06:00")  # 17:30 UTC
    assert windows_of(WindowSpec(name="1h", kind="tumbling", size_s=3600), cal,
                      "Asia/Almaty", t) == [(epoch("2024-05-01T17:00:00+00:00"),
                                             epoch("2024-05-01T18:00:00+00:00"), "")]
    assert len(windows_of(WindowSpec(name="h", kind="hopping", size_s=600, hop_s=120), cal,
                          "UTC", t)) == 5
    assert windows_of(WindowSpec(name="d", kind="calendar_day"), cal, "Asia/Almaty", t) == [
        (epoch("2024-05-01T00:00:00+05:00"), epoch("2024-05-02T00:00:00+05:00"), "2024-05-01")]


def test_almaty_29_february_2024_lasted_25_hours() -> None:
    # Asia/Almaty moved from UTC+6 to UTC+5 at local midnight 2024-03-01 (tzdata 2024a)
    cal = Calendars()
    start = epoch("2024-02-29T00:00:00+06:00")
    end = epoch("2024-03-01T00:00:00+05:00")
    assert (start, end) == (epoch("2024-02-28T18:00:00+00:00"), epoch("2024-02-29T19:00:00+00:00"))
    assert end - start == 25 * 3600
    for t in (start, start + 1, end - 3600, end - 1):
        assert cal.bounds("Asia/Almaty", "day", t) == (start, end, "2024-02-29")
    assert cal.bounds("Asia/Almaty", "day", end) == (end, end + 86400, "2024-03-01")
    assert cal.bounds("Asia/Almaty", "day", start - 1) == (
        epoch("2024-02-28T00:00:00+06:00"), start, "2024-02-28")
    # the month of February 2024 (leap year) in Almaty: 29 days and one hour
    assert cal.bounds("Asia/Almaty", "month", start) == (
        epoch("2024-02-01T00:00:00+06:00"), end, "2024-02")
    assert cal.bounds("Asia/Almaty", "month", end) == (
        end, epoch("2024-04-01T00:00:00+05:00"), "2024-03")


def test_the_almaty_change_by_a_minute_by_minute_scan() -> None:
    zone = ZoneInfo("Asia/Almaty")
    lo = epoch("2024-02-27T00:00:00+00:00")
    def day(t: int) -> date:
        return datetime.fromtimestamp(t, zone).date()

    starts = [t for t in range(lo, lo + 4 * 86400, 60) if day(t) != day(t - 60)]
    cal = Calendars()
    for a, b in itertools.pairwise(starts):
        assert cal.bounds("Asia/Almaty", "day", a)[:2] == (a, b)
    assert [b - a for a, b in itertools.pairwise(starts)] == [86400, 90000, 86400]


@pytest.mark.parametrize("zone", ZONES)
def test_calendar_days_match_pandas_over_random_instants(zone: str) -> None:
    rng = random.Random(zone)
    cal = Calendars()
    lo, hi = epoch("2017-12-25T00:00:00+00:00"), epoch("2025-01-10T00:00:00+00:00")
    for _ in range(400):
        t = rng.randrange(lo, hi)
        assert cal.bounds(zone, "day", t) == local_day(zone, t), (zone, t)
        assert cal.bounds(zone, "month", t) == local_month(zone, t), (zone, t)


@pytest.mark.parametrize("zone", ZONES)
def test_local_midnights_are_the_edges(zone: str) -> None:
    cal = Calendars()
    z = ZoneInfo(zone)
    for d in (date(2023, 12, 31), date(2024, 1, 1), date(2024, 2, 28), date(2024, 2, 29),
              date(2024, 3, 1), date(2023, 2, 28), date(2023, 3, 1), date(2024, 6, 30)):
        midnight = int(datetime(d.year, d.month, d.day, tzinfo=z).timestamp())
        assert cal.bounds(zone, "day", midnight)[::2] == (midnight, d.isoformat())
        assert cal.bounds(zone, "day", midnight - 1)[1] == midnight
        prev = d - timedelta(days=1)
        assert cal.bounds(zone, "day", midnight - 1)[2] == prev.isoformat()


@pytest.mark.parametrize(("zone", "month", "start", "end"), [
    # February of a leap year and of a common year, December into January
    ("Asia/Tashkent", "2024-02", "2024-02-01T00:00:00+05:00", "2024-03-01T00:00:00+05:00"),
    ("Asia/Tashkent", "2023-02", "2023-02-01T00:00:00+05:00", "2023-03-01T00:00:00+05:00"),
    ("Asia/Dushanbe", "2023-12", "2023-12-01T00:00:00+05:00", "2024-01-01T00:00:00+05:00"),
    ("Asia/Bishkek", "2024-04", "2024-04-01T00:00:00+06:00", "2024-05-01T00:00:00+06:00"),
    ("Asia/Ashgabat", "2024-01", "2024-01-01T00:00:00+05:00", "2024-02-01T00:00:00+05:00"),
    ("Asia/Almaty", "2024-01", "2024-01-01T00:00:00+06:00", "2024-02-01T00:00:00+06:00"),
])
def test_month_ends(zone: str, month: str, start: str, end: str) -> None:
    cal = Calendars()
    s, e = epoch(start), epoch(end)
    for t in (s, s + 1, e - 1):
        assert cal.bounds(zone, "month", t) == (s, e, month)
    assert cal.bounds(zone, "month", e)[0] == e
    assert cal.bounds(zone, "month", s - 1)[1] == s


def test_a_skipped_local_day_has_no_window() -> None:
    # Pacific/Apia skipped 2011-12-30 entirely (UTC-10 → UTC+14)
    cal = Calendars()
    t = epoch("2011-12-30T12:00:00+00:00")
    s, e, label = cal.bounds("Pacific/Apia", "day", t)
    assert label == "2011-12-31" and e - s == 86400
    assert cal.bounds("Pacific/Apia", "day", s - 1)[2] == "2011-12-29"
