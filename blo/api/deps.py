"""What the API's handlers share, held by the application as one typed object.

:class:`ApiContext` is what the caller gives (``blo api`` or the embedded worker: the
ClickHouse calls, the acknowledgement sender, the limits); :class:`Api` adds what the
application keeps while it runs (the tokens, the registry, the audit buffer, the open live
streams). ``build_api`` stores it under :data:`API`; a handler reads ``request.app[API]``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from blo.api.queries import stations_sql
from blo.api.scope import Scope, Visibility, visibility
from blo.api.shape import Registry, registry
from blo.api.shared import SharedAnswers
from blo.api.tokens import TokenStore
from sinks.base import Row
from sinks.tables import API_AUDIT, API_TOKEN_USE

log = logging.getLogger("blo.api")

Query = Callable[[str, Mapping[str, Any] | None], Awaitable[list[Row]]]
Insert = Callable[[str, Sequence[str], Sequence[Row]], Awaitable[None]]
SendAck = Callable[[str, str, str], Awaitable[None]]
SendInput = Callable[[bytes, bytes], Awaitable[None]]
"""Produce one record (key, value) to the alert engine's input topic (mutes)."""


@dataclass
class ApiContext:
    query: Query
    insert: Insert
    database: str
    windows: tuple[str, ...]
    send_ack: SendAck
    max_range_days: int = 400
    max_rows: int = 10_000
    audit: bool = True
    live_interval_s: float = 2.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    send_input: SendInput | None = None  # None: mutes cannot be created here (503)
    rules_path: Path | None = None  # the alert rules (baseline bands); None: none (503)
    overlapping: tuple[str, ...] = ()  # window kinds whose windows overlap (hopping)


class Stations:
    """The registry as the API sees it, re-read at most every ``refresh_s``."""

    def __init__(self, ctx: ApiContext, refresh_s: float = 10.0) -> None:
        self.ctx, self.refresh_s = ctx, refresh_s
        self.current = Registry((), ())
        self._at = -1e9
        self._lock = asyncio.Lock()

    async def get(self) -> Registry:
        async with self._lock:
            if time.monotonic() - self._at >= self.refresh_s:
                self.current = registry(await self.ctx.query(stations_sql(self.ctx.database),
                                                              None))
                self._at = time.monotonic()
            return self.current


class AuditLog:
    """Buffers audit rows and writes them every second (and at shutdown), with the tokens'
    last uses. A failed write is logged and kept for the next one: serving goes on."""

    def __init__(self, ctx: ApiContext, tokens: TokenStore) -> None:
        self.ctx = ctx
        self.tokens = tokens
        self.rows: list[Row] = []
        self.task: asyncio.Task[None] | None = None

    def record(self, row: Row) -> None:
        if self.ctx.audit:
            self.rows.append(row)

    async def flush(self) -> None:
        uses = self.tokens.take_uses()
        if uses:
            try:
                await self.ctx.insert("api_token_use", API_TOKEN_USE.column_names, uses)
            except Exception as e:  # noqa: BLE001 - keep serving; last use is advisory
                log.warning("could not write the last use of %d token(s): %s", len(uses), e)
                self.tokens.uses[:0] = uses[-1000:]
        rows, self.rows = self.rows, []
        if rows:
            try:
                await self.ctx.insert("api_audit", API_AUDIT.column_names, rows)
            except Exception as e:  # noqa: BLE001 - keep serving; retried with the next rows
                log.error("could not write %d audit rows (kept for the next try): %s",
                          len(rows), e)
                self.rows[:0] = rows

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.flush()


@dataclass
class Api:
    """Everything a handler needs: ``request.app[API]``."""

    ctx: ApiContext
    tokens: TokenStore
    stations: Stations
    audit: AuditLog
    live_streams: set[asyncio.Task[Any]] = field(default_factory=set)  # cancelled at shutdown
    # live snapshots per (scope, window), shared by the streams that want the same one
    # within half a live interval (blo.api.shared; built in build())
    snapshots: SharedAnswers[Any] = field(default_factory=lambda: SharedAnswers(1.0))

    @classmethod
    def build(cls, ctx: ApiContext) -> Api:
        # re-read at most every live interval: an open stream ends within two of a revocation
        tokens = TokenStore(lambda sql: ctx.query(sql, None), ctx.database,
                            refresh_s=min(2.0, ctx.live_interval_s), now=ctx.clock)
        return cls(ctx, tokens, Stations(ctx), AuditLog(ctx, tokens),
                   snapshots=SharedAnswers(ctx.live_interval_s / 2))

    async def sees(self, scope: Scope) -> tuple[Registry, Visibility]:
        """The registry as it is now, and what ``scope`` sees of it."""
        reg = await self.stations.get()
        return reg, visibility(scope, reg.infos)

    async def visibility(self, scope: Scope) -> Visibility:
        return (await self.sees(scope))[1]


API: web.AppKey[Api] = web.AppKey("blo_api", Api)
