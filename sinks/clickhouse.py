"""ClickHouse server over the native protocol (clickhouse-driver): :class:`ServerDatabase`.

Inserts are columnar: ``INSERT INTO db.t (cols) VALUES`` with the data as separate blocks,
never inline in the SQL text (clickhouse-driver hangs until its socket timeout on inline
values against 18.16). Query parameters are rendered by :func:`sinks.sql.render`, the
same text chDB gets. The id-conflict lookup sends its ids as an external table (a data block
with the query, :mod:`sinks.read_model.events`).

A clickhouse-driver ``Client`` is not thread-safe, so each call borrows a client from a
small pool (one client per concurrent caller, at most ``pool_size``). A client whose
connection broke reconnects on its next use: after ClickHouse comes back, writes resume
without any action from the caller.

A server that takes the connection but says nothing (paused, overloaded) fails a call after
``BLO_CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S`` of silence with :class:`sinks.base.SinkTimeout` (plus
up to ~5 s for the ping of a pooled connection): a thread is never held for longer than that.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from blo.settings import ClickHouseSettings, ClickHouseTarget
from sinks.base import (
    ReadOnlyRefused,
    Row,
    SinkError,
    SinkTimeout,
    SinkUnavailable,
    SinkWriteError,
)
from sinks.read_model.events import IDS_STRUCTURE, IDS_TABLE, stored_body_hashes_sql
from sinks.sql import READ_ONLY_SETTINGS, check_identifier, render

log = logging.getLogger(__name__)

# Server-side error codes that a later retry can fix (overload, shutdown, network inside
# the server); everything else is a SinkWriteError.
_READONLY_CODE = 164  # READONLY: what the read-only mode refuses
_RETRYABLE_SERVER_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        160,  # TOO_SLOW
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        279,  # ALL_CONNECTION_TRIES_FAILED (a cluster shard down: a synchronous insert waits)
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
    }
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ch_errors.NetworkError,
    ch_errors.SocketTimeoutError,
    ch_errors.UnexpectedPacketFromServerError,
    ch_errors.UnknownPacketFromServerError,
    EOFError,
    ConnectionError,
    socket.timeout,
    ssl.SSLError,
    OSError,
)
_VERSION = re.compile(r"\d+")


def server_message(exc: BaseException) -> str:
    """The useful part of a driver/server error: code and first line, no stack trace."""
    if isinstance(exc, ch_errors.ServerException):
        first = (exc.message or "").split(" Stack trace:", 1)[0].strip().splitlines()
        text = first[0] if first else ""
        text = text.removeprefix("DB::Exception: ")
        return _cap(f"Code {exc.code}: {text}")
    return _cap(f"{type(exc).__name__}: {exc}")


def _cap(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def map_error(exc: BaseException, what: str) -> SinkError:
    """Translate a clickhouse-driver / socket exception into the sink's two error kinds."""
    if isinstance(exc, SinkError):
        return exc
    if isinstance(exc, ch_errors.ServerException):
        if exc.code in _RETRYABLE_SERVER_CODES:
            return SinkUnavailable(f"{what}: {server_message(exc)}")
        return SinkWriteError(f"{what}: {server_message(exc)}")
    if isinstance(exc, TimeoutError | ch_errors.SocketTimeoutError):  # socket.timeout too
        return SinkTimeout(f"{what}: ClickHouse did not answer in time ({server_message(exc)})")
    if isinstance(exc, _CONNECTION_ERRORS):
        return SinkUnavailable(f"{what}: ClickHouse unreachable ({server_message(exc)})")
    return SinkWriteError(f"{what}: {server_message(exc)}")


def _is_datetime(ch_type: str) -> bool:
    if ch_type.startswith("Nullable(") and ch_type.endswith(")"):
        ch_type = ch_type[len("Nullable(") : -1]
    return ch_type == "DateTime" or ch_type.startswith("DateTime(")


