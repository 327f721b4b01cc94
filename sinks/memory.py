"""In-memory :class:`sinks.base.Database` for unit tests of the stream and the sink.

It keeps inserted rows per table, can be told to fail the next N inserts or the next N
reads (with :class:`SinkUnavailable` by default, to exercise retries), and can hold inserts
until released (to observe writes in flight and backpressure). It answers
:meth:`~MemoryDatabase.stored_body_hashes` from the ``events`` rows inserted so far.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sinks.base import Row, SinkError, SinkUnavailable, SinkWriteError

_COUNT = re.compile(r"^\s*SELECT\s+count\(\)\s+FROM\s+(?:(\w+)\.)?(\w+)\s*$", re.IGNORECASE)


class MemoryDatabase:
    """Thread-safe fake. ``rows(table)`` returns what was inserted, in insert order."""

    kind = "memory"

    def __init__(self, database: str = "blo") -> None:
        self.database = database
        self.inserts: list[tuple[str, tuple[str, ...], list[Row]]] = []  # one per insert call
        self.attempts = 0  # insert calls, failed ones included
        self.read_attempts = 0  # query / stored_body_hashes calls, failed ones included
        self.lookups: list[tuple[tuple[str, ...], tuple[UUID, ...]]] = []  # answered ones
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._failures: list[SinkError] = []
        self._read_failures: list[SinkError] = []
        self._gate = threading.Event()
        self._gate.set()
        self.closed = False

    # -- test controls -----------------------------------------------------------------
    def fail_next(self, n: int, error: type[SinkError] = SinkUnavailable) -> None:
        """Make the next ``n`` inserts raise ``error`` (they store nothing)."""
        with self._lock:
            self._failures.extend(error(f"injected failure {i + 1}/{n}") for i in range(n))

    def fail_next_reads(self, n: int, error: type[SinkError] = SinkUnavailable) -> None:
        """Make the next ``n`` reads (:meth:`query`, :meth:`stored_body_hashes`) raise
        ``error``."""
        with self._lock:
            self._read_failures.extend(
                error(f"injected read failure {i + 1}/{n}") for i in range(n)
            )

    def clear_failures(self) -> None:
        """Drop injected failures not yet raised (ClickHouse "comes back")."""
        with self._lock:
            self._failures.clear()
            self._read_failures.clear()

    def hold(self) -> None:
        """Block inserts (in their worker threads) until :meth:`release`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def rows(self, table: str) -> list[Row]:
        with self._lock:
            return [r for t, _, rows in self.inserts if t == table for r in rows]

    def batch_sizes(self, table: str) -> list[int]:
        with self._lock:
            return [len(rows) for t, _, rows in self.inserts if t == table]

    # -- Database protocol ---------------------------------------------------------------
    def insert(self, table: str, column_names: Sequence[str], rows: Sequence[Row]) -> None:
        if not self._gate.wait(timeout=60):
            raise SinkUnavailable("MemoryDatabase held for 60 s without release()")
        with self._lock:
            self.attempts += 1
            if self.closed:
                raise SinkWriteError("MemoryDatabase is closed")
            if self._failures:
                raise self._failures.pop(0)
            for row in rows:
                if len(row) != len(column_names):
                    raise SinkWriteError(
                        f"row of {len(row)} values for {len(column_names)} columns in {table}"
                    )
            self.inserts.append((table, tuple(column_names), list(rows)))

    def _read(self) -> None:
        with self._lock:
            self.read_attempts += 1
            if self._read_failures:
                raise self._read_failures.pop(0)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Supports ``SELECT 1``, ``SELECT version()`` and ``SELECT count() FROM [db.]t``."""
        self._read()
        text = sql.strip()
        if text.upper() == "SELECT 1":
            return [(1,)]
        if text.lower() == "select version()":
            return [("0.0-memory",)]
        m = _COUNT.match(text)
        if m:
            return [(len(self.rows(m.group(2))),)]
        raise NotImplementedError(
            f"MemoryDatabase cannot run {sql!r}: it only stores rows "
            "(use .rows(table), or an integration test against a real engine)"
        )

    def read_only_query(self, sql: str) -> list[Row]:
        """The fake has no read-only mode to enforce: it answers what :meth:`query` can
        (statements that only read)."""
        return self.query(sql)

    def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """The contract of :meth:`sinks.base.Database.stored_body_hashes` over the rows
        inserted into ``events`` (which must include ``event_id``, ``station_id`` and
        ``body_hash``); the first stored copy of an id answers."""
        if not event_ids or not station_ids:
            return {}
        if self.closed:
            raise SinkWriteError("MemoryDatabase is closed")
        self._read()
        wanted, stations = set(event_ids), set(station_ids)
        out: dict[UUID, str] = {}
        with self._lock:
            self.lookups.append((tuple(station_ids), tuple(event_ids)))
            for table, cols, rows in self.inserts:
                if table != "events":
                    continue
                eid, sid, bh = (cols.index(c) for c in ("event_id", "station_id", "body_hash"))
                for row in rows:
                    u = row[eid] if isinstance(row[eid], UUID) else UUID(str(row[eid]))
                    if u in wanted and row[sid] in stations:
                        out.setdefault(u, str(row[bh]))
        return out

    def command(self, sql: str) -> None:
        with self._lock:
            self.commands.append(sql)

    def server_version(self) -> tuple[int, ...]:
        return (0,)

    def close(self) -> None:
        self.closed = True
