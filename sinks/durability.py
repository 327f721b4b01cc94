"""Commit after write, in order: :class:`DurabilityTracker`.

Each submission to the sink gets a sequence number and the count of its rows not yet
written (in every table). Writes report the rows they stored as pieces
(``(submission, rows)``, see ``sinks.batcher``), in any order. A submission is *durable*
once its count is zero **and** every earlier submission is durable: :meth:`run_callbacks`
calls the ``on_durable`` callbacks strictly in submission order, each only then. The stream
acknowledges its Kafka offsets from those callbacks and nowhere else.

Apart from :meth:`run_callbacks` (which awaits the callbacks) it is plain bookkeeping: no
I/O, no clock (the caller passes the time).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sinks.base import OnDurable


@dataclass
class _Submission:
    unwritten: int  # rows not yet written
    on_durable: OnDurable | None
    since: float  # when it was submitted (the caller's clock)


class DurabilityTracker:
    """Submissions not yet durable, in submission order; see the module docstring."""

    def __init__(self) -> None:
        self._subs: dict[int, _Submission] = {}  # insertion order = submission order
        self._next_seq = 0
        self._next_callback = 0
        self._lock: asyncio.Lock | None = None

    def __len__(self) -> int:
        """Submissions whose callback has not run yet."""
        return len(self._subs)

    def open(self, rows: int, on_durable: OnDurable | None, now: float) -> int:
        """Register a submission of ``rows`` rows; its sequence number."""
        seq = self._next_seq
        self._next_seq += 1
        self._subs[seq] = _Submission(rows, on_durable, now)
        return seq

    def written(self, pieces: Iterable[tuple[int, int]]) -> None:
        """``(submission, rows)`` pieces are in ClickHouse."""
        for seq, rows in pieces:
            self._subs[seq].unwritten -= rows

    def oldest_since(self) -> float | None:
        """When the oldest submission whose callback has not run was submitted."""
        for sub in self._subs.values():  # the first is the oldest
            return sub.since
        return None

    def pop_durable(self) -> tuple[bool, OnDurable | None]:
        """``(True, its on_durable)`` and forget the head submission if all its rows are
        written; ``(False, None)`` if there is none."""
        sub = self._subs.get(self._next_callback)
        if sub is None or sub.unwritten > 0:
            return False, None
        del self._subs[self._next_callback]
        self._next_callback += 1
        return True, sub.on_durable

    async def run_callbacks(
        self, stopped: Callable[[], bool], on_error: Callable[[Exception], None]
    ) -> None:
        """Run, in submission order, the callback of every durable submission at the head,
        awaiting each (one caller at a time). Stops when ``stopped()`` holds (the sink
        failed). A callback that raises is forgotten and its error handed to ``on_error``,
        which is expected to make ``stopped()`` true."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while not stopped():
                durable, on_durable = self.pop_durable()
                if not durable:
                    return
                if on_durable is None:
                    continue
                try:
                    result = on_durable()
                    if inspect.isawaitable(result):
                        await result
                except Exception as e:  # noqa: BLE001 - handed on: the sink fails with it
                    on_error(e)
