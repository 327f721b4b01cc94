"""In-memory :class:`sinks.base.Database` for unit tests of the stream and the sink.

It keeps inserted rows per table, can be told to fail the next N inserts (with
:class:`SinkUnavailable` by default, to exercise retries), and can hold inserts until
released (to observe writes in flight and backpressure).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sinks.base import Row, SinkError, SinkUnavailable, SinkWriteError

_COUNT = re.compile(r"^\s*SELECT\s+count\(\)\s+FROM\s+(?:(\w+)\.)?(\w+)\s*$", re.IGNORECASE)


class MemoryDatabase:
    """Thread-safe fake. ``rows(table)`` returns what was inserted, in insert order."""

    kind = "memory"

    def __init__(self, database: str = "blo") -> None:
        self.database = database
        self.inserts: list[tuple[str, tuple[str, ...], list[Row]]] = []  # one per insert call
        self.attempts = 0  # insert calls, failed ones included
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._failures: list[SinkError] = []
        self._gate = threading.Event()
        self._gate.set()
        self.closed = False

    # -- test controls -----------------------------------------------------------------
    def fail_next(self, n: int, error: type[SinkError] = SinkUnavailable) -> None:
        """Make the next ``n`` inserts raise ``error`` (they store nothing)."""
        with self._lock:
            self._failures.extend(error(f"injected failure {i + 1}/{n}") for i in range(n))

    def clear_failures(self) -> None:
        """Drop injected failures not yet raised (ClickHouse "comes back")."""
        with self._lock:
            self._failures.clear()

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

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Supports ``SELECT 1``, ``SELECT version()`` and ``SELECT count() FROM [db.]t``."""
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

    def command(self, sql: str) -> None:
        with self._lock:
            self.commands.append(sql)

    def server_version(self) -> tuple[int, ...]:
        return (0,)

    def close(self) -> None:
        self.closed = True
