"""The one backoff helper: doubling, the cap, jitter, and no overflow however long it runs."""

from __future__ import annotations

from itertools import islice

import pytest

from blo.backoff import delay_s, delays


def test_doubles_from_the_first_wait_up_to_the_cap() -> None:
    assert [delay_s(n, 0.5, 10.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert list(islice(delays(1.0, 30.0), 7)) == [1, 2, 4, 8, 16, 30, 30]


def test_a_loop_retrying_for_ever_stays_at_the_cap() -> None:
    # the sink retries an unreachable ClickHouse for ever: attempt 1025 used to raise
    # OverflowError (0.5 * 2 ** 1024 is no float)
    assert delay_s(1025, 0.5, 10.0) == 10.0
    assert delay_s(10**9, 1e-9, 3.0) == 3.0
    assert delay_s(10**9, 1e9, 3.0) == 3.0


def test_no_wait_when_the_first_is_zero() -> None:
    assert delay_s(1, 0.0, 5.0) == 0.0
    assert delay_s(50, 0.0, 5.0) == 0.0


def test_jitter_scales_the_capped_wait_within_its_bounds() -> None:
    assert delay_s(3, 0.5, 10.0, jitter=(0.5, 1.0), rand=lambda: 0.0) == 1.0
    assert delay_s(3, 0.5, 10.0, jitter=(0.5, 1.0), rand=lambda: 0.5) == 1.5
    assert delay_s(9, 0.5, 10.0, jitter=(0.8, 1.2), rand=lambda: 0.5) == pytest.approx(10.0)
    # above 1 the factor may exceed the cap (the SDK's ±20 %)
    assert delay_s(9, 0.5, 10.0, jitter=(0.8, 1.2), rand=lambda: 0.999) > 10.0
    waits = {delay_s(4, 1.0, 60.0, jitter=(0.5, 1.0)) for _ in range(200)}
    assert len(waits) > 1
    assert all(4.0 <= w < 8.0 for w in waits)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        delay_s(0, 1.0, 2.0)
