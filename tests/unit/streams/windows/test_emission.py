"""Closing and emission: watermarks, out-of-order input, lateness, corrections, the
ledger, idle close, versions, provisional cadence."""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from typing import Any

from streams.windows import WindowConfig, WindowSpec, WindowState, emitted_from_row
from tests.unit.streams.windows.driver import NOW0, Run, run
from tests.unit.streams.windows.oracle import (
    STATIONS,
    Ev,
    as_dict,
    content,
    epoch,
    expected,
    finals,
    key_of,
    random_events,
    readers_view,
    shuffled_within,
    utc,
)

T0 = epoch("2024-05-01T10:00:00+00:00")  # a whole hour
MINUTE_DAY = WindowConfig(windows=(WindowSpec(name="1m", kind="tumbling", size_s=60),
                                   WindowSpec(name="day", kind="calendar_day")),
                          provisional_interval_s=1)


def rows_of(rows: list[tuple[Any, ...]], kind: str | None = None,
            station: str | None = None) -> list[dict[str, Any]]:
    return [d for d in map(as_dict, rows)
            if (kind is None or d["window_kind"] == kind)
            and (station is None or d["station_id"] == station)]


def crossing(t: int, station: str = "TJ-PYANJ") -> Ev:
    return Ev(t, station, "crossing", persons=1, direction="inbound", outcome="passed")


def assert_versions_increase_and_one_final_per_key(rows: list[tuple[Any, ...]]) -> None:
    versions: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    final_count: Counter[tuple[Any, ...]] = Counter()
    for d in map(as_dict, rows):
        versions[key_of(d)].append(d["version"])
        final_count[key_of(d)] += d["status"] == "final"
    for k, vs in versions.items():
        assert all(a < b for a, b in itertools.pairwise(vs)), (k, vs)
    assert set(final_count.values()) == {1}


# -- out-of-order input ------------------------------------------------------------------

def test_out_of_order_within_the_bound_gives_the_same_finals_as_sorted_input() -> None:
    rng = random.Random(42)
    events = random_events(rng, 3000, T0, 5 * 3600, stations=list(STATIONS))
    shuffled = shuffled_within(rng, events, 30)  # the default out_of_orderness_s
    assert shuffled != events
    a, b = run(events, per_tick=40), run(shuffled, per_tick=40)
    fa, fb = finals(a.rows), finals(b.rows)
    assert {k: content(v) for k, v in fa.items()} == {k: content(v) for k, v in fb.items()}
    assert {k: content(v) for k, v in fb.items()} == expected(events)
    for r in (a, b):
        assert r.emitted["corrected"] == 0 and r.late == []
        assert r.emitted["final"] > 1000  # most windows closed by the watermark, during the run
        assert_versions_increase_and_one_final_per_key(r.rows)


def test_windows_close_by_watermark_plus_grace() -> None:
    r = Run(WindowState(MINUTE_DAY))
    r.add([crossing(T0 + 5), crossing(T0 + 60 + 30 + 29)])  # watermark = end + grace - 1 s
    r.tick()
    assert r.emitted["final"] == 0
    r.add([crossing(T0 + 60 + 30 + 30)])  # watermark = end of the minute + grace: it closes
    closed = [d for d in rows_of(r.tick(), "1m") if d["status"] == "final"]
    assert [(d["window_start"], d["events"]) for d in closed] == [(utc(T0), 1)]


# -- lateness ---------------------------------------------------------------------------

def test_a_late_event_within_lateness_yields_a_corrected_row() -> None:
    r = Run(WindowState(MINUTE_DAY))
    r.add([crossing(T0 + 5), crossing(T0 + 600)])
    r.tick()
    final = next(d for d in rows_of(r.rows, "1m") if d["window_start"] == utc(T0))
    assert (final["status"], final["events"]) == ("final", 1)
    r.add([crossing(T0 + 50)])  # 9 minutes late: the window is closed, still retained
    new = r.tick(0.0)  # same wall clock: the version still increases
    corrected = [d for d in rows_of(new, "1m") if d["window_start"] == utc(T0)]
    assert [(d["status"], d["events"]) for d in corrected] == [("corrected", 2)]
    assert corrected[0]["version"] > final["version"]
    assert rows_of(new, "day") == []  # corrections go out at once, provisional rows wait
    day = rows_of(r.tick(5.0), "day")
    assert [(d["status"], d["events"]) for d in day] == [("provisional", 3)]
    assert r.late == []
    view = finals(r.rows)
    assert view[key_of(final)]["events"] == 2


