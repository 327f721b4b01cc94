"""The embedded worker's admin door: how ``blo query``, ``blo stats``, ``blo dlq list`` and
``blo tokens`` reach the data while a worker holds the chDB directory.

chDB lets one process open a data directory, so in embedded mode these commands cannot open
it themselves while the worker runs; they ask the worker instead, on its HTTP port
(``BLO_WEB_HOST:BLO_WEB_PORT``):

* ``POST /api/query`` — body ``{"sql": "SELECT …"}``: one statement, run in the engine's own
  read-only mode (:meth:`sinks.base.Database.read_only_query`) → ``{"rows": [[…], …]}``;
* ``POST /api/tokens`` — body ``{"op": "create"|"list"|"revoke", …}``
  (:func:`blo.cli.api.token_operation`);
* ``POST /api/imports`` — body one piece of an import run's record
  (:class:`blo.importer.runs.RecordBody`), written by ``blo import-csv``
  (:func:`blo.importer.runs.insert_record`).

All need the **admin key**: 256 random bits the worker writes when it starts to
``<chDB directory>/blo-admin.key``, created with mode 0600, so only the OS user running the
worker (and root) can read it. Requests carry it in the ``X-BLO-Admin-Key`` header; the CLI
reads the file itself (:func:`call`), so a user who may read the data directory notices
nothing, and anyone else — another local user, a browser page, a host on the network when
``BLO_WEB_HOST`` is not loopback — gets 401 and runs nothing. The key is replaced at every
start and removed at a clean stop. Every request, refused ones included, is a row of
``api_audit`` (``token_id`` ``admin``, or empty when the key was missing or wrong; the SQL
text or token operation in ``query``; never the key). The query API and dashboard
(``BLO_API_PORT``) are not this door: they take API tokens, as ``blo api`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http.client
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blo.settings import ClickHouseTarget, Settings
from sinks.base import Database, ReadOnlyRefused, Row, SinkError
from sinks.sql import read_only_problem

log = logging.getLogger("blo.door")

KEY_FILE = "blo-admin.key"
HEADER = "X-BLO-Admin-Key"
ADMIN_ID = "admin"
MAX_BODY_BYTES = 1 << 20
"""A statement or token operation larger than 1 MiB is refused (413) unread."""


class DoorError(Exception):
    """The door refused the call, or its key cannot be read; the message says why."""


def key_path(target: ClickHouseTarget) -> Path:
    """Where the worker holding ``target``'s chDB directory keeps its admin key."""
    if target.kind != "chdb" or target.path is None:
        raise ValueError("the admin door exists only in embedded (chdb://) mode")
    return Path(target.path).resolve() / KEY_FILE


def write_key(path: Path, port: int) -> str:
    """A new key at ``path``, mode 0600 from the moment the file exists (never readable by
    others, even briefly), replacing any earlier one atomically. The file's lines: the key,
    this process's PID, the port the door listens on (what :func:`call` checks before it
    sends the key anywhere)."""
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, f"{key}\n{os.getpid()}\n{port}\n".encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return key


def remove_key(path: Path, key: str) -> None:
    """Remove the key file if it still holds ``key`` (a newer worker may have replaced it)."""
    try:
        if path.read_text().split("\n", 1)[0] == key:
            path.unlink()
    except OSError:
        pass


@dataclass(frozen=True)
class KeyFile:
    key: str
    pid: int
    port: int


def read_key(target: ClickHouseTarget) -> KeyFile | None:
    """The running worker's key file, or None when no worker has written one (none runs, or
    it stopped cleanly). :class:`DoorError` when the file exists but this OS user may not
    read it."""
    path = key_path(target)
    try:
        lines = path.read_text().split("\n")
    except FileNotFoundError:
        return None
    except PermissionError:
        raise DoorError(
            f"the worker's admin key {path} is not readable by this OS user: the worker "
            "holding this chDB directory runs as another user; run this command as that "
            "user (or stop the worker to open the directory directly)") from None
    try:
        return KeyFile(lines[0], int(lines[1]), int(lines[2]))
    except (IndexError, ValueError):
        raise DoorError(f"{path} is not a key file written by `blo worker`: remove it if no "
                        "worker runs") from None


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on ``port`` in this network namespace."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                found.add(f[9])
    return found


