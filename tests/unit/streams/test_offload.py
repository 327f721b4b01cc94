"""The Faust side of the ingest process, with the test holding the other end of a real
channel (it plays the ingest process): how takes are cut into messages, what a rebalance
does to a take under way, how acknowledgements map back to Faust events."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from streams.channel import Channel
from streams.offload import MESSAGE_MAX_BYTES, IngestProcess
from tests.unit.streams.faust_shapes import Event, Message

TOPIC = "raw"


def _take(sizes: list[int], partition: int = 0, first: int = 0) -> list[Event]:
    return [Event(Message(TOPIC, partition, first + i), bytes([65 + i % 26]) * n)
            for i, n in enumerate(sizes)]


async def _pair(max_in_flight: int = 2) -> tuple[IngestProcess, Channel]:
    ours, theirs = socket.socketpair()
    proc = IngestProcess(settings=None, raw_topic=TOPIC, max_in_flight=max_in_flight)
    await proc.attach(await Channel.open(ours))
    peer = await Channel.open(theirs)
    assert (await peer.recv())[0] == "init"
    return proc, peer


def _greedy(sizes: list[int], limit: int) -> list[list[int]]:
    """The expected cut: consecutive records, a new message when the next would overflow."""
    out: list[list[int]] = [[]]
    total = 0
    for i, n in enumerate(sizes):
        if out[-1] and total + n > limit:
            out.append([])
            total = 0
        out[-1].append(i)
        total += n
    return out


def test_a_take_is_sent_in_messages_of_bounded_size_in_order() -> None:
    big = MESSAGE_MAX_BYTES // 3 + 1  # three of these do not fit in one message
    sizes = [big, big, big, 10, big, 10, big, big]
    expected = _greedy(sizes, MESSAGE_MAX_BYTES)
    assert len(expected) > 2

    async def scenario() -> list[tuple[Any, ...]]:
        proc, peer = await _pair(max_in_flight=10)
        # concurrently: a message this size waits for the reader (the socket's flow control)
        handling = asyncio.ensure_future(proc.handle(_take(sizes), lambda ev: None))
        got = [await peer.recv() for _ in expected]
        await asyncio.wait_for(handling, 5)
        return got

    messages = asyncio.run(scenario())
    assert all(m[0] == "batch" for m in messages)
    # ("batch", seq, generation, topic, partitions, offsets, values, positions)
    assert [m[5] for m in messages] == expected
    for m in messages:
        assert sum(len(v) for v in m[6]) <= MESSAGE_MAX_BYTES
        assert [len(v) for v in m[6]] == [sizes[o] for o in m[5]]
    seqs = [m[1] for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_rebalance_while_a_take_waits_ends_the_take_there() -> None:
    big = MESSAGE_MAX_BYTES // 2 + 1  # one record per message
    acked: list[int] = []

    async def acker(ev: Any) -> None:
        acked.append(ev.message.offset)

    async def scenario() -> tuple[list[tuple[Any, ...]], bool]:
        proc, peer = await _pair(max_in_flight=1)
        proc.assigned = {(TOPIC, 0)}
        handling = asyncio.ensure_future(proc.handle(_take([big] * 5), acker))
        first = [await peer.recv(), await peer.recv()]  # the third waits for a "done"

        async def peer_revoke() -> None:  # answer the revoke call as the process would
            msg = await peer.recv()
            assert msg[:3] == ("call", msg[1], "revoke")
            peer.post("ack", {(TOPIC, 0): 1})  # the first record was written
            peer.post("reply", msg[1], True, None)

        answering = asyncio.ensure_future(peer_revoke())
        await proc.on_revoked([(TOPIC, 0)], flush_timeout=5)
        await answering
        peer.post("done", first[0][1])
        peer.post("done", first[1][1])
        await asyncio.wait_for(handling, 5)
        await proc.send_positions({})  # a marker: whatever was sent before it comes first
        after = await peer.recv()
        proc.stopping = True
        return first, after[0]

    first, after = asyncio.run(scenario())
    assert [m[5] for m in first] == [[0], [1]]
    assert after == "positions"  # nothing of the take was sent after the revoke
    assert acked == [0]  # the ack of the flush, before the partition went; nothing else


def test_acknowledgements_ack_every_pending_record_below_the_offset_in_order() -> None:
    acked: list[tuple[int, int]] = []

    async def acker(ev: Any) -> None:
        acked.append((ev.message.partition, ev.message.offset))

    async def scenario() -> None:
        proc, peer = await _pair(max_in_flight=10)
        await proc.handle(_take([5] * 4, partition=0, first=10)
                          + _take([5] * 3, partition=1, first=70), acker)
        await peer.recv()
        peer.post("ack", {(TOPIC, 0): 12, (TOPIC, 1): 71})
        peer.post("ack", {(TOPIC, 0): 14})
        for _ in range(100):
            if len(acked) == 5:
                break
            await asyncio.sleep(0.01)
        proc.stopping = True

    asyncio.run(scenario())
    assert acked == [(0, 10), (0, 11), (1, 70), (0, 12), (0, 13)]


def test_readiness_answers_for_the_ingest_process_sink_and_the_faust_process_own() -> None:
    from blo.metrics import Metrics
    from blo.settings import BatchSettings
    from sinks.batching import BatchingSink
    from sinks.memory import MemoryDatabase

    async def until(pred: Any) -> None:
        for _ in range(500):
            if pred():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async def scenario() -> None:
        proc, peer = await _pair()
        sink = proc.sink
        assert not sink.stalled and sink.oldest_pending_s() == 0.0
        peer.post("stall", True, 16.0)  # the ingest process's sink stalled
        await until(lambda: sink.stalled)
        assert 16.0 <= sink.oldest_pending_s() < 30.0
        peer.post("pause", True)
        await until(lambda: sink.backpressured)
        peer.post("stall", False, 17.0)
        peer.post("pause", False)
        await until(lambda: not sink.stalled and not sink.backpressured)
        assert sink.oldest_pending_s() == 0.0

        db = MemoryDatabase()  # the Faust process's own sink (alerts, station rows)
        own = BatchingSink(db, BatchSettings.model_validate(
            {"sink_max_age_s": 0.01, "sink_stall_s": 0.2}), Metrics(),
            columns={"stations": ("id",)})
        sink.watch(own)
        db.hold()
        await own.submit({"stations": [(1,)]})
        await until(lambda: sink.stalled)
        assert sink.oldest_pending_s() > 0.2
        db.release()
        await own.flush()
        assert not sink.stalled and sink.failed is None
        await own.close()
        proc.stopping = True

    asyncio.run(scenario())
