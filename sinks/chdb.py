"""Embedded ClickHouse (chDB) in this process: :class:`ChdbDatabase`.

chDB runs one engine per process on one data directory, and a directory can be open in one
process only (the engine flocks ``<dir>/status``). So:

* every :class:`ChdbDatabase` of a directory in this process shares one
  ``chdb.session.Session`` and one lock that serialises all access to it;
* opening a directory that another process holds raises :class:`SinkError` saying which
  process, and that commands should go through that process's HTTP endpoint instead.

Inserts travel as one ArrowStream per batch (measured the fastest way that keeps
Nullable/UUID/DateTime/Array(String) intact); query results are converted to the same
Python types clickhouse-driver returns (:mod:`sinks.chdb_types`). The id-conflict lookup
sends its ids the same way, into a temporary ``Memory`` table of the session
(:meth:`ChdbDatabase.stored_body_hashes`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import chdb
import orjson
import pyarrow as pa
from chdb import session as chdb_session

from blo.settings import ClickHouseTarget
from sinks.base import ReadOnlyRefused, Row, SinkError, SinkWriteError
from sinks.chdb_types import arrow_stream_bytes, result_rows, rows_to_arrow
from sinks.read_model.events import IDS_STRUCTURE, IDS_TABLE, stored_body_hashes_sql
from sinks.sql import (
    READ_ONLY_SETTINGS,
    check_identifier,
    client_side_clauses,
    quote_string,
    read_only_problem,
    render,
)

log = logging.getLogger(__name__)

_VERSION = re.compile(r"\d+")


class _Session(Protocol):
    """The part of ``chdb.session.Session`` used here (chDB ships no annotations)."""

    def query(self, sql: str, fmt: str = "CSV") -> Any: ...

    def send_insert(self, query: str, fmt: str = "CSV") -> Any: ...

    def close(self) -> None: ...


_new_session: Callable[[str], _Session] = chdb_session.Session


READER_SETTINGS: dict[str, object] = {
    **READ_ONLY_SETTINGS,
    # a reader's statement holds the directory's lock, so the stream's writes wait for it:
    # it gets 10 s (the CLI gives up after 30), and bounded memory and answer in this process
    "max_execution_time": 10,
    "max_memory_usage": 2_000_000_000,
    "max_result_rows": 1_000_000,
    "max_result_bytes": 256 * 1024 * 1024,
    "result_overflow_mode": "throw",
    "session_timezone": "UTC",
}
"""The read-only connection's settings (embedded chDB runs in the worker's process)."""

# functions that reach outside the database; chDB's readonly=1 refuses them as table
# functions but not all of them as scalar functions (measured: file('/etc/…') reads a file)
_OUTSIDE_FUNCTIONS = frozenset({
    "file", "filecluster", "url", "urlcluster", "executable", "executablepool", "remote",
    "remotesecure", "cluster", "clusterallreplicas", "s3", "s3cluster", "gcs", "hdfs",
    "hdfscluster", "azureblobstorage", "azureblobstoragecluster", "mysql", "postgresql",
    "mongodb", "redis", "sqlite", "odbc", "jdbc", "input", "python", "deltalake", "iceberg",
    "hudi", "dictionary", "merge", "loop", "getserversetting", "getsettingordefault",
    "filesystemavailable", "filesystemcapacity", "filesystemunreserved"})
_AST_FUNCTION = re.compile(r"^\s*(?:Table)?Function (\w+)", re.MULTILINE)


@dataclass
class _Shared:
    path: Path
    session: _Session
    lock: threading.RLock = field(default_factory=threading.RLock)
    users: int = 0
    readonly: Any = None  # a second connection to the directory, in read-only mode

    def readonly_connection(self) -> Any:
        """The engine's own read-only connection to the directory (opened on first use;
        the caller holds ``lock``). Its settings come with the connection and cannot be
        changed from it: ``readonly=1`` refuses every change, the setting itself included."""
        if self.readonly is None:
            if "?" in str(self.path) or "&" in str(self.path):
                raise SinkError(f"chDB path {self.path} must not contain '?' or '&' (they "
                                "start the connection's options)")
            opts = "&".join(f"{k}={v}" for k, v in READER_SETTINGS.items())
            self.readonly = chdb.connect(f"{self.path}?{opts}")  # type: ignore[no-untyped-call]
        return self.readonly

    def drop_readonly_connection(self) -> None:
        """Close the read-only connection (the next reader opens a new one): after a failed
        statement it may still hold part of that statement's answer (measured: the next
        statement's result then starts with it)."""
        if self.readonly is not None:
            try:
                self.readonly.close()
            finally:
                self.readonly = None

    def close(self) -> None:
        self.drop_readonly_connection()
        self.session.close()


