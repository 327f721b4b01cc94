"""The reads the stream cannot do without: :class:`SinkReader`.

The id-conflict lookup (:meth:`SinkReader.stored_body_hashes`) and the stream's queries
(:meth:`SinkReader.query`: the alert engine's restore, the embedded API) run on the sink's
database in a worker thread, never on the event loop. ClickHouse being unreachable fails
them the same way it fails a write, so they are retried the same way (``sinks.retrier``):
:class:`SinkUnavailable` forever with the capped backoff, counted in
``blo_sink_retries_total{table, error}``, with the sink's backpressure on while one fails;
any other error is raised at once (the sink itself does not fail), as is the sink's own
failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sinks.base import Database, Row
from sinks.retrier import Retrier


class SinkReader:
    """Reads on ``db`` through ``retrier``'s read retries."""

    def __init__(self, db: Database, retrier: Retrier) -> None:
        self._db = db
        self._retrier = retrier

    async def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, table: str = "events"
    ) -> list[Row]:
        """:meth:`sinks.base.Database.query` (``table`` labels its retries)."""
        db = self._db
        return await self._retrier.read(lambda: db.query(sql, params), "query", table)

    async def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """:meth:`sinks.base.Database.stored_body_hashes`: one query for the whole batch,
        its retries counted under ``table="events"``."""
        db = self._db
        return await self._retrier.read(
            lambda: db.stored_body_hashes(station_ids, event_ids),
            f"lookup of {len(event_ids)} event ids", "events",
        )
