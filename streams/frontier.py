"""Acknowledge offsets in order, per partition. Pure.

Faust 0.15.3 does not commit "the highest contiguous acknowledged offset": with nothing
committed yet, or with a single unacknowledged offset just above the committed one, it
commits past the gap. A record held for an unknown station would then be committed while
still in memory and lost on a restart. So the stream acknowledges nothing out of order:
:class:`AckFrontier` releases a record's handle only once every record fetched before it on
the same partition is done. A held record therefore holds back its partition's commits
(for at most the hold time) instead of being skipped.
"""

from __future__ import annotations

from collections import deque
from typing import Any

TP = tuple[str, int]


class AckFrontier:
    def __init__(self) -> None:
        self._queues: dict[TP, deque[list[Any]]] = {}  # [offset, handle, done]
        self._entries: dict[tuple[str, int, int], list[Any]] = {}

    def received(self, tp: TP, offset: int, handle: Any) -> None:
        """Register a fetched record (in fetch order per partition)."""
        entry = [offset, handle, False]
        self._queues.setdefault(tp, deque()).append(entry)
        self._entries[(tp[0], tp[1], offset)] = entry

    def completed(self, tp: TP, offset: int) -> list[Any]:
        """Mark a record done; return the handles now safe to acknowledge, in order."""
        entry = self._entries.get((tp[0], tp[1], offset))
        if entry is None:  # forgotten (partition revoked) or never registered
            return []
        entry[2] = True
        queue = self._queues[tp]
        ready = []
        while queue and queue[0][2]:
            off, handle, _ = queue.popleft()
            del self._entries[(tp[0], tp[1], off)]
            ready.append(handle)
        return ready

    def forget(self, tp: TP) -> None:
        """The partition was revoked: its unacknowledged records will be redelivered."""
        for off, _, _ in self._queues.pop(tp, ()):
            self._entries.pop((tp[0], tp[1], off), None)

    def waiting(self, tp: TP) -> int:
        """Records fetched on ``tp`` and not yet acknowledged."""
        return len(self._queues.get(tp, ()))
