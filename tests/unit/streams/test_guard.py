"""The dead-letter guard judges stations, not events: one failing source is never global."""

from __future__ import annotations

import re

import pytest

from streams.guard import NO_STATION, DlqFloodError, DlqGuard

GOOD = [f"KZ-G{i:02}" for i in range(16)]


def dead(station: str, n: int, reason: str = "unknown_station") -> list[tuple[str, str]]:
    return [(station, reason)] * n


def test_a_flood_of_one_unregistered_station_among_flowing_ones_never_trips() -> None:
    g = DlqGuard(ratio=0.95, min_events=2000)
    t = 0.0
    for _ in range(120):  # two minutes: 16 stations at 10 events/s, the bad one at 200/s
        assert g.observe({s: 10 for s in GOOD}, dead("UZ-GHOST", 200), t) is None
        t += 1.0
    assert g.failed_share > 0.5  # most *events* fail: the old guard would have stopped
    assert g.stations_seen == 17


def test_a_released_hold_judged_beside_the_stations_that_kept_flowing() -> None:
    """The issue's case: 30 s of held records released in one batch of 7,194 dead letters.
    The window spans the last minute, so the stations that flowed meanwhile are in it."""
    g = DlqGuard(ratio=0.95, min_events=2000)
    for t in range(30):
        assert g.observe({s: 2 for s in GOOD}, [], float(t)) is None
    burst = [(f"US-IN{i:02}", "unknown_station") for i in range(15) for _ in range(480)]
    assert g.observe({}, burst, 30.0) is None
    assert g.failed_share > 0.85  # the old guard judged the burst alone: 100 %, stop


def test_almost_every_station_failing_trips_and_names_them_with_their_reasons() -> None:
    g = DlqGuard(ratio=0.95, min_events=500)
    for t in range(10):  # 20 stations, each sending a format the schema refuses
        verdict = g.observe({}, [(s, "invalid") for s in GOOD + ["A", "B", "C", "D"]
                                 for _ in range(5)] + dead("A", 1, "not_json"), float(t))
        if verdict is not None:
            break
    assert isinstance(verdict, DlqFloodError)
    msg = str(verdict)
    assert msg.startswith("20 of the 20 stations")
    # the worst first (A, 30 dead letters), then by name; each with its top two reasons
    assert "A (30 of 30: invalid 25, not_json 5); B (25 of 25: invalid 25); C (" in msg
    assert "KZ-G00 (" in msg and "KZ-G01" not in msg
    assert re.search(r"; KZ-G00 \(25 of 25: invalid 25\), \+15 more", msg), msg
    assert "invalid" in msg and "BLO_INGEST_DLQ_GUARD_RATIO" in msg


def test_one_healthy_station_in_twenty_is_not_enough_to_go_on_but_two_are() -> None:
    bad = [f"B{i:02}" for i in range(19)]
    g = DlqGuard(ratio=0.95, min_events=100)
    v = g.observe({"OK": 50}, [(s, "invalid") for s in bad for _ in range(10)], 0.0)
    assert isinstance(v, DlqFloodError) and v.args[0].startswith("19 of the 20 stations")
    g = DlqGuard(ratio=0.95, min_events=100)
    assert g.observe({"OK": 50, "OK2": 1}, [(s, "invalid") for s in bad for _ in range(10)],
                     0.0) is None  # 19 of 21 < 95 %


def test_a_station_with_some_bad_events_is_not_failing() -> None:
    g = DlqGuard(ratio=0.95, min_events=100)
    # every station has bad events, none reaches 95 % of its own
    assert g.observe({s: 10 for s in GOOD}, [(s, "invalid") for s in GOOD for _ in range(90)],
                     0.0) is None


def test_garbage_on_the_whole_topic_trips_as_the_only_source() -> None:
    """The old protection: a producer writing the wrong format to the whole topic."""
    g = DlqGuard(ratio=0.9, min_events=200)
    assert g.observe({}, dead("", 150, "not_json"), 0.0) is None  # too few events to judge
    v = g.observe({}, dead("", 100, "not_json"), 0.5)
    assert isinstance(v, DlqFloodError)
    assert f"{NO_STATION} (250 of 250: not_json 250)" in str(v)


def test_garbage_from_one_producer_among_stations_does_not_trip() -> None:
    g = DlqGuard(ratio=0.9, min_events=200)
    for t in range(30):
        assert g.observe({"KZ-T1": 5, "KZ-T2": 5}, dead("", 100, "not_json"), float(t)) is None


def test_two_stations_both_failing_trip_but_one_of_two_does_not() -> None:
    g = DlqGuard(ratio=0.5, min_events=10)
    assert g.observe({"OK": 5}, dead("X", 20), 0.0) is None
    v = DlqGuard(ratio=0.5, min_events=10).observe({}, dead("X", 10) + dead("Y", 10), 0.0)
    assert isinstance(v, DlqFloodError)


def test_the_window_forgets_what_is_older_than_its_span_and_its_events() -> None:
    g = DlqGuard(ratio=0.9, min_events=100, window_s=10)
    g.observe({s: 10 for s in GOOD}, [], 0.0)  # every station flowed, then went quiet
    for t in range(1, 11):  # inside the window: the quiet stations still count
        assert g.observe({}, dead("X", 20) + dead("Y", 20), float(t)) is None
    # past the window (and with min_events without them), only the failing two are left
    v = g.observe({}, dead("X", 20) + dead("Y", 20), 12.0)
    assert isinstance(v, DlqFloodError) and v.args[0].startswith("2 of the 2 stations")


def test_the_window_keeps_min_events_however_old() -> None:
    g = DlqGuard(ratio=0.9, min_events=1000, window_s=1)
    for t in range(100):  # sparse traffic: 10 events a second, all good
        g.observe({"KZ-T1": 10}, [], float(t))
    assert g.stations_seen == 1
    g.observe({"KZ-T2": 5}, [], 200.0)
    assert g.stations_seen == 2  # the old station is still within the last 1000 events
    assert g.failed_share == 0.0


def test_a_station_recovering_stops_counting_as_failing() -> None:
    g2 = DlqGuard(ratio=0.9, min_events=50, window_s=5)
    g2.observe({"Y": 100}, dead("X", 100), 0.0)
    for t in range(1, 20):
        assert g2.observe({"X": 100}, dead("Y", 1), float(t)) is None
    assert g2.failed_share < 0.05


@pytest.mark.parametrize("ratio", [0.5, 0.95, 1.0])
def test_no_dead_letters_never_trip(ratio: float) -> None:
    g = DlqGuard(ratio=ratio, min_events=1)
    assert g.observe({"X": 1}, [], 0.0) is None


def test_the_window_stays_bounded() -> None:
    g = DlqGuard(ratio=0.9, min_events=100, window_s=10)
    for t in range(10_000):
        g.observe({f"S{t % 50}": 3}, [], float(t) / 2)
        g.observe({}, [], float(t) / 2)  # an empty batch adds nothing
    # 6 events a second: the last 100 events span 17 s, longer than the 10 s window
    assert len(g._buckets) == 17 and g.stations_seen == 34
