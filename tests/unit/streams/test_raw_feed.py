"""streams.raw_feed: the raw topic's fetches, taken in bulk (issue 15)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from streams.ingest import RawRecord
from streams.raw_feed import RawFeed, ack_offset, gaps, take_loop, unread

TOPIC = "raw"


@dataclass(frozen=True)
class Rec:
    offset: int
    value: bytes


def recs(first: int, n: int) -> list[Rec]:
    return [Rec(first + i, f"v{first + i}".encode()) for i in range(n)]


def where(records: list[RawRecord]) -> list[tuple[int, int]]:
    return [(r.source.partition, r.source.offset) for r in records]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- the feed -----------------------------------------------------------------------------


def test_take_gives_every_record_once_in_fetch_order_with_its_source() -> None:
    async def go() -> list[RawRecord]:
        feed = RawFeed(TOPIC, 100)
        feed.offer((TOPIC, 1), recs(10, 3))
        feed.offer((TOPIC, 0), recs(5, 2))
        feed.offer((TOPIC, 1), recs(13, 1))
        return await feed.take(100)

    got = run(go())
    assert where(got) == [(1, 10), (1, 11), (1, 12), (0, 5), (0, 6), (1, 13)]
    assert [r.value for r in got] == [b"v10", b"v11", b"v12", b"v5", b"v6", b"v13"]
    assert all(r.source.topic == TOPIC for r in got)


def test_a_take_is_bounded_and_splits_a_fetch_without_losing_its_rest() -> None:
    async def go() -> tuple[list[RawRecord], list[RawRecord], int]:
        feed = RawFeed(TOPIC, 100)
        feed.offer((TOPIC, 0), recs(0, 7))
        first = await feed.take(5)
        left = len(feed)
        return first, await feed.take(5), left

    first, second, left = run(go())
    assert where(first) == [(0, o) for o in range(5)]
    assert left == 2
    assert where(second) == [(0, 5), (0, 6)]


def test_take_waits_for_the_first_record_and_then_takes_at_once() -> None:
    async def go() -> tuple[list[RawRecord], bool]:
        feed = RawFeed(TOPIC, 100)
        taking = asyncio.ensure_future(feed.take(50))
        await asyncio.sleep(0.05)
        waiting = not taking.done()
        feed.offer((TOPIC, 0), recs(0, 2))
        return await asyncio.wait_for(taking, 1.0), waiting

    got, waited = run(go())
    assert waited, "a take with nothing fetched must wait"
    assert where(got) == [(0, 0), (0, 1)]  # no linger by default: 2 < 50 taken at once


def test_linger_gathers_what_arrives_within_it() -> None:
    async def go() -> list[RawRecord]:
        feed = RawFeed(TOPIC, 100)

        async def later() -> None:
            await asyncio.sleep(0.02)
            feed.offer((TOPIC, 0), recs(1, 2))

        feed.offer((TOPIC, 0), recs(0, 1))
        adding = asyncio.ensure_future(later())
        got = await feed.take(50, linger_s=0.5)
        await adding
        return got

    # the take ends as soon as the linger is over or it is full; here the linger ran out
    # after the second fetch arrived, so both are in it
    assert where(run(go())) == [(0, 0), (0, 1), (0, 2)]


def test_linger_ends_early_when_the_take_is_full() -> None:
    async def go() -> tuple[list[RawRecord], float]:
        feed = RawFeed(TOPIC, 100)
        feed.offer((TOPIC, 0), recs(0, 1))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        loop.call_later(0.02, feed.offer, (TOPIC, 0), recs(1, 9))
        got = await feed.take(10, linger_s=30.0)
        return got, loop.time() - t0

    got, took = run(go())
    assert len(got) == 10
    assert took < 10.0  # not the 30 s linger: full takes go at once


def test_the_fetcher_waits_for_room_and_is_released_by_a_take() -> None:
    async def go() -> tuple[bool, bool]:
        feed = RawFeed(TOPIC, 4)
        feed.offer((TOPIC, 0), recs(0, 4))
        room = asyncio.ensure_future(feed.wait_room())
        await asyncio.sleep(0.02)
        blocked = not room.done()
        feed.take_now(1)
        await asyncio.wait_for(room, 1.0)
        return blocked, room.done()

    blocked, released = run(go())
    assert blocked and released


def test_the_fetcher_waits_when_the_values_fill_the_byte_bound() -> None:
    big = [Rec(i, b"x" * 1000) for i in range(3)]

    async def go() -> tuple[bool, bool, int, int]:
        feed = RawFeed(TOPIC, 1000, buffer_max_bytes=2500)
        feed.offer((TOPIC, 0), big[:2])
        room_before = feed.wait_room()
        await asyncio.wait_for(room_before, 1.0)  # 2,000 bytes: room left
        feed.offer((TOPIC, 0), big[2:])
        room = asyncio.ensure_future(feed.wait_room())
        await asyncio.sleep(0.02)
        blocked = not room.done()
        at_full = feed.nbytes
        feed.take_now(1)
        await asyncio.wait_for(room, 1.0)
        return blocked, room.done(), at_full, feed.nbytes

    blocked, released, at_full, after = run(go())
    assert blocked and released
    assert (at_full, after) == (3000, 2000)


def test_forget_drops_only_the_revoked_partitions_and_frees_room() -> None:
    async def go() -> tuple[int, list[RawRecord], bool]:
        feed = RawFeed(TOPIC, 6)
        feed.offer((TOPIC, 0), recs(0, 3))
        feed.offer((TOPIC, 1), recs(0, 3))
        room = asyncio.ensure_future(feed.wait_room())
        dropped = feed.forget([(TOPIC, 1)])
        await asyncio.wait_for(room, 1.0)
        return dropped, feed.take_now(100), room.done()

    dropped, left, released = run(go())
    assert dropped == 3
    assert sum(len(r.value or b"") for r in left) == 6  # b"v0" b"v1" b"v2"
    assert where(left) == [(0, 0), (0, 1), (0, 2)]
    assert released


# -- Faust's bookkeeping ------------------------------------------------------------------


class Book:
    """The attributes Faust's consumer keeps acknowledgements in, as it creates them."""

    def __init__(self) -> None:
        self._committed_offset: defaultdict[Any, int | None] = defaultdict(lambda: None)
        self._acked: defaultdict[Any, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[Any, set[int]] = defaultdict(set)
        self._n_acked = 0
        self._waiting_for_ack: asyncio.Future[None] | None = None


def test_ack_offset_records_each_offset_once_and_never_below_the_commit() -> None:
    book = Book()
    tp = (TOPIC, 0)
    book._committed_offset[tp] = 10
    assert ack_offset(book, tp, 12)
    assert ack_offset(book, tp, 11)
    assert not ack_offset(book, tp, 12)  # twice: counted once
    assert not ack_offset(book, tp, 9)  # below the committed offset: nothing to do
    assert book._acked[tp] == [12, 11]
    assert book._acked_index[tp] == {11, 12}
    assert book._n_acked == 2


def test_ack_offset_wakes_whoever_waits_for_an_ack() -> None:
    async def go() -> bool:
        book = Book()
        book._waiting_for_ack = asyncio.get_running_loop().create_future()
        ack_offset(book, (TOPIC, 0), 0)
        return book._waiting_for_ack.done()

    assert run(go())


def test_faust_commits_what_ack_offset_recorded() -> None:
    """The offset Faust's consumer would commit (its own ``_new_offset``) from acks made by
    ack_offset: the first contiguous run above the committed offset."""
    from faust.transport.consumer import Consumer

    book = Book()
    book._gap = defaultdict(list)  # type: ignore[attr-defined]
    tp = (TOPIC, 3)
    book._committed_offset[tp] = 100
    for o in (100, 101, 102, 104):
        ack_offset(book, tp, o)
    assert Consumer._new_offset(book, tp) == 103  # type: ignore[arg-type]


def test_unread_drops_what_is_below_the_read_offset() -> None:
    fetched = recs(5, 5)
    assert unread(None, fetched) is fetched
    assert unread(5, fetched) is fetched
    assert [r.offset for r in unread(8, fetched)] == [8, 9]
    assert unread(20, fetched) == []


@pytest.mark.parametrize(("read", "offsets", "expected"), [
    (None, [0, 1, 2], []),
    (4, [5, 6, 7], []),
    (4, [4, 5], []),  # after a seek the read offset is the committed offset itself
    (4, [7, 8], [(5, 7)]),
    (4, [5, 6, 9, 10, 12], [(7, 9), (11, 12)]),
    (None, [3, 5], [(4, 5)]),
    (0, [5], []),  # Faust opens no gap after a read offset of 0
    (4, [4, 6], [(5, 6)]),  # starting at the read offset, then one missing
    (4, [4, 5, 7], [(6, 7)]),
])
def test_gaps_follow_fausts_rule(read: int | None, offsets: list[int],
                                 expected: list[tuple[int, int]]) -> None:
    assert gaps(read, offsets) == expected


def test_gaps_equal_fausts_drain_loop_rule_on_random_offsets() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        read = rng.choice([None, 0, rng.randrange(1, 50)])
        lo = read or 1  # what unread leaves: nothing below the read offset
        offsets = sorted(rng.sample(range(lo, lo + 40), rng.randrange(1, 20)))
        expected = []
        r = read
        for o in offsets:  # Faust's _drain_messages, record by record
            if r is not None and o - r > 1 and r:
                expected.append((r + 1, o))
            r = o
        assert gaps(read, offsets) == expected


# -- the take loop ------------------------------------------------------------------------


def test_take_loop_hands_takes_to_the_backend_and_reports_its_errors() -> None:
    async def go() -> tuple[list[list[tuple[int, int]]], list[BaseException]]:
        feed = RawFeed(TOPIC, 100)
        seen: list[list[tuple[int, int]]] = []
        errors: list[BaseException] = []

        async def handle(records: list[RawRecord], ack: Any) -> None:
            seen.append(where(records))
            if len(seen) == 1:
                raise RuntimeError("ClickHouse went away")

        async def ack(record: RawRecord) -> bool:
            return True

        loop = asyncio.ensure_future(take_loop(feed, handle, ack, 3, 0.0, errors.append))
        feed.offer((TOPIC, 0), recs(0, 2))
        await asyncio.sleep(0.02)
        feed.offer((TOPIC, 0), recs(2, 4))
        await asyncio.sleep(0.05)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
        return seen, errors

    seen, errors = run(go())
    assert seen == [[(0, 0), (0, 1)], [(0, 2), (0, 3), (0, 4)], [(0, 5)]]
    assert [str(e) for e in errors] == ["ClickHouse went away"]
