"""Exponential backoff: the waits between retries, ``first_s`` doubling up to ``max_s``.

The one retry/backoff helper of the project, a leaf module (imports nothing of the project).
Used by the broker's retries (``streams.broker``, ``blo.broker_wait``), the ClickHouse sink's
retries (``sinks.retrier``), the alert webhook (``sinks.webhook``), the station SDK's sender
(``blo.sdk.sender``) and the station-registry reader (``streams.registry_reader``). How
many attempts a loop makes, and what it does between them, is the loop's own business.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import count

# 2.0 ** 1000 is finite; a larger exponent could only ever give ``max_s`` anyway.
_MAX_EXPONENT = 1000


def delay_s(
    attempt: int,
    first_s: float,
    max_s: float,
    *,
    jitter: tuple[float, float] | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """The wait before retry number ``attempt`` (1, 2, …): ``first_s * 2 ** (attempt - 1)``
    capped at ``max_s`` — for any ``attempt``, so a loop that retries forever never
    overflows.

    ``jitter=(low, high)`` multiplies the capped wait by a factor drawn uniformly from
    [``low``, ``high``) with ``rand`` (uniform in [0, 1)), so clients that failed together
    do not retry together; a ``high`` above 1 may exceed ``max_s`` by that factor."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    delay = min(max_s, first_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    if jitter is not None:
        low, high = jitter
        delay *= low + (high - low) * rand()
    return delay


def delays(first_s: float, max_s: float) -> Iterator[float]:
    """``first_s``, ``2 * first_s``, … capped at ``max_s``, forever (:func:`delay_s` of
    attempts 1, 2, …)."""
    for attempt in count(1):
        yield delay_s(attempt, first_s, max_s)
