"""streams.channel.Channel over a real Unix socket pair, both ends in one event loop."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from streams.channel import Channel, ChannelClosed
from streams.process_messages import Acks, Assign, CallFailed, PositionsUpdate, Stop, Take


def _run(body: Callable[[Channel, Channel], Awaitable[Any]], timeout: float = 30) -> Any:
    async def main() -> Any:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        left, right = await Channel.open(a), await Channel.open(b)
        try:
            return await asyncio.wait_for(body(left, right), timeout)
        finally:
            left.close()
            right.close()

    return asyncio.run(main())


def test_the_process_messages_round_trip_both_ways() -> None:
    sent: list[object] = [
        Take(7, 2, "raw-x", [0, 1, 1], [10, 11, 12], [b"{}", None, b"\xff\x00"],
             {("raw-x", 0): (100, None)}),
        PositionsUpdate({("raw-x", 0): (100, None), ("raw-x", 3): (None, 42)}),
        Assign(3, [("raw-x", 0), ("raw-x", 2)], 4),
        Acks({("raw-x", 1): 13}),
        Stop(),
        CallFailed(9, "ValueError: boom \u00e9\u4e2d"),
    ]

    async def body(left: Channel, right: Channel) -> tuple[list[Any], list[Any]]:
        for m in sent:
            await left.send(m)
        forth = [await right.recv() for _ in sent]
        for m in reversed(sent):
            await right.send(m)
        back = [await left.recv() for _ in sent]
        return forth, back

    forth, back = _run(body)
    assert forth == sent
    assert back == list(reversed(sent))
    assert [type(m) for m in forth] == [type(m) for m in sent]


def test_many_messages_arrive_in_order() -> None:
    n = 5000

    async def body(left: Channel, right: Channel) -> list[Any]:
        async def produce() -> None:
            for i in range(n):
                await left.send(("done", i, b"x" * (i % 97)))

        task = asyncio.ensure_future(produce())
        got = [await right.recv() for _ in range(n)]
        await task
        return got

    got = _run(body)
    assert got == [("done", i, b"x" * (i % 97)) for i in range(n)]


def test_a_message_of_several_megabytes_while_the_reader_reads_concurrently() -> None:
    # larger than twice the reader's 4 MiB buffer limit: the transport pauses and resumes
    big = os.urandom(12 * 1024 * 1024)
    values = [big[i:i + 1000] for i in range(0, 200_000, 1000)]

    async def body(left: Channel, right: Channel) -> list[Any]:
        async def read_three() -> list[Any]:
            return [await right.recv() for _ in range(3)]

        reader = asyncio.ensure_future(read_three())
        await asyncio.sleep(0)  # the reader is waiting before the first byte is sent
        await left.send(("small", 1))
        await left.send(("big", big))
        await left.send(("batch", 2, "t", list(range(len(values))), values))
        return await reader

    first, second, third = _run(body)
    assert first == ("small", 1)
    assert second[0] == "big" and len(second[1]) == len(big) and second[1] == big
    assert third == ("batch", 2, "t", list(range(len(values))), values)


def test_the_other_end_closing_raises_channel_closed() -> None:
    async def body(left: Channel, right: Channel) -> tuple[Any, bool]:
        await left.send(("last", b"words"))
        left.close()
        first = await right.recv()  # what was sent before the close still arrives
        try:
            await right.recv()
        except ChannelClosed:
            return first, True
        return first, False

    first, closed = _run(body)
    assert first == ("last", b"words")
    assert closed


def test_a_peer_dying_mid_message_raises_channel_closed() -> None:
    """A frame cut short (the other process killed while writing) is EOF, not data."""

    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ch = await Channel.open(a)
        try:
            b.sendall(struct.pack(">I", 1000) + b"\x80" * 10)  # announces 1000, sends 10
            b.close()
            with pytest.raises(ChannelClosed):
                await asyncio.wait_for(ch.recv(), 10)
        finally:
            ch.close()

    asyncio.run(main())

