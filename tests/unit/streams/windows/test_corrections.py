"""Corrections in the window core (streams/windows/corrections.py, WindowState.recount):
the window keys a row touches, what to read to recount them, and the recount itself —
in memory (emitted at the next tick) or historical (``corrected`` rows against what
``window_stats`` holds).

The expected figures come from the independent oracle (oracle.py) over the events as they
stand after the correction: the readers' view of every row emitted must be the oracle's,
plus zero rows for keys that had rows and lost every event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from schemas.rows import Row
from streams.windows import WindowConfig, WindowSpec, WindowState, emitted_from_row
from streams.windows.corrections import Touched, historical_rows, read_ranges
from streams.windows.rows import WindowKey
from streams.windows.stats import WindowStats
from tests.unit.streams.windows.driver import Run
from tests.unit.streams.windows.oracle import (
    DEFAULT_SPECS,
    STAT_COLS,
    STATIONS,
    Ev,
    as_dict,
    bounds_of,
    content,
    copy_ev,
    epoch,
    expected,
    key_of,
    readers_view,
    utc,
)

T0 = epoch("2024-05-01T10:00:00+00:00")  # a whole hour
SPECS = (("1m", "tumbling", 60, None), ("10m/5m", "hopping", 600, 300),
         ("day", "calendar_day", None, None))
CONFIG = WindowConfig(windows=tuple(WindowSpec(name=n, kind=k, size_s=s, hop_s=h)  # type: ignore[arg-type]
                                    for n, k, s, h in SPECS),
                      provisional_interval_s=1)
ZERO_STATS = dict(zip(STAT_COLS[:11], (0, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0, 0.0), strict=True))


def crossing(t: int, persons: int = 1, **kw: Any) -> Ev:
    return Ev(t, "TJ-PYANJ", "crossing", persons=persons, direction="inbound",
              outcome="passed", **kw)


def stored_read(stored: Iterable[Ev], ranges: Sequence[tuple[str, str, str, str, int, int]]
                ) -> list[Row]:
    """What ``events_of_keys`` returns over ``ranges`` of the stored (current) events."""
    out = []
    for e in sorted(stored, key=lambda e: e.t):
        dim = e.dimension if e.event_type == "count_report" else e.drug
        for s, et, m, d, lo, hi in ranges:
            if (e.station, e.event_type, e.measure, dim) != (s, et, m, d):
                continue
            if e.period is not None:
                inside = lo <= e.period[0] and e.period[1] <= hi
            else:
                inside = lo <= e.t < hi
            if inside:
                out.append(e.row())
                break
    return out


def correct(state: WindowState, old: Iterable[Ev], new: Iterable[Ev], stored: Iterable[Ev]
            ) -> list[Any]:
    """What WindowRuntime.correct does up to the historical rows: touched keys of the old
    and new rows, the stored events of their ranges, the recount."""
    touched = [w for e in (*old, *new) for w in state.touched(e.row())]
    return state.recount(touched, stored_read(stored, read_ranges(touched)))


def assert_view(rows: Sequence[Row], events: Iterable[Ev],
                specs: Iterable[tuple[str, str, int | None, int | None]] = SPECS) -> None:
    """The readers' view of ``rows`` is the oracle's of ``events``; any other key is a zero
    row of a key that had a row with events before."""
    view = readers_view(rows)
    want = expected(events, specs)
    assert {k: content(v) for k, v in view.items() if k in want} == want
    had_events = {key_of(d) for d in map(as_dict, rows) if d["events"]}
    for k, v in view.items():
        if k in want:
            continue
        assert k in had_events, f"a row for a key that never had events: {k}"
        assert {c: v[c] for c in ZERO_STATS} == ZERO_STATS, k
        assert v["first_event_at"] == v["last_event_at"] == v["window_start"], k


def of(rows: Sequence[Row], kind: str, start: int) -> list[dict[str, Any]]:
    return [d for d in map(as_dict, rows)
            if d["window_kind"] == kind and d["window_start"] == utc(start)]


# -- touched ---------------------------------------------------------------------------------

def test_touched_a_live_row_every_window_of_every_spec() -> None:
    state = WindowState()  # the default windows, hopping 1h/5m included
    e = Ev(T0 + 125, "TJ-PYANJ", "seizure", drug="heroin", kg=2.0, extra={"kafka_partition": 3})
    got = state.touched(e.row())
    tz = STATIONS["TJ-PYANJ"][2]
    want = sorted((spec[0], s, end, label) for spec in DEFAULT_SPECS
                  for s, end, label in bounds_of(spec, tz, e.t))
    assert sorted((w.window_kind, w.start, w.end, w.label) for w in got) == want
    assert len(got) == 1 + 1 + 12 + 1 + 1  # a 1 h window every 5 min: 12 hold it
    assert {(w.station, w.key, w.tz, w.partition, w.stream) for w in got} == {
        ("TJ-PYANJ", ("seizure", "", "heroin"), tz, 3, "live")}
    names = [s.name for s in state.config.windows]
    assert all(names[w.spec_index] == w.window_kind for w in got)
    assert {w.window_key() for w in got} == {
        WindowKey(k, s, "TJ-PYANJ", "seizure", "", "heroin") for k, s, _, _ in want}


def test_touched_a_count_report_only_the_calendar_windows_holding_its_period() -> None:
    state = WindowState()
    station, tz = "UZ-AYRITOM", STATIONS["UZ-AYRITOM"][2]  # UTC+5

    def report(start: str, end: str) -> Ev:
        s, e = epoch(start), epoch(end)
        return Ev(s, station, "count_report", measure="trucks", dimension="inbound", value=3,
                  period=(s, e))

    day = report("2024-03-05T00:00:00+05:00", "2024-03-06T00:00:00+05:00")
    got = state.touched(day.row())
    d0, d1, dl = bounds_of(("day", "calendar_day", None, None), tz, day.t)[0]
    m0, m1, ml = bounds_of(("month", "calendar_month", None, None), tz, day.t)[0]
    assert [(w.window_kind, w.start, w.end, w.label, w.key, w.stream) for w in got] == [
        ("day", d0, d1, dl, ("count_report", "trucks", "inbound"), "reports"),
        ("month", m0, m1, ml, ("count_report", "trucks", "inbound"), "reports")]
    two_days = report("2024-03-05T00:00:00+05:00", "2024-03-07T00:00:00+05:00")
    assert [w.window_kind for w in state.touched(two_days.row())] == ["month"]
    across = report("2024-03-31T00:00:00+05:00", "2024-04-02T00:00:00+05:00")
    assert state.touched(across.row()) == []


# -- read_ranges -----------------------------------------------------------------------------

def _w(start: int, end: int, station: str = "A", key: tuple[str, str, str] = ("crossing", "", "")
       ) -> Touched:
    return Touched(0, "x", start, end, "", station, key, "UTC", 0)


def test_read_ranges_merges_overlapping_and_adjacent_spans_per_key() -> None:
    seizure = ("seizure", "", "heroin")
    windows = [
        _w(3600, 7200), _w(3660, 3720),  # inside: merged
        _w(7200, 7260),  # adjacent: merged
        _w(10**9, 10**9 + 60), _w(10**9 - 3600, 10**9),  # far away: its own span (adjacent pair)
        _w(3600, 3660, key=seizure),  # another key: apart
        _w(3600, 3660, station="B"),  # another station: apart
        _w(3600, 7200),  # a duplicate
    ]
    assert read_ranges(windows) == [
        ("A", "crossing", "", "", 3600, 7260),
        ("A", "crossing", "", "", 10**9 - 3600, 10**9 + 60),
        ("A", "seizure", "", "heroin", 3600, 3660),
        ("B", "crossing", "", "", 3600, 3660),
    ]
    assert read_ranges([_w(0, 60), _w(61, 120)]) == [
        ("A", "crossing", "", "", 0, 60), ("A", "crossing", "", "", 61, 120)]
    assert read_ranges([]) == []


# -- recount: windows in memory --------------------------------------------------------------

def _started(events: Sequence[Ev]) -> Run:
    r = Run(WindowState(CONFIG))
    r.add(events)
    r.tick()
    return r


def test_a_closed_window_in_memory_emits_its_recount_at_the_next_tick() -> None:
    e1, e2, e3 = crossing(T0 + 5), crossing(T0 + 10, persons=2), crossing(T0 + 600)
    r = _started([e1, e2, e3])  # watermark T0+570: minute T0 closed, its final emitted
    (final,) = of(r.rows, "1m", T0)
    assert (final["status"], final["persons"]) == ("final", 3)
    e2b = copy_ev(e2, persons=7)
    assert correct(r.state, [e2], [e2b], [e1, e2b, e3]) == []  # all in memory
    rows = r.tick()
    (corrected,) = of(rows, "1m", T0)
    assert (corrected["status"], corrected["events"], corrected["persons"]) == (
        "corrected", 2, 8)
    assert corrected["version"] > final["version"]
    # the hopping windows holding T0+10: one closed (corrected), one open (provisional)
    assert [(d["status"], d["persons"]) for d in of(rows, "10m/5m", T0 - 300)] == [
        ("corrected", 8)]
    assert [(d["status"], d["persons"]) for d in of(rows, "10m/5m", T0)] == [
        ("provisional", 8)]
    day_start = bounds_of(SPECS[2], STATIONS["TJ-PYANJ"][2], T0)[0][0]
    assert [(d["status"], d["persons"]) for d in of(rows, "day", day_start)] == [
        ("provisional", 9)]
    # the same recount again changes nothing: nothing is emitted
    assert correct(r.state, [e2], [e2b], [e1, e2b, e3]) == []
    assert r.tick() == []
    r.close_all()
    assert_view(r.rows, [e1, e2b, e3])


def test_a_correction_that_changes_no_figure_emits_nothing() -> None:
    e1, e3 = crossing(T0 + 5, vehicles=1), crossing(T0 + 600)
    r = _started([e1, e3])
    before = len(r.rows)
    e1b = copy_ev(e1, extra={"source_seq": 99, "correction_reason": "typo", "revision": 1})
    correct(r.state, [e1], [e1b], [e1b, e3])
    assert r.tick() == []
    assert len(r.rows) == before


def test_a_key_left_with_no_event_emits_zeros_with_its_attributes() -> None:
    e1, e3 = crossing(T0 + 5, persons=4), crossing(T0 + 600)
    r = _started([e1, e3])
    assert correct(r.state, [e1], [], [e3]) == []  # e1 voided
    rows = r.tick()
    (z,) = of(rows, "1m", T0)
    assert z["status"] == "corrected"
    assert {c: z[c] for c in ZERO_STATS} == ZERO_STATS
    assert z["first_event_at"] == z["last_event_at"] == utc(T0)
    assert (z["country"], z["border"], z["station_tz"]) == STATIONS["TJ-PYANJ"]
    r.close_all()
    assert_view(r.rows, [e3])


def test_a_hopping_key_left_with_no_event_keeps_its_attributes() -> None:
    e1, e3 = crossing(T0 + 5, persons=4), crossing(T0 + 600)
    r = _started([e1, e3])
    correct(r.state, [e1], [], [e3])
    rows = r.tick()
    (z,) = of(rows, "10m/5m", T0 - 300)
    assert z["events"] == 0
    assert (z["country"], z["border"], z["station_tz"]) == STATIONS["TJ-PYANJ"]


def test_a_revision_moved_to_another_window_zeroes_the_old_and_fills_the_new() -> None:
    e1, e2, e3 = crossing(T0 + 5, persons=4), crossing(T0 + 130), crossing(T0 + 600)
    r = _started([e1, e2, e3])
    e1b = copy_ev(e1, t=T0 + 140, persons=5)  # into e2's minute
    assert correct(r.state, [e1], [e1b], [e1b, e2, e3]) == []
    rows = r.tick()
    assert [(d["status"], d["events"]) for d in of(rows, "1m", T0)] == [("corrected", 0)]
    assert [(d["status"], d["events"], d["persons"], d["first_event_at"], d["last_event_at"])
            for d in of(rows, "1m", T0 + 120)] == [
        ("corrected", 2, 6, utc(T0 + 130), utc(T0 + 140))]
    r.close_all()
    assert_view(r.rows, [e1b, e2, e3])


def test_hopping_every_covering_window_re_emits_the_recount() -> None:
    other = Ev(T0 + 100, "TJ-PYANJ", "inspection", outcome="find")
    e1, e2 = crossing(T0 + 350, persons=2), crossing(T0 + 400, persons=3)
    e3 = crossing(T0 + 700)
    r = _started([other, e1, e2, e3])  # watermark T0+670
    e1b = copy_ev(e1, persons=10)
    correct(r.state, [e1], [e1b], [other, e1b, e2, e3])
    rows = r.tick()
    got = {(d["window_start"], d["status"], d["persons"]) for d in map(as_dict, rows)
           if d["window_kind"] == "10m/5m" and d["event_type"] == "crossing"}
    # T0+350 is in [T0, T0+600) (closed: corrected) and [T0+300, T0+900) (open)
    assert got == {(utc(T0), "corrected", 13), (utc(T0 + 300), "provisional", 14)}
    r.close_all()
    assert_view(r.rows, [other, e1b, e2, e3])


def test_hopping_a_void_leaves_no_row_in_windows_that_never_held_the_key() -> None:
    other = Ev(T0 + 100, "TJ-PYANJ", "inspection", outcome="find")
    e1 = crossing(T0 + 350, persons=2)
    r = _started([other, e1])  # watermark T0+320: [T0-300, T0+300) still open
    correct(r.state, [e1], [], [other])  # e1 voided
    r.tick()
    r.close_all()
    assert of(r.rows, "10m/5m", T0 - 300) == [
        d for d in of(r.rows, "10m/5m", T0 - 300) if d["event_type"] == "inspection"]


def test_a_window_not_in_memory_is_made_there_and_later_events_count_on_top() -> None:
    e1, e3 = crossing(T0 + 5, persons=4), crossing(T0 + 600)
    r = _started([e1, e3])  # watermark T0+570
    # moved into a minute this state never held: closed already (T0+300) but not past
    # its lateness, and one ahead of the watermark (T0+900): both are made in memory
    e1b = copy_ev(e1, t=T0 + 300)
    assert correct(r.state, [e1], [e1b], [e1b, e3]) == []
    e4 = crossing(T0 + 900, persons=6)
    e4b = copy_ev(e4, t=T0 + 905)
    assert correct(r.state, [e4], [e4b], [e1b, e3, e4b]) == []
    rows = r.tick()
    assert [(d["status"], d["events"]) for d in of(rows, "1m", T0 + 300)] == [("final", 1)]
    # later events of both minutes: a late one (direct path), an on-time one (staged)
    e5, e6 = crossing(T0 + 310, persons=1), crossing(T0 + 910, persons=2)
    r.add([e5, e6])
    rows = r.tick()
    assert [(d["status"], d["events"], d["persons"]) for d in of(rows, "1m", T0 + 300)] == [
        ("corrected", 2, 5)]
    r.close_all()
    assert [(d["events"], d["persons"]) for d in of(r.rows, "1m", T0 + 900)][-1] == (2, 8)
    assert_view(r.rows, [e1b, e3, e4b, e5, e6])


def test_staged_events_are_not_counted_twice_by_a_recount() -> None:
    e1, e3 = crossing(T0 + 5, persons=1), crossing(T0 + 600)
    r = _started([e1, e3])
    e2 = crossing(T0 + 620, persons=2)  # on time: staged until the next tick
    r.add([e2])
    e3b = copy_ev(e3, persons=5)  # a correction of its minute, e2 already stored
    correct(r.state, [e3], [e3b], [e1, e2, e3b])
    rows = r.tick()
    assert [(d["events"], d["persons"]) for d in of(rows, "1m", T0 + 600)] == [(2, 7)]
    r.close_all()
    assert_view(r.rows, [e1, e2, e3b])


# -- recount: windows past their lateness -----------------------------------------------------

LATE_CONFIG = CONFIG.model_copy(update={"allowed_lateness_s": 60})


def _stored(rows: Sequence[Row]) -> dict[WindowKey, tuple[str, int, WindowStats, Any]]:
    """What ``window_rows_of_keys`` reads: the readers' view of the rows written."""
    out = {}
    for d in readers_view(rows).values():
        key, status, version, stats = emitted_from_row(tuple(d.values()))
        out[key] = (status, version, stats, (d["country"], d["border"], d["station_tz"]))
    return out


