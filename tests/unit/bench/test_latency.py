"""The live bench's pure helpers: percentiles and send → visible matching."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from latency import match_visibility, percentile, visible_rate


def test_percentile_interpolates_between_ranks() -> None:
    xs = [4.0, 1.0, 3.0, 2.0]
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 4.0
    assert percentile(xs, 50) == pytest.approx(2.5)
    assert percentile(list(range(101)), 99) == pytest.approx(99.0)
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_each_event_is_visible_at_the_first_poll_whose_count_covers_it() -> None:
    sent = [10.0, 10.1, 10.2, 10.3]
    polls = [(10.05, 100), (10.25, 102), (10.5, 102), (10.6, 104)]
    lat = match_visibility(sent, polls, base=100)
    assert lat == pytest.approx([0.25, 0.15, 0.4, 0.3])


def test_unseen_events_have_no_latency() -> None:
    lat = match_visibility([1.0, 2.0, 3.0], [(1.5, 1), (2.5, 2)])
    assert lat[:2] == pytest.approx([0.5, 0.5])
    assert lat[2] is None


def test_a_poll_before_the_send_does_not_count_for_it() -> None:
    # the count already covers event 1 at t=1.5 (rows of something else): it is only
    # visible at the next poll after its send time
    lat = match_visibility([1.0, 2.0], [(1.5, 2), (2.2, 2)])
    assert lat == pytest.approx([0.5, 0.2])


def test_a_dropping_count_keeps_the_highest_seen() -> None:
    lat = match_visibility([0.0, 0.0], [(1.0, 2), (2.0, 1)])
    assert lat == pytest.approx([1.0, 1.0])


def test_visible_rate_between_two_times() -> None:
    polls = [(0.0, 0), (1.0, 100), (2.0, 300), (3.0, 300)]
    assert visible_rate(polls, 0.5, 2.5) == pytest.approx(300 / 2.0)
    assert visible_rate(polls, -1.0, 2.0) == 0.0