def test_an_event_later_than_the_lateness_goes_to_the_ledger_and_changes_no_window() -> None:
    r = Run(WindowState(MINUTE_DAY))
    r.add([crossing(T0 + 5), crossing(T0 + 60 + 30 + 3600 + 30)])  # past end + grace + lateness
    r.tick()
    before = finals(r.rows)
    late_event = crossing(T0 + 7)
    r.add([late_event])
    new = r.tick(5.0)
    assert rows_of(new, "1m") == []  # the minute is purged: nothing changes
    assert [(d["status"], d["events"]) for d in rows_of(new, "day")] == [("provisional", 3)]
    assert finals(r.rows) == before
    (late,) = r.late
    wm = T0 + 60 + 30 + 3600 + 30 - 30
    assert late == (late_event.event_id, "TJ-PYANJ", "1m", utc(T0), utc(T0 + 60), "crossing",
                    utc(T0 + 7), utc(wm), utc(int(r.now)))


def test_lateness_is_decided_per_window_of_a_hopping_spec() -> None:
    config = WindowConfig(windows=(WindowSpec(name="10m/5m", kind="hopping", size_s=600,
                                              hop_s=300),), allowed_lateness_s=0, grace_s=0,
                          out_of_orderness_s=0, provisional_interval_s=1)
    r = Run(WindowState(config))
    # watermark T0+300: the window [T0-300, T0+300) is purged at the tick
    r.add([crossing(T0 + 10), crossing(T0 + 300)])
    r.tick()
    r.add([crossing(T0 + 20)])
    new = r.tick()
    assert [(d["window_start"], d["events"], d["status"]) for d in rows_of(new)] == [
        (utc(T0), 3, "provisional")]  # the window [T0, T0+600) is open and counts it
    assert [(x[2], x[3], x[4]) for x in r.late] == [("10m/5m", utc(T0 - 300), utc(T0 + 300))]


def test_a_replay_after_a_restart_emits_nothing_new() -> None:
    events = [crossing(T0 + 10 * i) for i in range(60)]  # ten minutes
    first = Run(WindowState(MINUTE_DAY))
    first.add(events)
    first.tick()
    view = readers_view(first.rows)
    assert {d["status"] for d in view.values()} == {"final", "provisional"}
    # restart: what window_stats holds, the watermark, then the same events again
    second = Run(WindowState(MINUTE_DAY), now=first.now)
    for d in view.values():
        second.state.restore_emitted(*emitted_from_row(tuple(d.values())))
    second.state.restore_watermark("TJ-PYANJ", "live", T0 + 590 - 30)
    second.add(events)
    assert second.tick() == []
    assert second.late == []
    # and a genuinely new late event is a correction of the restored final, once the
    # partition is caught up (a replay still running could still bring the rest back)
    second.add([crossing(T0 + 3)])
    assert rows_of(second.tick(), "1m") == []
    caught_up = rows_of(second.tick(caught_up={0}), "1m")
    (row,) = [r for r in caught_up if r["status"] == "corrected"]
    assert (row["events"], row["window_start"]) == (7, utc(T0))
    # the other rows are the last open minutes, closed by idleness now that it is caught up
    assert {r["status"] for r in caught_up if r is not row} <= {"final"}
    assert row["version"] > view[key_of(row)]["version"]


def test_a_restored_final_is_not_corrected_while_its_replay_is_still_running() -> None:
    """The crash case: the final row of a window was written, some of its events were not.
    The restored state counts fewer events than the final row; the replay brings the rest
    back. No correction may appear meanwhile, and none after, as nothing really changed."""
    events = [crossing(T0 + 10 * i) for i in range(60)]
    first = Run(WindowState(MINUTE_DAY))
    first.add(events)
    first.tick()
    view = readers_view(first.rows)
    second = Run(WindowState(MINUTE_DAY), now=first.now)
    for d in view.values():
        second.state.restore_emitted(*emitted_from_row(tuple(d.values())))
    second.state.restore_watermark("TJ-PYANJ", "live", T0 + 590 - 30)
    stored, unwritten = events[:3] + events[6:], events[3:6]  # three events of minute 0 lost
    second.add(stored)
    assert rows_of(second.tick(), "1m") == []  # restore tick: not caught up
    second.add(unwritten)  # the replayed tail
    assert rows_of(second.tick(), "1m") == []
    caught_up = rows_of(second.tick(caught_up={0}), "1m")
    assert [r for r in caught_up if r["status"] == "corrected"] == []  # nothing changed
    assert all(r["window_start"] != utc(T0) for r in caught_up)


