"""The API app in this process, over real databases, called through aiohttp's test server:
how the integration tests that call endpoints directly start it (`blo api` as a process is
:mod:`tests.integration.api.processes`).

``InProcessApi(reader, writer)`` builds the app exactly as ``blo api`` does
(``blo.api.serve.context`` + ``build_api``): reads through ``reader``, audit rows and
tokens' last use through ``writer`` (default: ``reader``), each call in a thread as
``BoundedCalls`` runs it. Acknowledgements go to the real Kafka topic of ``settings`` with
``kafka=True``, else they are kept in :attr:`InProcessApi.acks`. ``run(body)`` starts the
app, hands ``body`` a client and stops the app (its cleanup flushes the audit log).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from blo.api.app import build_api
from blo.api.serve import context
from blo.kafka_io import produce
from blo.settings import Settings, load_settings
from sinks.base import Database, Row

T = TypeVar("T")


class InProcessApi:
    def __init__(self, reader: Database, writer: Database | None = None, *,
                 settings: Settings | None = None, database: str | None = None,
                 clock: Callable[[], datetime] | None = None, kafka: bool = False) -> None:
        self.settings = settings or load_settings()
        self.executor = ThreadPoolExecutor(4)
        self.acks: list[tuple[str, str, str]] = []  # (topic, key, value) sent, kafka=False
        out = writer or reader

        async def in_thread(fn: Callable[..., T], *args: Any) -> T:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

        async def query(sql: str, params: Any) -> list[Row]:
            return await in_thread(reader.query, sql, params)

        async def insert(table: str, cols: Sequence[str], rows: Sequence[Row]) -> None:
            await in_thread(out.insert, table, cols, rows)

        async def send(topic: str, key: bytes, value: bytes) -> None:
            if kafka:
                await in_thread(produce, self.settings.kafka, topic, [(key, value)])
            else:
                self.acks.append((topic, key.decode(), value.decode()))

        self.ctx = context(self.settings, query=query, insert=insert,
                           database=database or reader.database, produce=send)
        if clock is not None:
            self.ctx.clock = clock

    def run(self, body: Callable[[TestClient[Any, Any]], Awaitable[T]]) -> T:
        """``body(client)`` against the app, started for it and stopped after."""
        async def main() -> T:
            async with TestClient(TestServer(build_api(self.ctx))) as client:
                return await body(client)

        return asyncio.run(main())

    def close(self) -> None:
        self.executor.shutdown()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def next_event(resp: ClientResponse, buf: bytearray) -> tuple[str, Any] | None:
    """The next server-sent event of ``resp`` as (event, data); None at the end of the
    stream. ``buf`` keeps what was read beyond it."""
    while b"\n\n" not in buf:
        chunk = await resp.content.readany()
        if not chunk:
            return None
        buf += chunk
    raw, _, rest = bytes(buf).partition(b"\n\n")
    buf[:] = rest
    fields = dict(line.split(b": ", 1) for line in raw.split(b"\n"))
    return fields[b"event"].decode(), json.loads(fields[b"data"])


async def first_snapshot(client: TestClient[Any, Any], secret: str) -> dict[str, Any]:
    """The first snapshot of ``/api/v1/live`` opened with ``secret`` (then closed)."""
    resp = await client.get("/api/v1/live", params={"access_token": secret})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    got = await next_event(resp, bytearray())
    resp.close()
    assert got is not None, "the live stream ended before its first snapshot"
    assert got[0] == "snapshot", got
    return got[1]  # type: ignore[no-any-return]
