"""The one sink interface: where rows leave for ClickHouse.

Two layers:

* :class:`Database` — a *synchronous* client of one ClickHouse (server over the native
  protocol, or embedded chDB, or an in-memory fake for unit tests). It inserts columnar
  batches, runs queries, and answers the stream's id-conflict lookup
  (:meth:`Database.stored_body_hashes`). It is only ever called from worker threads, never
  on the event loop.
* :class:`Sink` — the *asynchronous* batching front the stream talks to. It buffers rows per
  table, flushes by rows / bytes / age, keeps at most N writes in flight, retries
  connection failures forever with capped backoff (signalling backpressure meanwhile), and
  calls each submission's ``on_durable`` callback — in submission order — once every row of
  that submission is in ClickHouse. The stream acknowledges Kafka offsets from that
  callback: **commit after write** lives in exactly that hand-off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

Row = tuple[Any, ...]
OnDurable = Callable[[], Awaitable[None]]


class SinkError(Exception):
    """Base class of sink failures."""


class SinkUnavailable(SinkError):
    """ClickHouse cannot be reached (connection refused/reset, timeout). Retryable."""


class SinkTimeout(SinkUnavailable):
    """ClickHouse took the connection but sent nothing for ``BLO_CLICKHOUSE_SEND_RECEIVE_
    TIMEOUT_S`` (a paused or overloaded server). Retryable; a timed-out insert may still land
    once the server wakes, so its retry can store the same rows twice: every table the
    worker's sink writes is a ReplacingMergeTree keyed by the row's identity, and readers
    see one row through ``FINAL``."""


class SinkWriteError(SinkError):
    """A write failed for a reason retrying will not fix (missing table, type mismatch).

    Raised by :meth:`Sink.submit`/:meth:`Sink.flush` after bounded retries; the worker stops
    with this error instead of acknowledging anything.
    """


class ReadOnlyRefused(SinkError):
    """A reader's statement that the engine's read-only mode (or the one-statement rule)
    refused; the message says what was refused and why."""


class Database(Protocol):
    """Synchronous ClickHouse access. Implementations: ``sinks.clickhouse.ServerDatabase``,
    ``sinks.chdb.ChdbDatabase``, ``sinks.memory.MemoryDatabase``."""

    kind: str  # "server" | "chdb" | "memory"
    database: str  # the ClickHouse database name (e.g. "blo")

    def insert(self, table: str, column_names: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert rows (tuples in ``column_names`` order) as one columnar batch.

        Raises :class:`SinkUnavailable` on connection problems, :class:`SinkWriteError`
        otherwise.
        """

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a SELECT (or DDL) and return rows. ``params`` use ``%(name)s`` placeholders,
        substituted with proper escaping on both engines."""

    def command(self, sql: str) -> None:
        """Run DDL / a statement without result."""

    def read_only_query(self, sql: str) -> list[Row]:
        """Run one statement of a reader's own SQL (``blo query``, the embedded worker's
        admin door) in the engine's own read-only mode: writes, DDL, ``SET``/``SETTINGS``
        changes, table functions that reach files, URLs or other servers and
        ``INTO OUTFILE`` are refused by the engine, whatever the text looks like. Raises
        :class:`ReadOnlyRefused` for what the read-only mode refuses, :class:`SinkError`
        for other failures."""

    def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """The ``body_hash`` stored in ``<database>.events`` for each of ``event_ids`` that is
        there under one of ``station_ids``: one entry per stored id (however many physical
        rows it has before a merge), none for ids not stored or stored under another station.

        One query whatever the number of ids (they are sent as data, never as SQL text, so
        there is no size limit), and none at all when ``event_ids`` or ``station_ids`` is
        empty. Raises :class:`SinkUnavailable` on connection problems, :class:`SinkWriteError`
        otherwise (e.g. no ``events`` table)."""

    def server_version(self) -> tuple[int, ...]: ...

    def close(self) -> None: ...


class Sink(Protocol):
    """Asynchronous, batching, backpressuring writer. See module docstring."""

    async def submit(
        self, rows_by_table: Mapping[str, Sequence[Row]], on_durable: OnDurable | None = None
    ) -> None:
        """Buffer rows; may await (backpressure) while writes in flight are at their bound or
        ClickHouse is down. ``on_durable`` runs after all these rows are written and after
        every earlier submission's callback."""

    async def flush(self, reason: str = "flush") -> None:
        """Write everything buffered and wait for it (and its callbacks)."""

    async def close(self) -> None:
        """Flush, then release connections."""

    @property
    def backpressured(self) -> bool:
        """True while writes are failing and being retried, the buffer is full, or the
        sink is stalled."""

    @property
    def stalled(self) -> bool:
        """True while the oldest row not yet written is older than ``BLO_BATCH_SINK_STALL_S``
        (ClickHouse not answering); ``/readyz`` answers 503 meanwhile."""

    def oldest_pending_s(self) -> float:
        """Age in seconds of the oldest submission not yet written (0 when none)."""



class ReadingSink(Sink, Protocol):
    """A sink that also runs the stream's reads, with the same retries as its writes
    (:class:`sinks.batching.BatchingSink`): the queries of :mod:`sinks.read_model` and the
    id-conflict lookup."""

    async def query(self, sql: str, params: Mapping[str, Any] | None = None, *,
                    table: str = "events") -> list[Row]: ...

    async def stored_body_hashes(self, station_ids: Sequence[str], event_ids: Sequence[UUID]
                                 ) -> dict[UUID, str]: ...