# -- watermarks per station ----------------------------------------------------------------

def test_a_station_with_a_fast_clock_does_not_make_another_late() -> None:
    r = Run(WindowState(MINUTE_DAY))
    r.add([crossing(T0 + 10 * 3600, "KZ-KORDAI")])  # ten hours ahead
    r.tick()
    r.add([crossing(T0 + 5, "TJ-PYANJ")])
    new = r.tick()
    assert r.late == []
    assert {d["status"] for d in rows_of(new, station="TJ-PYANJ")} == {"provisional"}
    assert set(r.state.watermarks()) == {"KZ-KORDAI", "TJ-PYANJ"}
    assert r.state.watermarks()["TJ-PYANJ"] == T0 + 5 - 30
    r.add([crossing(T0 + 120, "TJ-PYANJ")])  # Pyanj's own time moves on: its minute closes
    assert [d["window_start"] for d in rows_of(r.tick(), "1m", "TJ-PYANJ")
            if d["status"] == "final"] == [utc(T0)]


def test_count_reports_have_their_own_watermark() -> None:
    # a monthly report arrives after its month; the live watermark is far ahead
    r = Run(WindowState())
    r.add([crossing(epoch("2024-05-10T10:00:00+05:00"))])
    r.tick()
    april = (epoch("2024-04-01T00:00:00+05:00"), epoch("2024-05-01T00:00:00+05:00"))
    r.add([Ev(april[0], event_type="count_report", measure="trucks", value=120.0, period=april)])
    r.tick(5.0)
    assert r.late == []
    (row,) = [d for d in rows_of(r.rows, "month") if d["event_type"] == "count_report"]
    assert (row["event_type"], row["measure"], row["value"], row["window_label"]) == (
        "count_report", "trucks", 120.0, "2024-04")


# -- idle close --------------------------------------------------------------------------

def test_a_silent_station_closes_after_the_idle_timeout_only_when_caught_up() -> None:
    r = Run(WindowState(MINUTE_DAY), now=float(T0 + 60))
    r.state.add(crossing(T0 + 10).row(), 1)
    r.tick(0, caught_up={1})  # now = end of the minute
    end = T0 + 60
    r.now = end + 299
    new = r.tick(1, caught_up={1})  # end = now - 300: not yet
    assert all(d["status"] == "provisional" for d in rows_of(new))
    assert r.emitted["final"] == 0
    r.now = end + 400
    assert r.tick(0, caught_up=()) == []  # not caught up: a replay is not silence
    assert r.tick(0, caught_up={0, 2}) == []  # another partition is caught up
    assert r.emitted["final"] == 0
    new = r.tick(0, caught_up={1})
    assert [(d["window_kind"], d["status"]) for d in rows_of(new)] == [("1m", "final")]
    assert r.state.open_windows == 1  # the day
    # the idle-closed window is retained (no watermark purged it): a late event corrects it
    r.state.add(crossing(T0 + 20).row(), 1)
    new = r.tick(1, caught_up={1})
    assert sorted((d["window_kind"], d["status"], d["events"]) for d in rows_of(new)) == [
        ("1m", "corrected", 2), ("day", "provisional", 2)]


def test_a_window_first_seen_while_behind_waits_for_a_caught_up_tick() -> None:
    r = Run(WindowState(MINUTE_DAY), now=float(T0 + 3600))
    r.state.add(crossing(T0 + 10).row(), 1)
    r.tick(0, caught_up={1})  # idle: every window that ended before T0 + 3300 may close
    assert [d["status"] for d in rows_of(r.rows, "1m")] == ["final"]
    r.state.add(crossing(T0 + 70).row(), 1)  # the next minute, read while partition 1 is behind
    assert [d["status"] for d in rows_of(r.tick(1, caught_up=()), "1m")] == ["provisional"]
    assert [d["status"] for d in rows_of(r.tick(1, caught_up={1}), "1m")] == ["final"]


