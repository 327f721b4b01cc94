"""The embedded worker's admin door (blo/door.py), against a real worker on chDB: nothing runs
without the key only the worker's OS user can read; with it, SQL still runs in the engine's
read-only mode; every attempt is audited; the CLI finds the key by itself."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blo.door import HEADER, KEY_FILE
from blo.localservices.tansu import TansuBroker, free_port
from tests.integration.api.processes import Listener
from tests.integration.sinks.test_read_only_engine import SECRET
from tests.integration.streams.harness import (
    REPO,
    TEST_STATIONS,
    Pipeline,
    WorkerProc,
    crossing,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


class Door:
    def __init__(self, p: Pipeline, w: WorkerProc, chdb_dir: Path) -> None:
        self.p, self.w, self.dir = p, w, chdb_dir
        self.key_file = chdb_dir / KEY_FILE

    def key(self) -> str:
        return self.key_file.read_text().split("\n")[0]

    def post(self, endpoint: str, body: Any, key: str | None = None,
             raw: bytes | None = None, url_suffix: str = "") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers[HEADER] = key
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.w.base}/api/{endpoint}{url_suffix}", data=data,
                                     headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def rows(self, sql: str) -> list[list[Any]]:
        status, got = self.post("query", {"sql": sql}, self.key())
        assert status == 200, got
        return list(got["rows"])


@pytest.fixture(scope="module")
def door(kafka_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Door]:
    # a directory others may enter, holding a chDB directory created open (0755), as a
    # user's umask would make it: the worker must close it
    tmp = Path(tempfile.mkdtemp(prefix="blo-door-"))
    os.chmod(tmp, 0o755)
    chdb_dir = tmp / "chdb"
    chdb_dir.mkdir()
    os.chmod(chdb_dir, 0o755)
    p = Pipeline(kafka_broker.bootstrap, f"chdb://{chdb_dir}", "blo", tmp)
    p.create_topics()
    p.load_stations(TEST_STATIONS)
    w = p.worker(BLO_API_PORT=str(free_port()))  # the embedded API: not this test's subject
    try:
        w.wait_ready()
        yield Door(p, w, chdb_dir)
    finally:
        p.kill_workers()
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_key_is_readable_by_the_workers_user_only(door: Door) -> None:
    mode = stat.S_IMODE(door.key_file.stat().st_mode)
    assert mode == 0o600
    # and so is everything beside it: the database and BLO_DATA_DIR
    assert stat.S_IMODE(door.dir.stat().st_mode) == 0o700
    assert len(door.key()) >= 40  # 256 random bits, URL-safe base64


def test_no_key_no_token_and_no_sql(door: Door) -> None:
    name = f"intruder {time.monotonic_ns() % 10**6}"
    for key in (None, "", "wrong-key", door.key()[:-1], door.key() + "x"):
        status, got = door.post("tokens", {"op": "create", "name": name, "all": True}, key)
        assert status == 401, got
        assert "token" not in got and "admin key" in got["error"]
        status, got = door.post("query", {"sql": "SELECT name FROM blo.api_tokens"}, key)
        assert status == 401 and "rows" not in got
    # the key in the query string or as a bearer token is not the key
    status, _ = door.post("tokens", {"op": "list"}, url_suffix=f"?key={door.key()}")
    assert status == 401
    # nothing was minted under that name
    status, listed = door.post("tokens", {"op": "list"}, door.key())
    assert status == 200 and all(t["name"] != name for t in listed)
    # and each refusal is in the audit, without the key
    wait_for(lambda: door.rows(
        "SELECT count() FROM blo.api_audit WHERE status = 401 AND token_id = ''")[0][0] >= 11,
        30, "the refusals in api_audit")
    dumped = json.dumps(door.rows("SELECT * FROM blo.api_audit"))
    assert door.key() not in dumped


def test_a_key_header_that_is_not_utf8_is_a_401_and_audited(door: Door) -> None:
    import socket

    before = door.rows("SELECT count() FROM blo.api_audit WHERE status = 401")[0][0]
    with socket.create_connection(("127.0.0.1", door.p.web_port), timeout=10) as s:
        s.sendall(b"POST /api/query HTTP/1.1\r\nHost: x\r\nX-BLO-Admin-Key: \xff\xfe\r\n"
                  b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.split(b" ", 2)[1] == b"401", answer[:200]
    wait_for(lambda: door.rows("SELECT count() FROM blo.api_audit WHERE status = 401")[0][0]
             > before, 30, "the refusal in api_audit")


def test_the_key_goes_to_no_one_but_the_worker_that_wrote_it(door: Door, tmp_path: Path
                                                              ) -> None:
    """A key file naming a live process that does not hold the port (as after a crash and
    another local user taking the port): the CLI refuses to send the key."""
    import http.server
    import threading

    seen: list[str] = []

    class Impostor(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(str(self.headers.get(HEADER)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    other = tmp_path / "other-chdb"
    other.mkdir()
    srv = http.server.HTTPServer(("127.0.0.1", 0), Impostor)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    # written as a worker would, but the PID is this test's (alive, its port is not this one)
    (other / KEY_FILE).write_text(f"stolen-key\n{os.getppid()}\n{port}\n")
    try:
        out = door.p.blo("tokens", "list", BLO_CLICKHOUSE_URL=f"chdb://{other}",
                         BLO_WEB_PORT=str(port))
    finally:
        srv.shutdown()
        srv.server_close()
    assert out.returncode == 2, out
    assert "the key was not sent" in out.stderr
    assert seen == []
    # a key file whose worker is gone is removed, and the directory is opened directly
    (other / KEY_FILE).write_text(f"stolen-key\n{2**22 + 12345}\n{port}\n")
    out = door.p.blo("query", "SELECT 1", BLO_CLICKHOUSE_URL=f"chdb://{other}",
                     BLO_WEB_PORT=str(port))
    assert out.returncode == 0, out.stderr
    assert not (other / KEY_FILE).exists()


def test_hostile_sql_through_the_door_is_refused_and_audited(door: Door, tmp_path: Path) -> None:
    listener = Listener()
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    victim = tmp_path / "victim.txt"
    marker = f"h{time.monotonic_ns()}"
    corpus = [
        f"SELECT * FROM file/**/('{secret_file}','LineAsString')",
        "SELECT * FROM file('/proc/self/environ','LineAsString')",
        f"SELECT 'x' INTO/**/OUTFILE '{victim}' APPEND FORMAT TSVRaw",
        f"SELECT * FROM url/**/('http://127.0.0.1:{listener.port}/','CSV')",
        f"SELECT * FROM remote('127.0.0.1:{listener.port}', system.one)",
        "SELECT 1; DROP TABLE blo.events",
        "SELECT count() FROM blo.events SETTINGS readonly=0",
        "SET readonly = 0",
        "SELECT query FROM system.processes",
        "SELECT * FROM `system`.`query_log`",
        "SHOW GRANTS",
        "SELECT 1\x00; DROP TABLE blo.events",
        f"SELECT * FROM fіle('{secret_file}','LineAsString')",  # Cyrillic і
        "SELECT " + "(" * 2000 + "1" + ")" * 2000,
        "INSERT INTO blo.api_tokens (token_id) VALUES ('tok_000000000000')",
        "CREATE TABLE blo.pwned (x UInt8) ENGINE = Memory",
    ]
    try:
        for sql in corpus:
            status, got = door.post("query", {"sql": f"{sql} -- {marker}"}, door.key())
            assert status in (400, 403), (sql[:80], status, got)
            assert "rows" not in got
            assert SECRET not in json.dumps(got) and "PATH=" not in json.dumps(got)
        status, got = door.post("query", None, door.key(),
                                raw=json.dumps({"sql": "SELECT '" + "x" * (2 << 20) + "'"})
                                .encode())
        assert status == 413
    finally:
        listener.close()
    assert not victim.exists()
    assert listener.accepted == 0
    assert door.rows("EXISTS TABLE blo.pwned") == [[0]]
    assert door.rows("EXISTS TABLE blo.events") == [[1]]
    assert door.rows("SELECT count() FROM blo.api_tokens WHERE token_id = "
                     "'tok_000000000000'") == [[0]]
    # every attempt is in the audit, with why it was refused
    def audited() -> list[list[Any]]:
        # (the marker is in these reads' own SQL too: they are the 200s)
        return door.rows(f"SELECT status, detail FROM blo.api_audit WHERE position(query, "
                         f"'{marker}') > 0 AND status != 200")
    # (the NUL case cannot be matched by its text and the bracket case is 2000 deep: both
    # are counted by their own reason)
    wait_for(lambda: len(audited()) >= len(corpus) - 2, 30, "the attempts in api_audit")
    assert all(int(s) in (400, 403) and d for s, d in audited())
    reasons = {d for _, d in door.rows("SELECT status, detail FROM blo.api_audit "
                                       "WHERE path = '/api/query' AND status != 200")}
    assert any("NUL" in r for r in reasons) and any("deep" in r for r in reasons)


def test_the_cli_uses_the_key_without_being_asked(door: Door) -> None:
    events = [crossing("KZ-T1", i) for i in range(5)]
    door.p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    wait_for(lambda: door.rows("SELECT count() FROM blo.events FINAL")[0][0] >= 5, 60,
             "the events")
    out = door.p.blo("query", "SELECT count() FROM blo.events FINAL")
    assert out.returncode == 0, out.stderr
    assert "5" in out.stdout
    out = door.p.blo("tokens", "create", "KZ centre", "--country", "KZ")
    assert out.returncode == 0, out.stderr
    out = door.p.blo("tokens", "list")
    assert out.returncode == 0 and "KZ centre" in out.stdout
    out = door.p.blo("query", "SELECT * FROM file/**/('/etc/hostname','LineAsString')")
    assert out.returncode != 0 and "not allowed" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None,
                    reason="needs root to run the CLI as another OS user")
def test_another_os_user_cannot_use_the_door(door: Door) -> None:
    env = door.p.env(BLO_CLICKHOUSE_URL=f"chdb://{door.dir}")
    env["HOME"] = "/tmp"
    out = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-m", "blo",
                          "query", "SELECT count() FROM blo.api_tokens"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0
    assert "api_tokens" not in out.stdout and out.stdout.strip() == ""
    # nor read the database files themselves (the directory is 0700)
    ls = subprocess.run(["runuser", "-u", "nobody", "--", "ls", str(door.dir)], cwd="/",
                        capture_output=True, text=True, timeout=60, check=False)
    assert ls.returncode != 0 and "Permission denied" in ls.stderr


def test_a_clean_stop_removes_the_key(door: Door) -> None:
    assert door.key_file.exists()
    assert door.w.terminate() == 0
    assert not door.key_file.exists()
