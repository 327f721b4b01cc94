"""Shared answers: one computation serves every caller that asks for the same key while it is
fresh (single flight), so N open dashboards of one scope cost ClickHouse one set of snapshot
queries per period, not N.

An answer is fresh for ``ttl_s`` from the moment its computation *started*; callers that
come while it runs wait for it. A computation that fails is forgotten at once (its waiters
get the error; the next caller starts a new one), so an unavailable ClickHouse is never
cached. Nothing here sleeps or polls; the clock is injected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedAnswers(Generic[T]):
    def __init__(self, ttl_s: float, *, max_keys: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, asyncio.Future[T]]] = {}
        self.computed = 0  # computations started (for tests and metrics)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            return await asyncio.shield(entry[1])
        if len(self._entries) >= self.max_keys:
            self._evict(now)
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._entries[key] = (now, fut)
        self.computed += 1
        try:
            value = await compute()
        except BaseException as e:
            if self._entries.get(key, (0.0, None))[1] is fut:
                del self._entries[key]
            if isinstance(e, Exception):
                fut.set_exception(e)
                fut.exception()  # retrieved: no "never retrieved" warning without waiters
            else:
                fut.cancel()
            raise
        fut.set_result(value)
        return value

    def _evict(self, now: float) -> None:
        """Drop stale entries; if every entry is fresh, the oldest."""
        stale = [k for k, (t, f) in self._entries.items() if now - t >= self.ttl_s and f.done()]
        for k in stale:
            del self._entries[k]
        if len(self._entries) >= self.max_keys:
            oldest = min(self._entries, key=lambda k: self._entries[k][0])
            del self._entries[oldest]
