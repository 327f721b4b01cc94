"""Count reports feed only the calendar windows that hold their whole period."""

from __future__ import annotations

from collections import Counter
from typing import Any

from streams.windows import WindowState
from tests.unit.streams.windows.driver import Run, run
from tests.unit.streams.windows.oracle import (
    Ev,
    as_dict,
    content,
    epoch,
    expected,
    finals,
    readers_view,
)


def report(start: str, end: str, value: float, measure: str = "trucks", dimension: str = "",
           station: str = "UZ-AYRITOM") -> Ev:
    s, e = epoch(start), epoch(end)
    return Ev(s, station, "count_report", measure=measure, dimension=dimension, value=value,
              period=(s, e))


def kinds(rows: list[tuple[Any, ...]]) -> Counter[str]:
    return Counter(as_dict(r)["window_kind"] for r in rows)


def test_reports_feed_the_calendar_windows_their_period_fits() -> None:
    # Asia/Tashkent is UTC+5
    events = [
        report("2024-03-05T00:00:00+05:00", "2024-03-06T00:00:00+05:00", 10),  # a local day
        report("2024-03-06T00:00:00+05:00", "2024-03-07T00:00:00+05:00", 12),
        report("2024-03-06T06:00:00+05:00", "2024-03-06T12:00:00+05:00", 1, "persons"),  # 6 h
        report("2024-03-07T00:00:00+05:00", "2024-03-09T00:00:00+05:00", 30),  # two days
        report("2024-02-01T00:00:00+05:00", "2024-03-01T00:00:00+05:00", 400),  # February
        report("2024-03-05T00:00:00+00:00", "2024-03-06T00:00:00+00:00", 7, "cars"),  # UTC day
        report("2024-03-10T00:00:00+05:00", "2024-03-11T00:00:00+05:00", 3, "trucks", "inbound"),
    ]
    r = run(events)
    view = finals(r.rows)
    assert {k: content(v) for k, v in view.items()} == expected(events)
    got = {(v["window_kind"], v["window_label"], v["measure"], v["dimension"]): v["value"]
           for v in view.values()}
    assert got == {
        ("day", "2024-03-05", "trucks", ""): 10.0,
        ("day", "2024-03-06", "trucks", ""): 12.0,
        ("day", "2024-03-06", "persons", ""): 1.0,
        ("day", "2024-03-10", "trucks", "inbound"): 3.0,
        ("month", "2024-03", "trucks", ""): 10 + 12 + 30.0,
        ("month", "2024-03", "persons", ""): 1.0,
        ("month", "2024-03", "cars", ""): 7.0,  # a UTC day spans two local days: month only
        ("month", "2024-03", "trucks", "inbound"): 3.0,
        ("month", "2024-02", "trucks", ""): 400.0,
    }
    assert set(kinds(r.rows)) == {"day", "month"}  # never tumbling or hopping windows
    assert r.unwindowed == 0


def test_a_report_that_fits_no_window_is_counted_not_lost_in_silence() -> None:
    r = Run(WindowState())
    r.add([report("2024-02-20T00:00:00+05:00", "2024-03-05T00:00:00+05:00", 99)])
    r.tick()
    r.close_all()
    assert r.rows == [] and r.unwindowed == 1
    assert r.state.open_windows == 0


def test_a_report_later_than_its_window_lateness_goes_to_the_ledger() -> None:
    r = Run(WindowState())
    r.add([report("2024-05-01T00:00:00+05:00", "2024-06-01T00:00:00+05:00", 1)])  # May
    r.tick()
    # the reports watermark is May 1st 00:00 (-30 s): April 30th is within its lateness
    r.add([report("2024-04-30T00:00:00+05:00", "2024-05-01T00:00:00+05:00", 5)])
    r.tick()
    assert r.late == []
    # April 10th's day is past its lateness for good; April's month is not
    r.add([report("2024-04-10T00:00:00+05:00", "2024-04-11T00:00:00+05:00", 2)])
    r.tick()
    assert [(x[2], x[5]) for x in r.late] == [("day", "count_report")]
    r.tick(5.0)
    view = readers_view(r.rows)
    assert sorted((v["window_label"], v["value"]) for v in view.values()) == [
        ("2024-04", 7.0), ("2024-04-30", 5.0), ("2024-05", 1.0)]
