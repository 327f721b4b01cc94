"""The raw topic's fetched records, taken in bulk: :class:`RawFeed` and :func:`take_loop`.

The raw topic's consumer (:class:`streams.raw_consumer.RawConsumer`) offers each fetch's
records of a partition to the feed in one piece; one task (:func:`take_loop`) takes from the
feed into :meth:`streams.backend.IngestBackend.handle`, which acknowledges each record to the
consumer once what it produced is durable. No per-record object, queue or task: at live rates
Faust's per-record path was more than half of a worker's CPU (docs/performance.md, issue 15).

**Adaptive batching.** A take is whatever has arrived, up to ``take_max`` records: when the
worker is idle the first fetch is taken at once; while the backend is busy with a take,
fetches pile up in the feed and the next take gets them all. ``linger_s`` (``BLO_BATCH_TAKE_
WITHIN_S``, 0 by default) may hold a small take a little longer for more. Before that, a
small take (light traffic) waits until the backend's sink would write it at once
(``BLO_BATCH_TAKE_FOLLOWS_SINK_S``, :meth:`streams.backend.IngestBackend.ready_to_take`):
what arrives meanwhile joins it, so light traffic makes one take per insert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from streams.ingest import RawRecord
from streams.stages.decode import SourcePos

log = logging.getLogger("blo.raw_feed")

TP = tuple[str, int]

SMALL_TAKE_BYTES = 64 << 10
"""A take with fewer record values than this (and fewer records than ``take_max``) is small:
light live traffic (~170 single-event records), whose per-take costs (the conflict lookup,
the progress record, the wake-ups) outweigh its events'. Only a small take waits for the sink
(``BLO_BATCH_TAKE_FOLLOWS_SINK_S``). A larger one is taken at once, so that its processing
overlaps the insert in flight: waiting would add its processing time to every event's
latency (at 5,000 events/s ~0.1 s) and save little, its fixed costs being shared already."""


class FetchedRecord(Protocol):
    """What the feed reads of an aiokafka ``ConsumerRecord``."""

    @property
    def offset(self) -> int: ...

    @property
    def value(self) -> bytes | None: ...


class RawFeed:
    """Fetched raw records waiting to be taken, in fetch order: at most ``buffer_max`` of
    them and ``buffer_max_bytes`` of values (:meth:`wait_room` holds the fetcher back beyond
    either, as Faust's full stream buffer did by records only: batched records of a hundred
    events made that hundreds of MB)."""

    def __init__(self, topic: str, buffer_max: int, buffer_max_bytes: int = 64 << 20) -> None:
        self.topic = topic
        self.buffer_max = max(1, buffer_max)
        self.buffer_max_bytes = max(1, buffer_max_bytes)
        self._chunks: deque[tuple[TP, Sequence[FetchedRecord]]] = deque()
        self._size = 0
        self._bytes = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return self._size

    def offer(self, tp: TP, records: Sequence[FetchedRecord]) -> None:
        """One partition's records of one fetch, in offset order."""
        if not records:
            return
        self._chunks.append((tp, records))
        self._size += len(records)
        self._bytes += _value_bytes(records)
        self._arrived.set()
        if self._full():
            self._room.clear()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def _full(self) -> bool:
        return self._size >= self.buffer_max or self._bytes >= self.buffer_max_bytes

    async def wait_room(self) -> None:
        while self._full():
            self._room.clear()
            await self._room.wait()

    def forget(self, tps: Iterable[TP]) -> int:
        """Drop the waiting records of ``tps`` (revoked: their new owner reads them again
        from the committed offsets). Returns how many were dropped."""
        gone = set(tps)
        kept = [c for c in self._chunks if c[0] not in gone]
        dropped = self._size - sum(len(c[1]) for c in kept)
        self._chunks = deque(kept)
        self._size -= dropped
        self._bytes = sum(_value_bytes(c[1]) for c in kept)
        self._signal()
        return dropped

    def take_now(self, max_records: int) -> list[RawRecord]:
        """Up to ``max_records`` of what is waiting, oldest fetch first (a fetch larger than
        what is left of the take is split)."""
        out: list[RawRecord] = []
        chunks = self._chunks
        while chunks and len(out) < max_records:
            (topic, partition), recs = chunks[0]
            room = max_records - len(out)
            if len(recs) > room:
                chunks[0] = ((topic, partition), recs[room:])
                recs = recs[:room]
            else:
                chunks.popleft()
            self._bytes -= _value_bytes(recs)
            out.extend(RawRecord(r.value, SourcePos(topic, partition, r.offset))
                       for r in recs)
        self._size -= len(out)
        self._signal()
        return out

    async def take(self, max_records: int, linger_s: float = 0.0,
                   ready: Callable[[], Awaitable[object]] | None = None) -> list[RawRecord]:
        """Wait for the first record, then take what is there. A small take (fewer than
        ``max_records`` records and :data:`SMALL_TAKE_BYTES`) first awaits ``ready`` (the
        backend: until its sink would write the take at once) and then, with ``linger_s``
        > 0, up to that long after the first record for more."""
        while not self._size:
            self._arrived.clear()
            await self._arrived.wait()
        if ready is not None and is_small_take(self._size, self._bytes, max_records):
            await ready()
        if linger_s > 0 and self._size < max_records:
            deadline = time.monotonic() + linger_s
            while self._size < max_records:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
        return self.take_now(max_records)

    def _signal(self) -> None:
        if not self._full():
            self._room.set()
        if self._size:
            self._arrived.set()


def _value_bytes(records: Sequence[FetchedRecord]) -> int:
    return value_bytes(r.value for r in records)


def value_bytes(values: Iterable[bytes | None]) -> int:
    """Bytes of record values (a tombstone's None counts 0)."""
    return sum(len(v) for v in values if v is not None)


def is_small_take(n_records: int, n_bytes: int, take_max: int) -> bool:
    """Light traffic (:data:`SMALL_TAKE_BYTES`): the only takes that wait for the sink."""
    return n_records < take_max and n_bytes < SMALL_TAKE_BYTES


Handle = Callable[[list[RawRecord], Callable[[RawRecord], Awaitable[object]]], Awaitable[None]]


async def take_loop(feed: RawFeed, handle: Handle, ack: Callable[[RawRecord], Awaitable[object]],
                    take_max: int, linger_s: float, on_error: Callable[[BaseException], None],
                    ready: Callable[[], Awaitable[object]] | None = None) -> None:
    """Take from the feed into the backend until cancelled (``ready``: see
    :meth:`RawFeed.take`). An error the backend did not turn into data stops the worker
    (``on_error``); nothing of that take was acknowledged."""
    while True:
        records = await feed.take(take_max, linger_s, ready)
        try:
            await handle(records, ack)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("a take of raw records failed")
            on_error(e)
