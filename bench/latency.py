"""Pure helpers of the live bench (``bench/live_bench.py``): percentiles, and the mapping of
send times to visibility times through polled row counts. No I/O, no project imports.

The visibility method: the bench polls ``count()`` of the events table every few tens of
milliseconds and keeps ``(t, count)``. Event ``i`` (0-based, in send order) is taken to be
visible at the first poll whose count reaches ``base + i + 1``; its latency is that time
minus its send time. This is exact when rows become visible in send order; with several
partitions they may not, but a burst of rows becomes visible together (one insert), and
within a steady stream the error is bounded by the reordering, so the percentiles hold.
Time resolution is the poll interval (the latency is an upper bound by at most one
interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation between closest ranks (as
    ``numpy.percentile``'s default). NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def match_visibility(sent: Sequence[float], polls: Sequence[tuple[float, int]],
                     base: int = 0) -> list[float | None]:
    """Latency of each sent event (``sent[i]``: its send time), or None when no poll saw it.

    ``polls``: ``(time, count)`` in time order, counts not decreasing (a count that drops is
    treated as the highest seen so far); ``base``: the count before the first event was
    sent. Event ``i`` is visible at the first poll with ``count >= base + i + 1``, never
    before it was sent (a poll earlier than its send time counts other rows).
    """
    out: list[float | None] = [None] * len(sent)
    i = 0
    high = base
    for t, count in polls:
        high = max(high, count)
        while i < len(sent) and high >= base + i + 1:
            if t < sent[i]:
                break  # rows not ours (or not yet sent): wait for a later poll
            out[i] = t - sent[i]
            i += 1
        if i >= len(sent):
            break
    return out


def visible_rate(polls: Sequence[tuple[float, int]], t_from: float, t_to: float) -> float:
    """Rows per second that became visible between ``t_from`` and ``t_to``, from the last
    poll at or before each (0 when the polls do not span the interval)."""
    def count_at(t: float) -> tuple[float, int] | None:
        best = None
        for p in polls:
            if p[0] <= t:
                best = p
            else:
                break
        return best

    a, b = count_at(t_from), count_at(t_to)
    if a is None or b is None or b[0] <= a[0]:
        return 0.0
    return (b[1] - a[1]) / (b[0] - a[0])
