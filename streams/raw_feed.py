"""The raw topic, taken from Faust's fetches in bulk instead of record by record.

Faust delivers every record on its own: a ``Message``, a ``wait_first``, the conductor, an
``Event``, the channel queue, the stream and its take buffer. At live rates that was more
than half of a worker's CPU (docs/performance.md, issue 15), and none of it is needed for the
raw topic, whose records go to the ingest backend in takes and are acknowledged once
durable. So the worker's consumer (:class:`streams.app._Consumer`) hands each fetch's raw
records to a :class:`RawFeed` in one piece, and one task (:func:`take_loop`) takes from the
feed into :meth:`streams.backend.IngestBackend.handle`.

What stays Faust's: the group membership and the rebalances (the raw topic is still
subscribed through the conductor), the commit of acknowledged offsets on its interval (the
acknowledgements go into the consumer's own bookkeeping, :func:`ack_offset`, exactly where
``Consumer.ack`` puts them), and pausing (``on_buffer_full``, :func:`streams.app.pause_fetching`).

**Adaptive batching.** A take is whatever has arrived, up to ``take_max`` records: when the
worker is idle the first fetch is taken at once; while the backend is busy with a take,
fetches pile up in the feed and the next take gets them all. ``linger_s`` (``BLO_BATCH_TAKE_
WITHIN_S``, 0.1 s by default) may hold a small take a little longer for more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from mode.utils.futures import notify

from streams.ingest import RawRecord
from streams.stages.decode import SourcePos

log = logging.getLogger("blo.raw_feed")

TP = tuple[str, int]


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

    async def take(self, max_records: int, linger_s: float = 0.0) -> list[RawRecord]:
        """Wait for the first record, then take what is there; with ``linger_s`` > 0 a take
        smaller than ``max_records`` waits up to that long after the first record for more."""
        while not self._size:
            self._arrived.clear()
            await self._arrived.wait()
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
    return sum(len(r.value) for r in records if r.value is not None)


class AckBook(Protocol):
    """The parts of Faust's consumer that keep acknowledged offsets (``Consumer.ack``)."""

    _committed_offset: Any
    _acked: Any
    _acked_index: Any
    _n_acked: int
    _waiting_for_ack: Any


def ack_offset(consumer: AckBook, tp: Any, offset: int) -> bool:
    """Acknowledge one raw record with Faust's consumer, as ``Consumer.ack(message)`` does
    (without a ``Message``): Faust commits the contiguous acknowledged offsets on its
    interval. False if it was acknowledged already or is below the committed offset."""
    committed = consumer._committed_offset[tp]
    if committed is not None and offset < committed:
        return False
    index = consumer._acked_index[tp]
    if offset in index:
        return False
    index.add(offset)
    consumer._acked[tp].append(offset)
    consumer._n_acked += 1
    notify(consumer._waiting_for_ack)
    return True


def unread(read_offset: int | None, records: Sequence[FetchedRecord]
           ) -> Sequence[FetchedRecord]:
    """``records`` without those below Faust's read offset of the partition (fetched again
    after a seek), as Faust's ``_drain_messages`` drops them."""
    if read_offset is None or not records or records[0].offset >= read_offset:
        return records
    return [r for r in records if r.offset >= read_offset]


def gaps(read_offset: int | None, offsets: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges Faust's ``_drain_messages`` would give ``Consumer._add_gap`` for these
    offsets (compacted records, transaction markers: Faust counts them as acknowledged, or
    it would never commit past them), with its own rule: ``read_offset`` is the partition's
    read offset (the committed offset after a seek, else the last offset delivered), and a
    record more than one past the one before opens a gap up to itself."""
    prev = read_offset
    if not offsets:
        return []
    if (offsets[-1] - offsets[0] == len(offsets) - 1
            and (prev is None or not prev or offsets[0] - prev <= 1)):
        return []  # contiguous, from at most one past the last one read: no scan
    out: list[tuple[int, int]] = []
    for o in offsets:
        if prev and o - prev > 1:
            out.append((prev + 1, o))
        prev = o
    return out


Handle = Callable[[list[RawRecord], Callable[[RawRecord], Awaitable[object]]], Awaitable[None]]


async def take_loop(feed: RawFeed, handle: Handle, ack: Callable[[RawRecord], Awaitable[object]],
                    take_max: int, linger_s: float, on_error: Callable[[BaseException], None]
                    ) -> None:
    """Take from the feed into the backend until cancelled. An error the backend did not
    turn into data stops the worker (``on_error``); nothing of that take was acknowledged."""
    while True:
        records = await feed.take(take_max, linger_s)
        try:
            await handle(records, ack)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("a take of raw records failed")
            on_error(e)
