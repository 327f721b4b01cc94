"""The station's durable outbox: one SQLite file, one row per event, oldest first.

``publish()`` appends here and returns; the sender reads from the head and deletes rows
only after the broker acknowledged them (not necessarily as a prefix: stations are
independent). So an event is either on disk or acknowledged by
Kafka -- never only in memory -- and a restarted publisher sends what is left, in order.

Durability: WAL journal with ``synchronous=FULL`` by default: every append is fsynced
before ``publish()`` returns, so an event survives a power cut, not only a process crash
(a station laptop losing power is the failure this buffer exists for). ``NORMAL`` skips
the per-commit fsync (~5x faster for single appends here) but may lose the last commits on
power loss; :meth:`DiskBuffer.append_many` amortises the fsync over a batch either way.

One process at a time: the file is opened in SQLite's exclusive locking mode, so a second
publisher on the same file gets :class:`BufferLocked` instead of sending duplicates out of
order.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from blo.sdk.errors import BufferFull, BufferLocked

_FORMAT_VERSION = 1
_SQL_CHUNK = 500  # host parameters per statement (SQLite allows >= 999)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id  TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    buffered_at REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq         INTEGER PRIMARY KEY,
    station_id  TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    reason      TEXT    NOT NULL,
    rejected_at REAL    NOT NULL
);
"""


@dataclasses.dataclass(frozen=True, slots=True)
class BufferedEvent:
    seq: int
    station_id: str
    payload: bytes


class BufferClosed(RuntimeError):
    """The buffer was closed (the sender thread outlived its publisher)."""


class DiskBuffer:
    """Thread-safe FIFO of ``(station_id, payload)`` rows in a SQLite file.

    ``max_bytes`` bounds the summed payload sizes of pending rows (the file itself is a
    little larger and is not shrunk while in use; an empty buffer is compacted at open).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        db = sqlite3.connect(
            self.path, timeout=0.0, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.executescript(_SCHEMA)
            # A write: in exclusive locking mode the write lock is now held until close.
            db.execute(f"PRAGMA user_version={_FORMAT_VERSION}")
            count, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM events"
            ).fetchone()
            if count == 0:
                db.execute("VACUUM")  # give back the space of a past outage
        except sqlite3.OperationalError as e:
            db.close()
            if "locked" in str(e) or "busy" in str(e):
                raise BufferLocked(
                    f"{self.path} is in use by another process (one publisher per buffer file)"
                ) from None
            raise
        self._db = db
        self._count = int(count)
        self._bytes = int(size)

    # -- state ---------------------------------------------------------------------------
    def pending(self) -> int:
        """Rows not yet acknowledged by the broker (in flight included)."""
        return self._count

    def pending_bytes(self) -> int:
        return self._bytes

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise BufferClosed(f"buffer {self.path} is closed")
        return self._db

    # -- writing -------------------------------------------------------------------------
    def append(self, station_id: str, payload: bytes) -> int:
        """Append one row durably; return its sequence number. Raises :class:`BufferFull`."""
        return self.append_many([(station_id, payload)])

    def append_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Append rows in one transaction (all or none); return the last sequence number.
        Raises :class:`BufferFull` if they do not fit."""
        added = sum(len(p) for _, p in items)
        now = time.time()
        with self._lock:
            db = self._conn()
            if self._bytes + added > self.max_bytes:
                raise BufferFull(
                    f"buffer {self.path} holds {self._count} events ({self._bytes} bytes); "
                    f"{added} more bytes would exceed max_buffer_bytes={self.max_bytes}"
                )
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.executemany(
                    "INSERT INTO events (station_id, payload, buffered_at) VALUES (?, ?, ?)",
                    [(s, p, now) for s, p in items],
                )
                last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count += cur.rowcount
            self._bytes += added
            return int(last)

    # -- reading and acknowledging -------------------------------------------------------
    def head(
        self, limit: int, max_bytes: int | None = None, *, after: int = 0
    ) -> list[BufferedEvent]:
        """The oldest rows (with a sequence number above ``after``), in order: at most
        ``limit`` rows and (after the first row) at most ``max_bytes`` of payload."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT seq, station_id, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        out: list[BufferedEvent] = []
        total = 0
        for seq, station, payload in rows:
            total += len(payload)
            if out and max_bytes is not None and total > max_bytes:
                break
            out.append(BufferedEvent(seq, station, payload))
        return out

    def delete(self, seqs: Collection[int]) -> int:
        """Delete the rows with these sequence numbers (acknowledged); return how many."""
        ordered = sorted(seqs)
        if not ordered:
            return 0
        count = size = 0
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(ordered), _SQL_CHUNK):
                    chunk = ordered[i:i + _SQL_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    n, b = db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM events "
                        f"WHERE seq IN ({marks})",
                        chunk,
                    ).fetchone()
                    db.execute(f"DELETE FROM events WHERE seq IN ({marks})", chunk)
                    count += int(n)
                    size += int(b)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count -= count
            self._bytes -= size
            return count

    def reject(self, seq: int, reason: str) -> None:
        """Move one row to the ``rejected`` table (the broker refused it for good), so it
        no longer blocks the rows behind it. Kept for inspection, never resent."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT station_id, payload FROM events WHERE seq = ?", (seq,)
                ).fetchone()
                if row is None:
                    db.execute("ROLLBACK")
                    return
                db.execute(
                    "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?)",
                    (seq, row[0], row[1], reason, time.time()),
                )
                db.execute("DELETE FROM events WHERE seq = ?", (seq,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count -= 1
            self._bytes -= len(row[1])

    def rejected(self) -> list[tuple[BufferedEvent, str]]:
        """Rows the broker refused for good, with the reason, oldest first."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT seq, station_id, payload, reason FROM rejected ORDER BY seq"
            ).fetchall()
        return [(BufferedEvent(s, st, p), r) for s, st, p, r in rows]

    def oldest_age_s(self) -> float | None:
        """Seconds since the oldest pending row was buffered (None when empty)."""
        with self._lock:
            row = self._conn().execute(
                "SELECT buffered_at FROM events ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else max(0.0, time.time() - float(row[0]))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._db is None

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DiskBuffer({self.path}, pending={self._count}, bytes={self._bytes})"
