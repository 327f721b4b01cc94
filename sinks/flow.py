"""The sink's flow control: :class:`FlowControl` decides backpressure and notices stalls.

Backpressure is on while a write (or a read) is being retried, while more rows are unwritten
than the sink's bound, or while the sink is stalled; :meth:`FlowControl.wait_for_room` is
where a submitter waits it out. Listeners hear ``True``/``False`` when it starts/ends (the
stream pauses/resumes its Kafka partitions).

A *stall*: the oldest submission not yet written (or a read failing since) is older than
``sink_stall_s`` — ClickHouse is not answering, even if no call has failed yet (a paused
server holds an insert until the driver's timeout). One warning when it starts, one when it
ends, ``blo_sink_stalled``; ``/readyz`` answers 503 meanwhile (a stall listener).

The sink calls :meth:`FlowControl.update` whenever its state may have changed (and on its
age timer, so a stall starts while nothing else happens).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from blo.metrics import Metrics

log = logging.getLogger("sinks.batching")  # the sink's one logger, whichever part speaks


class FlowControl:
    """Backpressure and stall state of one sink; see the module docstring."""

    def __init__(self, metrics: Metrics, *, limit_rows: int, stall_s: float) -> None:
        self._m = metrics
        self._limit_rows = limit_rows
        self._stall_s = stall_s
        self.backpressured = False
        self._stalled = False
        self._stalled_at = 0.0  # monotonic time the oldest pending write of a stall began
        self._room = asyncio.Event()  # set while not backpressured (or the sink failed)
        self._room.set()
        self._listeners: list[Callable[[bool], None]] = []
        self._stall_listeners: list[Callable[[bool, float], None]] = []

    def add_backpressure_listener(self, callback: Callable[[bool], None]) -> None:
        self._listeners.append(callback)

    def add_stall_listener(self, callback: Callable[[bool, float], None]) -> None:
        self._stall_listeners.append(callback)

    async def wait_for_room(self, raise_if_failed: Callable[[], None]) -> None:
        """Return once there is no backpressure; ``raise_if_failed()`` raises meanwhile if
        the sink fails (:meth:`release` wakes the waiters for that)."""
        while True:
            raise_if_failed()
            if not self.backpressured:
                return
            await self._room.wait()

    def release(self) -> None:
        """Wake every waiter (the sink failed: they are to raise)."""
        self._room.set()

    def update(
        self, *, unwritten: int, retrying: int, oldest_pending_s: float, in_flight: int,
        failed: bool,
    ) -> None:
        """Recompute the stall and the backpressure from the sink's state; tell the
        listeners of a change."""
        self._m.sink_buffered_rows.set(unwritten)
        stalled = self._update_stall(oldest_pending_s, unwritten, in_flight)
        state = bool(retrying) or unwritten > self._limit_rows or stalled
        if state == self.backpressured:
            return
        self.backpressured = state
        self._m.sink_backpressured.set(1 if state else 0)
        if state and not failed:
            self._room.clear()
        else:
            self._room.set()
        # Buffer-full backpressure is ordinary flow control at full speed: debug only.
        # Failures are logged (as warnings) by the retry loop itself.
        log.debug(
            "sink backpressure %s (%d rows unwritten, %d batches retrying)",
            "on" if state else "off", unwritten, retrying,
        )
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("backpressure listener %r failed", listener)

    def _update_stall(self, age: float, unwritten: int, in_flight: int) -> bool:
        self._m.sink_oldest_pending.set(age)
        stalled = age > self._stall_s
        if stalled == self._stalled:
            return stalled
        self._stalled = stalled
        self._m.sink_stalled.set(1 if stalled else 0)
        if stalled:
            log.warning(
                "ClickHouse has not taken rows handed to the sink %.1f s ago (%d rows "
                "unwritten, %d inserts in flight): not answering? /readyz answers 503 "
                "(sink_stalled) until they are written", age, unwritten, in_flight,
            )
            self._stalled_at = time.monotonic() - age
        else:
            age = time.monotonic() - self._stalled_at
            log.warning("ClickHouse takes rows again: the sink was stalled for %.1f s", age)
        for listener in list(self._stall_listeners):
            try:
                listener(stalled, age)
            except Exception:
                log.exception("stall listener %r failed", listener)
        return stalled
