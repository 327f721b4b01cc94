"""streams.app._Consumer._to_feed: a fetch's raw records handed to the feed as Faust's own
drain loop would deliver them, and never after a rebalance began."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from faust.types import TP

from streams.app import _Consumer
from streams.raw_feed import RawFeed

RAW = "raw"


@dataclass(frozen=True)
class Rec:
    offset: int
    value: bytes = b"v"


@dataclass
class App:
    consumer_generation_id: int = 1


@dataclass
class Consumer:
    """The attributes of Faust's consumer that ``_to_feed`` reads and writes."""

    app: App = field(default_factory=App)
    flow_active: bool = True
    should_stop: bool = False
    assigned: set[TP] = field(default_factory=set)
    _buffered_partitions: set[TP] = field(default_factory=set)
    _read_offset: defaultdict[TP, int | None] = field(
        default_factory=lambda: defaultdict(lambda: None))
    gaps: list[tuple[TP, int, int]] = field(default_factory=list)

    def assignment(self) -> set[TP]:
        return self.assigned

    async def _add_gap(self, tp: TP, first: int, last: int) -> None:
        self.gaps.append((tp, first, last))


def to_feed(consumer: Consumer, feed: RawFeed, records: dict[TP, list[Rec]],
            active: set[TP] | None) -> Any:
    return _Consumer._to_feed(consumer, feed, records, active)  # type: ignore[arg-type]


def test_active_partitions_go_to_the_feed_with_read_offsets_and_gaps() -> None:
    p0, p1, p2 = TP(RAW, 0), TP(RAW, 1), TP(RAW, 2)
    c = Consumer(assigned={p0, p1, p2}, _buffered_partitions={p2})
    c._read_offset[p0] = 9  # the committed offset after a seek
    c._read_offset[p1] = 20

    async def go() -> list[tuple[int, int]]:
        feed = RawFeed(RAW, 100)
        await to_feed(c, feed, {
            p0: [Rec(8), Rec(9), Rec(10), Rec(13)],  # 8: below the read offset, dropped
            p1: [Rec(21)],
            p2: [Rec(5)],  # paused by a full buffer: still delivered, as Faust does
            TP("other", 0): [Rec(1)],  # not the raw topic
        }, active={p0, p1})
        return [(r.source.partition, r.source.offset) for r in feed.take_now(100)]

    assert run(go()) == [(0, 9), (0, 10), (0, 13), (1, 21), (2, 5)]
    assert c._read_offset[p0] == 13 and c._read_offset[p1] == 21
    assert c.gaps == [(p0, 11, 13)]


def test_an_inactive_partition_is_skipped() -> None:
    p0, p1 = TP(RAW, 0), TP(RAW, 1)
    c = Consumer(assigned={p0, p1})

    async def go() -> int:
        feed = RawFeed(RAW, 100)
        await to_feed(c, feed, {p0: [Rec(0)], p1: [Rec(0)]}, active={p0})
        return len(feed)

    assert run(go()) == 1


def test_a_rebalance_while_waiting_for_room_drops_the_fetch() -> None:
    """The feed is full; a rebalance begins (Faust stops the flow, the revoke empties the
    feed): the stale fetch must not go in after the revoke."""
    p0 = TP(RAW, 0)
    c = Consumer(assigned={p0})

    async def go() -> int:
        feed = RawFeed(RAW, 2)
        feed.offer((RAW, 0), [Rec(0), Rec(1)])  # full
        c._read_offset[p0] = 1
        handing = asyncio.ensure_future(to_feed(c, feed, {p0: [Rec(2), Rec(3)]}, {p0}))
        await asyncio.sleep(0.02)
        assert not handing.done()
        c.flow_active = False  # on_rebalance_start → stop_flow
        feed.forget([(RAW, 0)])  # on_revoked
        await asyncio.wait_for(handing, 1.0)
        return len(feed)

    assert run(go()) == 0
    assert c._read_offset[p0] == 1  # not advanced past what was never delivered


def test_a_new_generation_while_waiting_drops_the_fetch() -> None:
    p0 = TP(RAW, 0)
    c = Consumer(assigned={p0})

    async def go() -> int:
        feed = RawFeed(RAW, 1)
        feed.offer((RAW, 0), [Rec(0)])
        handing = asyncio.ensure_future(to_feed(c, feed, {p0: [Rec(1)]}, {p0}))
        await asyncio.sleep(0.02)
        c.app.consumer_generation_id += 1  # assigned again meanwhile
        feed.take_now(10)
        await asyncio.wait_for(handing, 1.0)
        return len(feed)

    assert run(go()) == 0


def run(coro: Any) -> Any:
    return asyncio.run(coro)