def epoch_seconds(value: object) -> object:
    """A DateTime value as whole epoch seconds (naive datetimes are UTC); others unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    return value


def epoch_column(values: list[object]) -> list[object]:
    """:func:`epoch_seconds` of every value of a column. A value that is the same object as
    the one before it (a batch's ``ingested_at``, a window row's repeated times) is
    converted once: ``datetime.timestamp()`` is the costly part of a DateTime column."""
    out: list[object] = []
    append = out.append
    last: object = _NOTHING
    conv: object = None
    for v in values:
        if v is not last:
            last, conv = v, epoch_seconds(v)
        append(conv)
    return out


_NOTHING = object()


class ServerDatabase:
    """A :class:`sinks.base.Database` on a ClickHouse server. Thread-safe.

    Connections are made lazily (constructing it never touches the network). Tables are
    addressed as ``<database>.<table>``; the connection's current database is ``system``,
    which every server has and every user may use (users.xml ``allow_databases`` never
    hides it): a server without the target database (before
    :func:`sinks.migrations.migrate`) can still be reached, and so can it by a user
    allowed only the BLO database (the API's read-only user) or only ``<db>_audit``.
    """

    kind = "server"

    def __init__(
        self,
        target: ClickHouseTarget,
        settings: ClickHouseSettings,
        *,
        pool_size: int = 8,
    ) -> None:
        if target.kind != "server":
            raise ValueError(f"ServerDatabase needs a clickhouse:// target, got {target!r}")
        self.target = target
        self.database = check_identifier(target.database)
        self.settings = settings
        self._idle: list[Client] = []
        self._all: list[Client] = []
        self._pool_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._closed = False
        self._datetime_cols: dict[str, frozenset[str]] = {}

    def __repr__(self) -> str:  # the target's repr never shows the password
        return f"ServerDatabase({self.target!r})"

    # -- pool --------------------------------------------------------------------------
    def _new_client(self) -> Client:
        t, s = self.target, self.settings
        secure = t.secure
        kwargs: dict[str, Any] = {}
        if secure:
            kwargs["verify"] = s.verify
            if s.ca_certs is not None:
                kwargs["ca_certs"] = str(s.ca_certs)
        return Client(
            host=t.host,
            port=t.port,
            database="system",  # see the class docstring
            user=t.user,
            password=t.password.get_secret_value(),
            secure=secure,
            connect_timeout=s.connect_timeout_s,
            send_receive_timeout=s.send_receive_timeout_s,
            sync_request_timeout=min(5.0, s.send_receive_timeout_s),
            client_name="blo",
            **kwargs,
        )

    @contextmanager
    def _client(self) -> Iterator[Client]:
        if self._closed:
            raise SinkWriteError(f"{self!r} is closed")
        self._slots.acquire()
        try:
            with self._pool_lock:
                client = self._idle.pop() if self._idle else None
            if client is None:
                client = self._new_client()
                with self._pool_lock:
                    self._all.append(client)
            try:
                yield client
            finally:
                with self._pool_lock:
                    self._idle.append(client)
        finally:
            self._slots.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def bounded(self, timeout_s: float) -> ServerDatabase:
        """Another database on the same target whose calls wait at most ``timeout_s`` on a
        silent server (connect and send/receive), for callers with a deadline of their own
        (the API). It has its own connections; close it separately."""
        s = self.settings
        limited = s.model_copy(update={
            "connect_timeout_s": min(s.connect_timeout_s, timeout_s),
            "send_receive_timeout_s": min(s.send_receive_timeout_s, timeout_s)})
        return ServerDatabase(self.target, limited)

    # -- Database protocol ---------------------------------------------------------------
    def _datetime_columns(self, table: str) -> frozenset[str]:
        """Names of ``DateTime``/``Nullable(DateTime)`` columns (cached per table)."""
        cached = self._datetime_cols.get(table)
        if cached is None:
            rows = self.query(
                "SELECT name, type FROM system.columns WHERE database = %(d)s AND table = %(t)s",
                {"d": self.database, "t": table},
            )
            cached = frozenset(str(n) for n, t in rows if _is_datetime(str(t)))
            if rows:  # a missing table is not cached: the insert reports it
                self._datetime_cols[table] = cached
        return cached

    def insert(self, table: str, column_names: Sequence[str], rows: Sequence[Row]) -> None:
        """Columnar insert of ``rows`` into ``<database>.<table>``; raises
        :class:`SinkUnavailable` (connection) or :class:`SinkWriteError` (anything else).

        ``DateTime`` values may be aware datetimes (converted), naive ones (taken as UTC) or
        epoch seconds; they are turned into epoch seconds here, which is several times
        cheaper than the driver's per-value timezone conversion."""
        if not rows:
            return
        check_identifier(table)
        cols = ", ".join(check_identifier(c) for c in column_names)
        width = len(column_names)
        try:
            columns = [list(col) for col in zip(*rows, strict=True)]
        except ValueError:
            columns = []
        if len(columns) != width:
            raise SinkWriteError(
                f"insert into {self.database}.{table}: every row must have {width} values "
                f"(one per column named)"
            )
        datetimes = self._datetime_columns(table)
        for i, name in enumerate(column_names):
            if name in datetimes:
                columns[i] = epoch_column(columns[i])
        sql = f"INSERT INTO {self.database}.{table} ({cols}) VALUES"
        what = f"insert of {len(rows)} rows into {self.database}.{table}"
        with self._client() as client:
            try:
                client.execute(sql, columns, columnar=True)
            except Exception as e:
                self._datetime_cols.pop(table, None)
                raise map_error(e, what) from e

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        text = render(sql, params)
        with self._client() as client:
            try:
                result = client.execute(text)
            except Exception as e:
                raise map_error(e, "query") from e
        return [tuple(r) for r in result] if isinstance(result, list) else []

    def read_only_query(self, sql: str) -> list[Row]:
        """See :meth:`sinks.base.Database.read_only_query`: the statement goes as it is,
        with :data:`sinks.sql.READ_ONLY_SETTINGS` in the query's own settings (the server
        then refuses writes, DDL, setting changes and table functions; a multi-statement
        is a syntax error; ``INTO OUTFILE`` is a client-side clause the server never writes)."""
        with self._client() as client:
            try:
                result = client.execute(sql, settings=dict(READ_ONLY_SETTINGS))
            except ch_errors.ServerException as e:
                if e.code == _READONLY_CODE:
                    raise ReadOnlyRefused("refused by ClickHouse's read-only mode: "
                                          f"{server_message(e)}") from e
                raise map_error(e, "query") from e
            except Exception as e:
                raise map_error(e, "query") from e
        return [tuple(r) for r in result] if isinstance(result, list) else []

    def command(self, sql: str) -> None:
        with self._client() as client:
            try:
                client.execute(sql)
            except Exception as e:
                raise map_error(e, "command") from e

    def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """See :meth:`sinks.base.Database.stored_body_hashes`: one SELECT, the ids sent with
        it as the external table :data:`sinks.read_model.events.IDS_TABLE` (no parsing of the ids, no
        ``max_query_size`` limit)."""
        if not event_ids or not station_ids:
            return {}
        sql = stored_body_hashes_sql(self.database, station_ids)
        ids = {"name": IDS_TABLE, "structure": list(IDS_STRUCTURE),
               "data": [(u,) for u in event_ids]}
        what = f"lookup of {len(event_ids)} event ids in {self.database}.events"
        with self._client() as client:
            try:
                rows = client.execute(sql, external_tables=[ids])
            except Exception as e:
                raise map_error(e, what) from e
        return {eid if isinstance(eid, UUID) else UUID(str(eid)): str(h) for eid, h in rows}

    def server_version(self) -> tuple[int, ...]:
        (version,) = self.query("SELECT version()")[0]
        return tuple(int(p) for p in _VERSION.findall(str(version)))

    def ping(self) -> bool:
        """True if ``SELECT 1`` works now."""
        try:
            return self.query("SELECT 1") == [(1,)]
        except SinkError:
            return False

    def close(self) -> None:
        """Disconnect every pooled client. Calls after this raise :class:`SinkWriteError`."""
        self._closed = True
        with self._pool_lock:
            clients, self._all, self._idle = self._all, [], []
        for client in clients:
            try:
                client.disconnect()
            except Exception:
                log.debug("error while disconnecting %r", self, exc_info=True)