def holds_port(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on ``port``: True, False, or None
    where this system cannot tell (no ``/proc``)."""
    if not Path("/proc/net/tcp").exists():
        return None
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port)}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    except PermissionError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def call(settings: Settings, endpoint: str, body: dict[str, Any],
         timeout: float = 30.0) -> Any | None:
    """POST ``body`` to the running worker's door (``endpoint``: ``query``, ``tokens``,
    ``imports``)
    and return the decoded answer; None when no worker holds the directory (no key file, or
    nothing listening: a worker that died). :class:`DoorError` with the worker's message
    when it refuses."""
    target = settings.clickhouse.target()
    kf = read_key(target)
    if kf is None:
        return None
    # the key goes only to the worker that wrote it: after a crash the file stays, and any
    # local user may have taken the port since
    if not _alive(kf.pid):
        with contextlib.suppress(OSError):
            key_path(target).unlink()  # a crashed worker's: nobody holds the directory
        return None
    if kf.port != settings.web.port:
        raise DoorError(f"the worker holding {target.path} serves its door on port {kf.port}, "
                        f"not BLO_WEB_PORT={settings.web.port}: set BLO_WEB_PORT={kf.port}")
    if holds_port(kf.pid, kf.port) is False:
        raise DoorError(f"port {kf.port} is not held by the worker (PID {kf.pid}) that wrote "
                        f"{key_path(target)}: the key was not sent; is the worker still "
                        "starting?")
    key = kf.key
    host = settings.web.host if settings.web.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    conn = http.client.HTTPConnection(host, settings.web.port, timeout=timeout)
    try:
        conn.request("POST", f"/api/{endpoint}", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", HEADER: key})
        resp = conn.getresponse()
        raw = resp.read()
    except TimeoutError:
        raise DoorError(f"the worker (PID {kf.pid}) did not answer within {timeout:g} s "
                        "(a long statement, or the worker is stuck)") from None
    except (ConnectionError, OSError):
        return None
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"error": raw[:200].decode(errors="replace")}
    if resp.status != 200:
        msg = (answer.get("error", f"HTTP {resp.status}") if isinstance(answer, dict)
               else f"HTTP {resp.status}")
        if resp.status == 401:
            msg = (f"{msg} (the worker on port {settings.web.port} does not hold "
                   f"{target.path}: check BLO_WEB_PORT)")
        raise DoorError(str(msg))
    return answer


AuditInsert = Callable[[Sequence[Row]], Awaitable[None]]


class Door:
    """The endpoints and their checks, independent of the web framework: ``handle``
    takes the path, the headers' key, the body and the caller's address and returns
    ``(status, answer)``. The key compares in constant time."""

    def __init__(self, db: Database, key: str, audit: AuditInsert | None,
                 tokens: Callable[[Database, dict[str, Any]], Any],
                 imports: Callable[[Database, dict[str, Any]], Any] | None = None) -> None:
        self.db, self.key, self.audit, self.tokens = db, key, audit, tokens
        self.imports = imports
        self._refused = 0
        self._refusal_logged_at = -1e9

    def _authorised(self, given: str | None) -> bool:
        # header values arrive as latin-1/surrogate-escaped text: compare bytes, never fail
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self.key.encode())

    async def handle(self, endpoint: str, given_key: str | None, body: bytes,
                     remote: str) -> tuple[int, Any]:
        started = time.monotonic()
        ok = False
        status, answer, what, rows, detail = 500, {"error": "internal error"}, "", 0, ""
        try:
            ok = self._authorised(given_key)
            if not ok:
                status, detail = 401, "no or wrong admin key"
                answer = {"error": "the admin key is required (header X-BLO-Admin-Key, from "
                                   f"{KEY_FILE} in the chDB directory, readable only by the OS "
                                   "user running the worker)"}
                self._log_refusal(remote)
                return status, answer
            if len(body) > MAX_BODY_BYTES:
                status, detail = 413, "body over 1 MiB"
                return status, {"error": "the request body is over 1 MiB"}
            try:
                doc = json.loads(body) if body.strip() else {}
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                status, detail = 400, "body is not a JSON object"
                return status, {"error": "the body must be a JSON object"}
            loop = asyncio.get_running_loop()
            if endpoint == "query":
                sql = doc.get("sql")
                what = str(sql)[:2000]
                if not isinstance(sql, str) or not sql.strip():
                    status, detail = 400, "no sql"
                    return status, {"error": 'the body must be {"sql": "SELECT …"}'}
                problem = read_only_problem(sql)
                if problem is not None:
                    status, detail = 403, problem
                    return status, {"error": f"not run: {problem}"}
                try:
                    got = await loop.run_in_executor(None, self.db.read_only_query, sql)
                except ReadOnlyRefused as e:
                    status, detail = 403, str(e)[:500]
                    return status, {"error": str(e)}
                except SinkError as e:
                    status, detail = 400, str(e)[:500]
                    return status, {"error": str(e).splitlines()[0][:500]}
                rows = len(got)
                status = 200
                return status, {"rows": [[_jsonable(v) for v in r] for r in got]}
            if endpoint == "tokens":
                what = json.dumps({k: v for k, v in doc.items() if k != "token"})[:2000]
                from blo.api.tokens import TokenError

                try:
                    got = await loop.run_in_executor(None, self.tokens, self.db, doc)
                except TokenError as e:
                    status, detail = 400, str(e)[:500]
                    return status, {"error": str(e)}
                status = 200
                rows = len(got) if isinstance(got, list) else 1
                return status, got
            if endpoint == "imports" and self.imports is not None:
                what = f"import run {str(doc.get('run_id'))[:40]}"
                try:
                    stored = await loop.run_in_executor(None, self.imports, self.db, doc)
                except ValueError as e:  # a malformed record (pydantic's ValidationError)
                    status, detail = 400, str(e)[:500]
                    return status, {"error": str(e)[:500]}
                except SinkError as e:
                    status, detail = 503, str(e)[:500]
                    return status, {"error": str(e).splitlines()[0][:500]}
                status = 200
                rows = int(stored.get("rejections", 0)) + int(bool(stored.get("run")))
                return status, stored
            status, detail = 404, "no such endpoint"
            return status, {"error": f"no endpoint /api/{endpoint}"}
        finally:
            await self._record(endpoint, ok, what, status, rows, started, remote, detail)

    def _log_refusal(self, remote: str) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged_at >= 60:
            log.warning("admin door: refused %d request(s) without the admin key (latest "
                        "from %s) in the last minute", self._refused, remote or "?")
            self._refused, self._refusal_logged_at = 0, now

    async def _record(self, endpoint: str, ok: bool, what: str, status: int, rows: int,
                      started: float, remote: str, detail: str) -> None:
        if self.audit is None:
            return
        row = (datetime.now(UTC).replace(microsecond=0), ADMIN_ID if ok else "",
               "admin key" if ok else "", "POST", f"/api/{endpoint}", what, status, rows,
               round((time.monotonic() - started) * 1000, 3), remote, detail)
        try:
            await self.audit([row])
        except Exception:  # the answer still goes out; the log says why
            log.exception("admin door: could not record the audit row")


def _jsonable(v: Any) -> Any:
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return str(v)


def register(app: Any, door: Door) -> None:
    """The door's endpoints on the Faust app's web server."""
    import faust

    async def serve(view: Any, request: Any, endpoint: str) -> Any:
        body = b""
        while len(body) <= MAX_BODY_BYTES:  # the whole body, up to one byte over the limit
            chunk = await request.content.read(MAX_BODY_BYTES + 1 - len(body))
            if not chunk:
                break
            body += chunk
        status, answer = await door.handle(endpoint, request.headers.get(HEADER), body,
                                           request.remote or "")
        return view.json(answer, status=status)

    @app.page("/api/query")
    class Query(faust.web.View):
        async def post(self, request: Any) -> Any:
            return await serve(self, request, "query")

    @app.page("/api/tokens")
    class Tokens(faust.web.View):
        async def post(self, request: Any) -> Any:
            return await serve(self, request, "tokens")

    @app.page("/api/imports")
    class Imports(faust.web.View):
        async def post(self, request: Any) -> Any:
            return await serve(self, request, "imports")
