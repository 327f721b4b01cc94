"""streams.raw_feed: the raw topic's fetches, taken in bulk (issue 15)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from streams.ingest import RawRecord
from streams.raw_feed import SMALL_TAKE_BYTES, RawFeed, take_loop

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


def test_a_take_that_is_not_full_waits_for_ready_and_what_arrives_meanwhile_joins_it() -> None:
    calls: list[int] = []

    async def go() -> tuple[list[RawRecord], list[RawRecord]]:
        feed = RawFeed(TOPIC, 100)
        gate = asyncio.Event()

        async def ready() -> None:  # the backend: "the sink would write it now"
            calls.append(len(feed))
            await gate.wait()

        feed.offer((TOPIC, 0), recs(0, 1))
        taking = asyncio.ensure_future(feed.take(50, ready=ready))
        await asyncio.sleep(0.02)
        assert not taking.done()
        feed.offer((TOPIC, 1), recs(0, 2))  # arrives while the sink is busy
        gate.set()
        first = await taking
        feed.offer((TOPIC, 0), recs(1, 50))
        full = await feed.take(50, ready=ready)  # full: taken without asking
        return first, full

    first, full = run(go())
    assert where(first) == [(0, 0), (1, 0), (1, 1)]  # one take, not two
    assert len(full) == 50
    assert calls == [1]


def test_a_take_of_a_backlogs_bytes_does_not_wait_for_ready() -> None:
    async def never() -> None:
        await asyncio.Event().wait()

    async def go() -> list[RawRecord]:
        feed = RawFeed(TOPIC, 100)
        big = Rec(0, b"x" * SMALL_TAKE_BYTES)  # one batched record of many events
        feed.offer((TOPIC, 0), [big])
        return await asyncio.wait_for(feed.take(50, ready=never), 5)

    assert where(run(go())) == [(0, 0)]


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