def _past(events: Sequence[Ev]) -> tuple[Run, Ev]:
    r = Run(WindowState(LATE_CONFIG))
    r.add(events)
    r.tick()
    later = crossing(T0 + 7200)
    r.add([later])  # the minutes and 10 min windows of the first hour purge
    r.tick()
    return r, later


def test_a_window_past_its_lateness_is_corrected_against_the_stored_row() -> None:
    e1, e2 = crossing(T0 + 5, persons=4), crossing(T0 + 20, persons=1)
    r, later = _past([e1, e2])
    e1b = copy_ev(e1, persons=9)
    historical = correct(r.state, [e1], [e1b], [e1b, e2, later])
    # the minute and both 10 min windows holding T0+5; the day is still in memory
    assert sorted((w.window_kind, w.start) for w, _ in historical) == [
        ("10m/5m", T0 - 300), ("10m/5m", T0), ("1m", T0)]
    stored = _stored(r.rows)
    now = r.now + 1
    rows = historical_rows(historical, stored, LATE_CONFIG, now)
    want = expected([e1b, e2], SPECS)
    assert len(rows) == 3
    for d in map(as_dict, rows):
        k = key_of(d)
        assert content(d) == want[k]
        assert d["status"] == "corrected"
        prev = stored[WindowKey(d["window_kind"], int(d["window_start"].timestamp()),
                                d["station_id"], d["event_type"], d["measure"],
                                d["dimension"])]
        assert d["version"] == max(prev[1] + 1, int(now * 1_000_000))
        assert d["updated_at"] == utc(int(now))
    assert [d["persons"] for d in map(as_dict, r.tick()) if d["window_kind"] == "day"] == [11]
    # the same recount against the corrected rows: nothing
    assert historical_rows(historical, _stored([*r.rows, *rows]), LATE_CONFIG, now + 1) == []


