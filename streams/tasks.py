"""The two task helpers of a worker's processes: background tasks whose failures are
logged, and guarded periodic steps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("blo.tasks")


class Background:
    """Tasks started and not awaited: referenced until done, a failure logged."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Awaitable[Any], what: str) -> None:
        fut = asyncio.ensure_future(coro)
        self._tasks.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            self._tasks.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("%s failed: %s", what, f.exception())

        fut.add_done_callback(done)


class Stoppable(Protocol):
    stopping: bool
    fatal: BaseException | None

    def fail(self, exc: BaseException) -> None: ...


async def guarded(owner: Stoppable, what: str, step: Callable[[], Awaitable[Any]]) -> None:
    """A timer's step: skipped while stopping; an error (a sink that failed for good, a
    refused produce) stops the worker (``owner.fail``) instead of repeating every tick."""
    if owner.stopping or owner.fatal is not None:
        return
    try:
        await step()
    except Exception as e:
        if owner.stopping:  # begun before the shutdown, cut by it (producer or sink closed)
            log.warning("%s interrupted by the shutdown: %s", what, e)
            return
        log.exception("%s failed", what)
        owner.fail(e)


async def every(interval_s: float, owner: Stoppable, what: str,
                step: Callable[[], Awaitable[Any]]) -> None:
    """Run ``step`` every ``interval_s``, :func:`guarded`, until cancelled (the ingest
    process's timers; the Faust process has Faust's)."""
    while True:
        await asyncio.sleep(interval_s)
        await guarded(owner, what, step)
