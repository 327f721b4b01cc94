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


class _Partition:
    __slots__ = ("entries", "queue")

    def __init__(self) -> None:
        self.queue: deque[list[Any]] = deque()  # [offset, handle, done], in fetch order
        self.entries: dict[int, list[Any]] = {}  # offset → its queue entry


class AckFrontier:
    def __init__(self) -> None:
        self._partitions: dict[TP, _Partition] = {}

    def received(self, tp: TP, offset: int, handle: Any) -> None:
        """Register a fetched record (in fetch order per partition)."""
        part = self._partitions.get(tp)
        if part is None:
            part = self._partitions[tp] = _Partition()
        if offset in part.entries:  # fetched again while pending (a seek): one entry, or
            return  # the first would never be marked done and the partition never acked
        entry = [offset, handle, False]
        part.queue.append(entry)
        part.entries[offset] = entry

    def completed(self, tp: TP, offset: int) -> list[Any]:
        """Mark a record done; return the handles now safe to acknowledge, in order."""
        part = self._partitions.get(tp)
        entry = part.entries.get(offset) if part is not None else None
        if entry is None:  # forgotten (partition revoked) or never registered
            return []
        entry[2] = True
        queue, entries = part.queue, part.entries  # type: ignore[union-attr]
        ready = []
        while queue and queue[0][2]:
            off, handle, _ = queue.popleft()
            del entries[off]
            ready.append(handle)
        return ready

    def forget(self, tp: TP) -> None:
        """The partition was revoked: its unacknowledged records will be redelivered."""
        self._partitions.pop(tp, None)

    def waiting(self, tp: TP) -> int:
        """Records fetched on ``tp`` and not yet acknowledged."""
        part = self._partitions.get(tp)
        return len(part.queue) if part is not None else 0
