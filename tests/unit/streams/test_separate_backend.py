"""The Faust side of the ingest process (the separate backend), with the test holding the
other end of a real channel (it plays the ingest process): how takes are cut into messages,
what a rebalance does to a take under way, how acknowledgements map back to records."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from blo.db import open_database
from blo.settings import load_settings
from streams.channel import Channel
from streams.ingest import RawRecord
from streams.process_messages import (
    Acks,
    Init,
    Pause,
    PositionsUpdate,
    ProcessSetup,
    Reply,
    Revoke,
    Stall,
    Take,
    TakeDone,
)
from streams.separate_backend import MESSAGE_MAX_BYTES, SMALL_IN_FLIGHT_BYTES, SeparateBackend
from streams.stages.decode import SourcePos

TOPIC = "raw"


def _take(sizes: list[int], partition: int = 0, first: int = 0) -> list[RawRecord]:
    return [RawRecord(bytes([65 + i % 26]) * n, SourcePos(TOPIC, partition, first + i))
            for i, n in enumerate(sizes)]


async def _pair(max_in_flight: int = 2) -> tuple[SeparateBackend, Channel]:
    ours, theirs = socket.socketpair()
    proc = SeparateBackend(load_settings(), ProcessSetup(open_database), raw_topic=TOPIC,
                           max_in_flight=max_in_flight)
    await proc.attach(await Channel.open(ours))
    peer = await Channel.open(theirs)
    init = await peer.recv()
    assert isinstance(init, Init) and init.setup.open_database is open_database
    return proc, peer


async def _no_ack(rec: RawRecord) -> None:
    pass


async def _recv_take(peer: Channel) -> Take:
    msg = await peer.recv()
    assert isinstance(msg, Take), msg
    return msg


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

    async def scenario() -> list[Take]:
        proc, peer = await _pair(max_in_flight=10)
        # concurrently: a message this size waits for the reader (the socket's flow control)
        handling = asyncio.ensure_future(proc.handle(_take(sizes), _no_ack))
        got = [await _recv_take(peer) for _ in expected]
        await asyncio.wait_for(handling, 5)
        return got

    messages = asyncio.run(scenario())
    assert [m.offsets for m in messages] == expected
    for m in messages:
        assert m.topic == TOPIC and m.partitions == [0] * len(m.offsets)
        assert sum(len(v or b"") for v in m.values) <= MESSAGE_MAX_BYTES
        assert [len(v or b"") for v in m.values] == [sizes[o] for o in m.offsets]
    seqs = [m.seq for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_small_takes_pass_the_in_flight_limit_until_their_bytes_add_up() -> None:
    """Live takes must reach the ingest process while it holds a take for its sink (takes
    follow the sink); takes whose values add up to SMALL_IN_FLIGHT_BYTES wait as big ones."""
    small = 1000
    n_free = SMALL_IN_FLIGHT_BYTES // small  # sent before the limit holds the next

    async def scenario() -> tuple[int, bool, int]:
        proc, peer = await _pair(max_in_flight=1)
        proc.assigned = {(TOPIC, 0)}
        sent: list[Take] = []
        for i in range(n_free):  # one take each, nothing answered
            await asyncio.wait_for(proc.handle(_take([small], first=i), _no_ack), 5)
            sent.append(await _recv_take(peer))
        blocked = asyncio.ensure_future(proc.handle(_take([small], first=n_free), _no_ack))
        await _recv_take(peer)  # sent, then it waits for a TakeDone
        await asyncio.sleep(0.1)
        waiting = not blocked.done()
        peer.post(TakeDone(sent[-1].seq))  # done up to there: room again
        await asyncio.wait_for(blocked, 5)
        proc.stopping = True
        return len(sent), waiting, proc._in_flight_bytes

    n_sent, waiting, left = asyncio.run(scenario())
    assert n_sent == n_free  # far beyond max_in_flight=1
    assert waiting  # but not without bound
    assert left == small  # only the last message is still in flight


def test_a_rebalance_while_a_take_waits_ends_the_take_there() -> None:
    big = MESSAGE_MAX_BYTES // 2 + 1  # one record per message
    acked: list[int] = []

    async def acker(rec: RawRecord) -> None:
        acked.append(rec.source.offset)

    async def scenario() -> tuple[list[Take], object]:
        proc, peer = await _pair(max_in_flight=1)
        proc.assigned = {(TOPIC, 0)}
        handling = asyncio.ensure_future(proc.handle(_take([big] * 5), acker))
        first = [await _recv_take(peer), await _recv_take(peer)]  # the third waits for
        # a TakeDone

        async def peer_revoke() -> None:  # answer the revoke call as the process would
            msg = await peer.recv()
            assert isinstance(msg, Revoke) and msg.tps == [(TOPIC, 0)]
            peer.post(Acks({(TOPIC, 0): 1}))  # the first record was written
            peer.post(Reply(msg.call_id))

        answering = asyncio.ensure_future(peer_revoke())
        await proc.revoke([(TOPIC, 0)], flush_timeout=5)
        await answering
        for m in first:
            peer.post(TakeDone(m.seq))
        await asyncio.wait_for(handling, 5)
        await proc.send_positions({})  # a marker: whatever was sent before it comes first
        after = await peer.recv()
        proc.stopping = True
        return first, after

    first, after = asyncio.run(scenario())
    assert [m.offsets for m in first] == [[0], [1]]
    assert isinstance(after, PositionsUpdate)  # nothing of the take was sent after the revoke
    assert acked == [0]  # the ack of the flush, before the partition went; nothing else


def test_acknowledgements_ack_every_pending_record_below_the_offset_in_order() -> None:
    acked: list[tuple[int, int]] = []

    async def acker(rec: RawRecord) -> None:
        acked.append((rec.source.partition, rec.source.offset))

    async def scenario() -> None:
        proc, peer = await _pair(max_in_flight=10)
        await proc.handle(_take([5] * 4, partition=0, first=10)
                          + _take([5] * 3, partition=1, first=70), acker)
        await peer.recv()
        peer.post(Acks({(TOPIC, 0): 12, (TOPIC, 1): 71}))
        peer.post(Acks({(TOPIC, 0): 14}))
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
        peer.post(Stall(True, 16.0))  # the ingest process's sink stalled
        await until(lambda: sink.stalled)
        assert 16.0 <= sink.oldest_pending_s() < 30.0
        peer.post(Pause(True))
        await until(lambda: sink.backpressured)
        peer.post(Stall(False, 17.0))
        peer.post(Pause(False))
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