# chDB's engine is process-global (one directory per process), so the session that wraps it
# is too: this registry is the Python mirror of that fact, not a cache of convenience.
_OPEN: dict[Path, _Shared] = {}
_OPEN_LOCK = threading.Lock()


def _holder_pid(status: Path) -> str:
    try:
        first = status.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
    return first.removeprefix("PID:").strip() or "unknown"


def locked_error(path: Path) -> SinkError:
    pid = _holder_pid(path / "status")
    who = (
        "this process (it opened chDB outside ChdbDatabase)"
        if pid == str(os.getpid())
        else f"another process (PID {pid})"
    )
    return SinkError(
        f"the chDB directory {path} is in use by {who}. chDB lets only one process open a "
        "data directory: a running `blo worker` or `blo demo` owns it, so queries and "
        "commands must go through that process's HTTP endpoint; or stop it first."
    )


def _check_not_locked(path: Path) -> None:
    """Raise the clear error if another process holds ``path`` (chDB only prints it)."""
    status = path / "status"
    if not status.exists():
        return
    fd = os.open(status, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise locked_error(path) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_session(path: Path) -> _Session:
    _check_not_locked(path)
    path.mkdir(parents=True, exist_ok=True)
    try:
        sess = _new_session(str(path))
    except Exception as e:
        text = str(e)
        if "Cannot lock file" in text or "Error initializing EmbeddedServer" in text:
            raise locked_error(path) from e
        if "already initialized with path" in text:
            others = ", ".join(str(p) for p in _OPEN) or "another directory"
            raise SinkError(
                f"cannot open chDB at {path}: this process already has chDB open at "
                f"{others}, and chDB allows one data directory per process"
            ) from e
        raise SinkError(f"cannot open chDB at {path}: {text}") from e
    # Every DateTime the project writes is UTC; make plain DateTime render as UTC too,
    # whatever the machine's timezone (the server is configured with timezone UTC).
    sess.query("SET session_timezone = 'UTC'")
    # an insert spanning more than 100 monthly partitions (an import of years) is refused
    # by default, and send_insert does not report it: the rows were silently lost
    sess.query("SET max_partitions_per_insert_block = 0")
    return sess


def _engine_message(exc: BaseException) -> str:
    """The engine's message without its repeated ``Code: N. DB::Exception:`` prefixes."""
    text = _first_line(exc)
    return re.sub(r"(Code: \d+\. DB::Exception: )+", "", text)[:500]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ChdbDatabase:
    """A :class:`sinks.base.Database` on embedded chDB at ``target.path``. Thread-safe (all
    calls serialised on one lock per directory). Raises :class:`SinkError` at construction
    when another process holds the directory."""

    kind = "chdb"

    def __init__(self, target: ClickHouseTarget) -> None:
        if target.kind != "chdb" or target.path is None:
            raise ValueError(f"ChdbDatabase needs a chdb:// target, got {target!r}")
        self.target = target
        self.database = check_identifier(target.database)
        self.path = Path(target.path).resolve()
        self._types: dict[str, list[tuple[str, str]]] = {}
        self._closed = False
        with _OPEN_LOCK:
            shared = _OPEN.get(self.path)
            if shared is None:
                shared = _Shared(self.path, _open_session(self.path))
                _OPEN[self.path] = shared
            shared.users += 1
        self._shared = shared

    def __repr__(self) -> str:
        return f"ChdbDatabase(path={self.path}, database={self.database})"

    def _run(self, sql: str, fmt: str) -> bytes:
        if self._closed:
            raise SinkWriteError(f"{self!r} is closed")
        with self._shared.lock:
            try:
                res = self._shared.session.query(sql, fmt)
            except Exception as e:
                raise SinkWriteError(f"chDB: {_first_line(e)}") from e
        return bytes(res.bytes()) if res is not None else b""

    def _column_types(self, table: str) -> list[tuple[str, str]]:
        cached = self._types.get(table)
        if cached is None:
            rows = self.query(
                "SELECT name, type FROM system.columns WHERE database = %(db)s "
                "AND table = %(t)s ORDER BY position",
                {"db": self.database, "t": table},
            )
            if not rows:
                raise SinkWriteError(f"chDB: table {self.database}.{table} does not exist")
            cached = self._types[table] = [(str(n), str(t)) for n, t in rows]
        return cached

    @property
    def closed(self) -> bool:
        return self._closed

    # -- Database protocol ---------------------------------------------------------------
    def insert(self, table: str, column_names: Sequence[str], rows: Sequence[Row]) -> None:
        """One ArrowStream insert into ``<database>.<table>``; raises :class:`SinkWriteError`."""
        if not rows:
            return
        check_identifier(table)
        types = dict(self._column_types(table))
        missing = [c for c in column_names if c not in types]
        if missing:
            self._types.pop(table, None)
            raise SinkWriteError(f"chDB: {self.database}.{table} has no column(s) {missing}")
        try:
            data = arrow_stream_bytes(rows_to_arrow([(c, types[c]) for c in column_names], rows))
        except ValueError as e:
            raise SinkWriteError(f"insert into {self.database}.{table}: {e}") from e
        cols = ", ".join(check_identifier(c) for c in column_names)
        sql = f"INSERT INTO {self.database}.{table} ({cols})"
        if self._closed:
            raise SinkWriteError(f"{self!r} is closed")
        with self._shared.lock:
            try:
                with self._shared.session.send_insert(sql, "ArrowStream") as ins:
                    ins.append(data)
                    ins.finish()
            except Exception as e:
                self._types.pop(table, None)
                raise SinkWriteError(
                    f"insert of {len(rows)} rows into {self.database}.{table}: "
                    f"chDB: {_first_line(e)}"
                ) from e

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a statement (without a FORMAT clause) and return converted rows."""
        return result_rows(self._run(render(sql, params), "JSONCompact"))

    def command(self, sql: str) -> None:
        self._run(sql, "CSV")

    def read_only_query(self, sql: str) -> list[Row]:
        """See :meth:`sinks.base.Database.read_only_query`. The statement runs on a second
        connection opened with ``readonly=1`` and bounded time, memory and answer
        (:data:`READER_SETTINGS`), after the engine's own parser has read it:

        1. ``formatQuerySingleLine`` refuses multi-statements and yields the canonical text
           (no comments, heredocs as plain literals): the checks below read that text, and
           it is what runs;
        2. :func:`sinks.sql.read_only_problem` on the canonical text;
        3. no ``INTO OUTFILE``/``FORMAT`` (chDB runs those in this process, outside the
           read-only mode);
        4. ``EXPLAIN AST``: no function that reaches outside the database, table function
           or scalar (:data:`_OUTSIDE_FUNCTIONS`).

        A failed statement closes the read-only connection (it may hold part of an answer)."""
        if self._closed:
            raise SinkWriteError(f"{self!r} is closed")
        with self._shared.lock:
            conn = self._shared.readonly_connection()
            try:
                return self._read_only(conn, sql)
            except BaseException:
                self._shared.drop_readonly_connection()
                raise

    def _read_only(self, conn: Any, sql: str) -> list[Row]:
        try:
            res = conn.query(f"SELECT formatQuerySingleLine({quote_string(sql)})",
                             "JSONCompact")
            canonical = str(result_rows(bytes(res.bytes()))[0][0])
        except Exception as e:
            raise ReadOnlyRefused(f"ClickHouse cannot read this as one statement: "
                                  f"{_engine_message(e)}") from e
        problem = read_only_problem(canonical)
        if problem is not None:
            raise ReadOnlyRefused(f"not run: {problem}")
        clauses = client_side_clauses(canonical)
        if clauses:
            raise ReadOnlyRefused(f"{' and '.join(clauses)} is not allowed here (the "
                                  "result comes back to the caller as rows)")
        try:
            ast = bytes(conn.query(f"EXPLAIN AST {canonical}", "TSVRaw").bytes()).decode()
        except Exception as e:
            raise ReadOnlyRefused(f"ClickHouse cannot explain this statement: "
                                  f"{_engine_message(e)}") from e
        outside = sorted({f for f in _AST_FUNCTION.findall(ast)
                          if f.lower() in _OUTSIDE_FUNCTIONS})
        if outside:
            raise ReadOnlyRefused(f"not run: {', '.join(outside)}() reaches outside the "
                                  "database (files, URLs, other servers)")
        try:
            res = conn.query(canonical, "JSONCompact")
            return result_rows(bytes(res.bytes()) if res is not None else b"")
        except Exception as e:
            msg = _engine_message(e)
            if "(READONLY)" in str(e) or "Code: 164" in str(e):
                raise ReadOnlyRefused(f"refused by ClickHouse's read-only mode: {msg}") from e
            raise SinkWriteError(f"chDB: {msg}") from e

    def stored_body_hashes(
        self, station_ids: Sequence[str], event_ids: Sequence[UUID]
    ) -> dict[UUID, str]:
        """See :meth:`sinks.base.Database.stored_body_hashes`. The ids go as one ArrowStream
        into the session's temporary ``Memory`` table :data:`sinks.read_model.events.IDS_TABLE`, read
        by one SELECT, all under the directory's lock (the table belongs to the session,
        which every handle of the directory shares), and the table is emptied afterwards."""
        # Measured in chDB 26.9 (200k stored rows; 5,000 / 100,000 absent ids): toUUID('…')
        # literals in 2,000-id chunks 188 ms / 3.7 s, '…' literals 37 ms / 0.7 s, an
        # Array(UUID) query parameter 18 ms / 54 s, the Python() table function over an
        # Arrow table 17 ms / 0.15 s (but it finds its data by a variable's name in the
        # caller's frames), this 19 ms / 0.12 s. The ids come back as text and are mapped to
        # the caller's UUIDs: 2.5x cheaper than result_rows() when many are present.
        if not event_ids or not station_ids:
            return {}
        by_text = {str(u): u for u in event_ids}
        ((id_column, id_type),) = IDS_STRUCTURE
        data = arrow_stream_bytes(pa.table({id_column: pa.array(list(by_text), pa.string())}))
        sql = stored_body_hashes_sql(self.database, station_ids, id_as_text=True)
        what = f"lookup of {len(event_ids)} event ids in {self.database}.events"
        if self._closed:
            raise SinkWriteError(f"{self!r} is closed")
        with self._shared.lock:
            sess = self._shared.session
            try:
                sess.query(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {IDS_TABLE} ({id_column} {id_type}) "
                    "ENGINE = Memory", "CSV")
                sess.query(f"TRUNCATE TABLE {IDS_TABLE}", "CSV")
                insert = f"INSERT INTO {IDS_TABLE} ({id_column})"
                with sess.send_insert(insert, "ArrowStream") as ins:
                    ins.append(data)
                    ins.finish()
                res = sess.query(sql, "JSONCompactColumns")
                answer = bytes(res.bytes()) if res is not None else b""
            except Exception as e:
                raise SinkWriteError(f"{what}: chDB: {_first_line(e)}") from e
            finally:
                try:
                    sess.query(f"TRUNCATE TABLE IF EXISTS {IDS_TABLE}", "CSV")
                except Exception:  # emptied again before the next lookup anyway
                    log.debug("could not empty %s", IDS_TABLE, exc_info=True)
        doc = orjson.loads(answer) if answer.strip() else []
        if not doc:
            return {}
        ids, hashes = doc
        return {by_text.get(t) or UUID(t): str(h) for t, h in zip(ids, hashes, strict=True)}

    def server_version(self) -> tuple[int, ...]:
        (version,) = self.query("SELECT version()")[0]
        return tuple(int(p) for p in _VERSION.findall(str(version)))

    def close(self) -> None:
        """Release this handle; the session closes when the last handle of the directory
        in this process is closed (the directory is then free for other processes)."""
        if self._closed:
            return
        self._closed = True
        with _OPEN_LOCK:
            self._shared.users -= 1
            if self._shared.users == 0:
                _OPEN.pop(self.path, None)
                with self._shared.lock:
                    self._shared.close()

