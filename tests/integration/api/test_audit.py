"""Everything that reaches `blo api`'s port is in ``api_audit``, requests aiohttp's HTTP
parser refuses included, and no token secret is recorded or logged.

`blo api` runs as the real command against the session's ClickHouse server; requests are
sent as raw bytes over a socket, as an attacker would.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.localservices.tansu import free_port
from tests.integration.api.processes import api_env, blo_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def send(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection; the answer's first bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def test_requests_refused_by_the_http_layer_are_audited_without_secrets(
        make_clickhouse_db: Any, clickhouse_server: Any, tmp_path: Path) -> None:
    db = make_clickhouse_db()
    _, secret = create_token(db, "Regional centre", Scope(all=True))
    port = free_port()
    # one ClickHouse user for reading and auditing: this test is about what gets audited
    env = api_env(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
                  BLO_API_PORT=str(port), BLO_API_ALLOW_UNSAFE_USERS="true")
    log_path = tmp_path / "api.log"
    answers: dict[str, bytes] = {}
    with blo_api(env, log_path, "--log-level", "debug") as proc:
        long_query = (b"GET /api/v1/stats?access_token=" + secret.encode() + b"&group_by="
                      + b"x" * 100_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        answers["line"] = send(port, long_query)
        answers["auth"] = send(port, b"GET /api/v1/whoami HTTP/1.1\r\nHost: a\r\n"
                                     b"Authorization: Bearer " + secret.encode()
                                     + b"z" * 20_000 + b"\r\n\r\n")
        answers["header"] = send(port, b"GET /api/v1/whoami HTTP/1.1\r\nHost: a\r\n"
                                       b"X-Padding: " + b"p" * 20_000 + b"\r\n\r\n")
        answers["tls"] = send(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64)
        answers["nothing"] = send(port, b"GET /wp-login.php?user=admin HTTP/1.1\r\nHost: a\r\n"
                                        b"Connection: close\r\n\r\n")
        answers["dashboard"] = send(port, b"GET / HTTP/1.1\r\nHost: a\r\n"
                                          b"Connection: close\r\n\r\n")
        answers["ok"] = send(port, b"GET /api/v1/whoami HTTP/1.1\r\nHost: a\r\nAuthorization: "
                                   b"Bearer " + secret.encode() + b"\r\nConnection: close\r\n\r\n")
        proc.send_signal(signal.SIGTERM)  # the audit log is flushed at shutdown
        assert proc.wait(30) == 0
    assert all(answers.values()), {k: v[:80] for k, v in answers.items()}
    status = {k: int(v.split(b" ", 2)[1]) for k, v in answers.items()}
    assert status == {"line": 400, "auth": 400, "header": 400, "tls": 400, "nothing": 404,
                      "dashboard": 200, "ok": 200}, answers
    rows = db.query(f"SELECT token_name, method, path, query, status, detail FROM "
                    f"{db.database}.api_audit ORDER BY at")
    got = [(str(n), str(m), str(p), str(q), int(s), str(d)) for n, m, p, q, s, d in rows]
    probes = [r for r in got if r[2] == "/healthz"]  # the wait for the start above
    assert probes and all(r[4] == 200 for r in probes)
    got = [r for r in got if r[2] != "/healthz"]
    assert len(got) == len(answers), got
    refused = [r for r in got if r[4] == 400]
    assert len(refused) == 4, got
    line = [r for r in refused if "request line" in r[5]]
    assert line == [("", "", "/api/v1/stats", line[0][3], 400,
                     "refused by the HTTP layer: request line longer than 8190 bytes")]
    assert line[0][3].startswith("group_by=xxx") and len(line[0][3]) < 200  # truncated
    headers = [r for r in refused if "header" in r[5]]
    assert [r[5] for r in headers] == [("refused by the HTTP layer: a header longer than "
                                       "8190 bytes")] * 2
    assert [r for r in refused if "HTTPS" in r[5]], refused  # not HTTP at all
    assert ("", "GET", "/wp-login.php", "user=admin", 404, "") in got
    assert ("", "GET", "/", "", 200, "") in got
    assert ("Regional centre", "GET", "/api/v1/whoami", "", 200, "") in got
    # the secret was in a refused request line and a refused header: recorded nowhere,
    # logged nowhere (aiohttp's own error log quotes a refused request's first bytes)
    text = json.dumps(got)
    assert secret not in text and secret[:12] not in text
    logged = log_path.read_text()
    assert secret[:12] not in logged, logged
    assert "refused a request from 127.0.0.1 (400)" in logged
