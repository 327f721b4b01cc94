"""Messages between the Faust process and its ingest process (:mod:`streams.process_messages`):
each pickled and framed by a 4-byte big-endian length, over one Unix socket pair (asyncio
streams on both ends, so neither side's event loop ever blocks on the other)."""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct

_LEN = struct.Struct(">I")
MAX_MESSAGE = 1 << 30


class ChannelClosed(EOFError):
    """The other process closed its end (it exited, or was killed)."""


class Channel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 22)
        return cls(reader, writer)

    def post(self, message: object) -> None:
        """Queue a message without waiting for the other side to read (small messages:
        acknowledgements, answers). Messages go out in the order they are posted or sent."""
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if len(body) > MAX_MESSAGE:
            raise ValueError(f"message of {len(body)} bytes is over the channel's limit")
        if self._writer.is_closing():
            raise ChannelClosed("the channel is closed")
        self._writer.write(_LEN.pack(len(body)))
        self._writer.write(body)

    async def send(self, message: object) -> None:
        """Queue a message, then wait until the transport's buffer is below its high-water
        mark (flow control: the other side reads as it can)."""
        self.post(message)
        try:
            await self._writer.drain()
        except ConnectionError as e:
            raise ChannelClosed("the other process closed the channel") from e

    async def recv(self) -> object:
        try:
            head = await self._reader.readexactly(_LEN.size)
            body = await self._reader.readexactly(_LEN.unpack(head)[0])
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            raise ChannelClosed("the other process closed the channel") from e
        message: object = pickle.loads(body)
        return message

    def close(self) -> None:
        self._writer.close()
