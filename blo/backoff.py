"""Exponential backoff: the waits between retries, ``first_s`` doubling up to ``max_s``.

A leaf module (imports nothing of the project). Used by the broker's retries
(``streams.broker``, ``blo.broker_wait``); the older loops of ``sinks.batching``,
``sinks.webhook``, ``blo.sdk.sender`` and ``streams.registry_reader`` still compute their own.
"""

from __future__ import annotations

from collections.abc import Iterator


def delays(first_s: float, max_s: float) -> Iterator[float]:
    """``first_s``, ``2 * first_s``, … capped at ``max_s``, forever."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, max_s)