def test_a_historical_window_left_with_no_event_gets_zeros_and_keeps_its_attributes() -> None:
    e1 = crossing(T0 + 5, persons=4)
    r, later = _past([e1])
    historical = correct(r.state, [e1], [], [later])
    assert historical and all(acc is None for _, acc in historical)
    rows = historical_rows(historical, _stored(r.rows), LATE_CONFIG, r.now + 1)
    assert sorted((d["window_kind"], d["window_start"]) for d in map(as_dict, rows)) == [
        ("10m/5m", utc(T0 - 300)), ("10m/5m", utc(T0)), ("1m", utc(T0))]
    for d in map(as_dict, rows):
        assert d["status"] == "corrected"
        assert {c: d[c] for c in ZERO_STATS} == ZERO_STATS
        assert d["first_event_at"] == d["last_event_at"] == d["window_start"]
        assert (d["country"], d["border"], d["station_tz"]) == STATIONS["TJ-PYANJ"]
    # no stored row and no event: nothing
    assert historical_rows(historical, {}, LATE_CONFIG, r.now + 1) == []


def test_a_historical_key_without_a_stored_row_gets_a_corrected_row() -> None:
    e1, e2 = crossing(T0 + 5, persons=4), crossing(T0 + 20)
    r, later = _past([e1, e2])
    e1b = copy_ev(e1, t=T0 + 125)  # into a minute that never had a row
    historical = correct(r.state, [e1], [e1b], [e1b, e2, later])
    now = r.now + 1
    rows = historical_rows(historical, _stored(r.rows), LATE_CONFIG, now)
    (new,) = of(rows, "1m", T0 + 120)
    assert content(new) == expected([e1b], SPECS)[key_of(new)]
    assert (new["status"], new["version"]) == ("corrected", int(now * 1_000_000))
    (old,) = of(rows, "1m", T0)
    assert (old["events"], old["persons"]) == (1, 1)  # e2 is left there
    assert_view([*r.rows, *rows, *r.close_all()], [e1b, e2, later])


# -- by_station_batches ------------------------------------------------------------------------

def test_recount_reads_are_cut_into_batches_that_never_split_a_station() -> None:
    from streams.windows.corrections import by_station_batches

    groups = [(f"S{s:02d}", "count_report", f"m{k}", "", 0, 10)
              for s in range(30) for k in range(s % 4 + 1)]  # 1-4 groups per station
    batches = by_station_batches(groups, limit=10)
    assert [g for b in batches for g in b] == groups  # all of them, in order
    assert all(len(b) <= 10 for b in batches)
    stations = [{g[0] for g in b} for b in batches]
    assert all(not (a & b) for i, a in enumerate(stations) for b in stations[i + 1:])
    # a station with more groups than the limit gets a batch of its own
    big = [("BIG", "crossing", f"m{k}", "", 0, 10) for k in range(25)]
    assert by_station_batches([groups[0], *big, groups[-1]], limit=10) == [
        [groups[0]], big, [groups[-1]]]
    assert by_station_batches([]) == []
