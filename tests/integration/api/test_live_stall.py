"""An open /live stream rides out ClickHouse not answering: it says so (``event:
unavailable``) instead of dying or hanging, and snapshots resume by themselves."""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.localservices.tansu import free_port
from tests.integration.api.processes import api_env, blo_api
from tests.integration.streams.test_clickhouse_stall import _pause

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


class Events:
    """Server-sent events read off one open response, with a deadline per read."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self.conn, self.resp = conn, resp

    def next(self, timeout: float) -> str:
        assert self.conn.sock is not None
        self.conn.sock.settimeout(timeout)
        name = ""
        while True:
            line = self.resp.readline().decode()
            if line.startswith("event: "):
                name = line[7:].strip()
            elif line in ("\n", "\r\n", "") and name:
                return name
            elif line == "":
                raise AssertionError("the stream ended")

    def until(self, wanted: str, timeout: float) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen.append(self.next(max(0.1, deadline - time.monotonic())))
            if seen[-1] == wanted:
                return seen
        raise AssertionError(f"no {wanted} within {timeout} s: {seen}")


def test_a_live_stream_says_clickhouse_is_not_answering_and_resumes(
        fresh_clickhouse_server: Any, make_clickhouse_db: Any, tmp_path: Path) -> None:
    server = fresh_clickhouse_server
    db = make_clickhouse_db(server=server)
    _, secret = create_token(db, "Regional centre", Scope(all=True))
    port = free_port()
    env = api_env(BLO_CLICKHOUSE_URL=server.url(db.database), BLO_API_PORT=str(port),
                  BLO_API_ALLOW_UNSAFE_USERS="true", BLO_API_QUERY_TIMEOUT_S="2",
                  BLO_API_LIVE_INTERVAL_S="1")
    with blo_api(env, tmp_path / "api.log"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stopped = False
        try:
            conn.request("GET", "/api/v1/live", headers={"Authorization": f"Bearer {secret}"})
            resp = conn.getresponse()
            assert resp.status == 200
            events = Events(conn, resp)
            assert events.next(15) == "snapshot"
            _pause(server, signal.SIGSTOP)
            stopped = True
            during = events.until("unavailable", 20)
            assert "error" not in during
            _pause(server, signal.SIGCONT)
            stopped = False
            after = events.until("snapshot", 60)
            assert "error" not in after  # the same stream, never ended
        finally:
            if stopped:
                _pause(server, signal.SIGCONT)
            conn.close()