def test_a_restart_replay_does_not_close_anything_early() -> None:
    events = [crossing(T0 + 10 * i) for i in range(30)]
    r = Run(WindowState(MINUTE_DAY), now=NOW0)  # wall clock years after the events
    r.add(events, partition=3)
    r.tick(caught_up=())  # replaying: partition 3 is behind its high watermark
    statuses = Counter(d["status"] for d in rows_of(r.rows))
    assert statuses["final"] == 3  # minutes 0-2: end + grace <= watermark (T0 + 290 - 30)
    assert statuses["provisional"] == 3  # minutes 3, 4 and the day: open, not idle-closed
    r.tick(caught_up={3})  # caught up now, and the events are old: idle close
    assert Counter(d["status"] for d in rows_of(r.rows))["final"] == 6


# -- versions and cadence ----------------------------------------------------------------

def test_versions_follow_the_wall_clock_and_always_increase() -> None:
    r = Run(WindowState(MINUTE_DAY), now=1_000.0)
    r.add([crossing(T0)])
    (v1,) = [d["version"] for d in rows_of(r.tick(0.5), "1m")]
    assert v1 == 1_000_500_000
    r.now = 10.0  # a wall clock that went backwards
    r.add([crossing(T0 + 1)])
    (v2,) = [d["version"] for d in rows_of(r.tick(0), "1m")]
    assert v2 == v1 + 1


def test_provisional_rows_at_most_every_interval_and_only_for_changed_keys() -> None:
    config = MINUTE_DAY.model_copy(update={"provisional_interval_s": 5})
    r = Run(WindowState(config), now=1_000.0)
    per_tick = []
    for i in range(12):
        if i != 6:  # no event in the seventh second
            r.add([crossing(T0 + i)])
        per_tick.append(len(rows_of(r.tick(1.0))))
    # provisional at t = 1001, 1006 (changed), 1011 (changed): 2 keys (1m, day) each time
    assert per_tick == [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0]
    r2 = Run(WindowState(config), now=1_000.0)
    r2.add([crossing(T0)])
    r2.tick(1.0)
    assert r2.tick(10.0) == []  # nothing changed: nothing emitted


def test_every_key_gets_one_final_row_with_corrections_after_it() -> None:
    rng = random.Random(5)
    events = random_events(rng, 2000, T0, 3 * 3600)
    # deliver 5% of the events 10-50 minutes late (within the allowed hour)
    late = set(rng.sample(range(len(events)), 100))
    order = [(e.t + (rng.randint(600, 3000) if i in late else 0), i) for i, e in enumerate(events)]
    delivered = [events[i] for _, i in sorted(order)]
    r = run(delivered, per_tick=25)
    assert r.emitted["corrected"] > 0 and r.late == []
    assert_versions_increase_and_one_final_per_key(r.rows)
    assert {k: content(v) for k, v in finals(r.rows).items()} == expected(events)


def test_keys_owed_a_final_row_get_it_during_the_replay() -> None:
    """A window that was still provisional before the restart is closed by the restored
    watermark: its final row must not wait for the partition to catch up (it might be purged
    first), unlike a correction of a final row."""
    events = [crossing(T0 + 10 * i) for i in range(60)]
    first = Run(WindowState(MINUTE_DAY))
    first.add(events)
    first.tick()
    view = readers_view(first.rows)
    provisional = {k for k, d in view.items() if d["status"] == "provisional"
                   and d["window_kind"] == "1m"}
    assert provisional
    second = Run(WindowState(MINUTE_DAY), now=first.now)
    for d in view.values():
        second.state.restore_emitted(*emitted_from_row(tuple(d.values())))
    # the events went on after the last rows were written: the stored watermark is later
    second.state.restore_watermark("TJ-PYANJ", "live", T0 + 1200)
    second.add(events)
    finals = {key_of(r): r for r in rows_of(second.tick(), "1m") if r["status"] == "final"}
    assert provisional <= set(finals)
    assert all(r["status"] != "corrected" for r in rows_of(second.rows, "1m"))
