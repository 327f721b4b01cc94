"""API tokens on the real ClickHouse server: revocation ends an open /live stream,
``access_token`` only on /live, expiry, last use.

The app runs in-process (aiohttp's test server) over a real ``ServerDatabase``; `blo
tokens` runs as the real command against the same database.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.api.scope import Scope
from blo.api.tokens import create_token, last_uses, list_tokens, revoke_token
from blo.settings import load_settings
from sinks.clickhouse import ServerDatabase
from sinks.tables import API_TOKEN_USE, STATIONS
from tests.integration.api.inprocess import InProcessApi, bearer, next_event
from tests.integration.api.processes import api_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

INTERVAL = 1.0  # BLO_API_LIVE_INTERVAL_S of these tests
SLACK = 3.0  # a loaded 2-core machine: query and scheduling time beyond the two intervals
ALL = Scope(all=True)
KZ = Scope(countries=frozenset({"KZ"}))


class Api(InProcessApi):
    """The app over a test database; `blo tokens` as the real command on the same one."""

    def __init__(self, db: ServerDatabase, url: str) -> None:
        super().__init__(db, settings=load_settings(api={"live_interval_s": INTERVAL}))
        self.db, self.url = db, url

    def blo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "blo", "tokens", *args],
                              env=api_env(BLO_CLICKHOUSE_URL=self.url),
                              capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def api(make_clickhouse_db: Any, clickhouse_server: Any) -> Iterator[Api]:
    db = make_clickhouse_db()
    row = ("KZ-KORDAI", datetime(2018, 1, 1, tzinfo=UTC), "Kordai", "KZ", "border_guard",
           "KZ-KORDAI", "KG", "KG-KZ", "", 43.0, 74.7, "Asia/Almaty", "test", 1, 1,
           datetime.now(UTC).replace(microsecond=0))
    db.insert("stations", STATIONS.column_names, [row])
    a = Api(db, clickhouse_server.url(db.database))
    yield a
    assert a.acks == []  # no acknowledgement is sent in these tests
    a.close()


def test_revocation_ends_an_open_live_stream_within_two_intervals(api: Api) -> None:
    token, secret = create_token(api.db, "wall screen", ALL)

    async def body(client: TestClient) -> tuple[float, list[tuple[float, str, Any]], float]:
        resp = await client.get("/api/v1/live", params={"access_token": secret})
        assert resp.status == 200
        buf = bytearray()
        events: list[tuple[float, str, Any]] = []
        first = await next_event(resp, buf)
        assert first is not None and first[0] == "snapshot"
        loop = asyncio.get_running_loop()
        # the real command, while the stream stays open (and is read on)
        revoking = loop.run_in_executor(None, api.blo, "revoke", token.token_id)
        while not revoking.done():
            got = await asyncio.wait_for(next_event(resp, buf), 30)
            assert got is not None, "the stream ended before the revocation"
            events.append((time.monotonic(), *got))
        done = await revoking
        assert done.returncode == 0, done.stderr
        revoked_at = time.monotonic()
        while True:
            got = await asyncio.wait_for(next_event(resp, buf), 30)
            if got is None:
                break
            events.append((time.monotonic(), *got))
        ended_at = time.monotonic()
        return revoked_at, events, ended_at

    revoked_at, events, ended_at = api.run(body)
    assert ended_at - revoked_at <= 2 * INTERVAL + SLACK, (ended_at - revoked_at, events)
    kind, last = events[-1][1], events[-1][2]
    assert kind == "error" and f"token {token.token_id} was revoked" in last["error"]
    snapshots_after = [t - revoked_at for t, k, _ in events if k == "snapshot" and t > revoked_at]
    assert all(dt <= 2 * INTERVAL + SLACK for dt in snapshots_after), snapshots_after
    assert [k for _, k, _ in events].count("error") == 1  # and nothing after it
    # the audit row of the stream says why it ended
    rows = api.db.query(f"SELECT status, detail FROM {api.db.database}.api_audit "
                        "WHERE path = '/api/v1/live'")
    assert [(int(s), str(d).split(":")[0]) for s, d in rows] == [(200, "stream ended")]


def test_an_expiring_token_ends_its_stream_and_is_refused_with_the_date(api: Api) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    _, secret = create_token(api.db, "short visit", ALL, expires_at=expires)
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")

    async def body(client: TestClient) -> tuple[list[str], Any, int, Any]:
        resp = await client.get("/api/v1/live", params={"access_token": secret})
        assert resp.status == 200
        buf, kinds, last = bytearray(), [], None
        while (got := await asyncio.wait_for(next_event(resp, buf), 30)) is not None:
            kinds.append(got[0])
            last = got[1]
        after = await client.get("/api/v1/whoami", headers=bearer(secret))
        return kinds, last, after.status, await after.json()

    kinds, last, status, refused = api.run(body)
    assert kinds[0] == "snapshot" and kinds[-1] == "error" and kinds.count("error") == 1
    assert last == {"error": f"token expired on {stamp}; ask for a new one "
                             "(`blo tokens create`)"}
    assert status == 401 and refused["error"].startswith(f"token expired on {stamp}")


def test_an_expired_token_is_refused_and_a_valid_one_says_when_it_expires(api: Api) -> None:
    long_ago = datetime(2024, 1, 1, tzinfo=UTC)
    _, old = create_token(api.db, "old", ALL, now=long_ago,
                          expires_at=long_ago + timedelta(days=90))
    until = datetime(2030, 5, 1, 12, tzinfo=UTC)
    _, good = create_token(api.db, "good", KZ, expires_at=until)
    _, forever = create_token(api.db, "forever", KZ)

    async def body(client: TestClient) -> list[tuple[int, Any]]:
        out = []
        for secret in (old, good, forever):
            r = await client.get("/api/v1/whoami", headers=bearer(secret))
            out.append((r.status, await r.json()))
        return out

    (s_old, b_old), (s_good, b_good), (s_forever, b_forever) = api.run(body)
    assert (s_old, b_old["error"]) == (401, ("token expired on 2024-03-31T00:00:00Z; ask for "
                                            "a new one (`blo tokens create`)"))
    assert (s_good, b_good["expires_at"]) == (200, "2030-05-01T12:00:00Z")
    assert (s_forever, b_forever["expires_at"]) == (200, None)
    rows = api.db.query(f"SELECT status, detail FROM {api.db.database}.api_audit "
                        "WHERE status = 401")
    assert [str(d) for _, d in rows] == [b_old["error"]]


ENDPOINTS = [("GET", "/api/v1/whoami"), ("GET", "/api/v1/stats"), ("GET", "/api/v1/top"),
             ("GET", "/api/v1/series"), ("GET", "/api/v1/stations"),
             ("GET", "/api/v1/health"), ("GET", "/api/v1/alerts"),
             ("POST", f"/api/v1/alerts/{uuid.uuid4()}/ack")]


def test_access_token_is_accepted_only_on_live(api: Api) -> None:
    _, secret = create_token(api.db, "regional", ALL)

    async def body(client: TestClient) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for method, path in ENDPOINTS:
            # in the URL only, and in the URL beside a good header: both refused
            for headers in ({}, bearer(secret)):
                r = await client.request(method, path, params={"access_token": secret},
                                         headers=headers, json={} if method == "POST" else None)
                out[(path, bool(headers))] = (r.status, await r.json())
            r = await client.request(method, path, headers=bearer(secret),
                                     json={} if method == "POST" else None)
            out[(path, "header")] = r.status
        live = await client.get("/api/v1/live", params={"access_token": secret})
        first = await next_event(live, bytearray())
        live.close()
        out["live"] = (live.status, first[0] if first else None)
        return out

    out = api.run(body)
    for _, path in ENDPOINTS:
        for with_header in (False, True):
            status, answer = out[(path, with_header)]
            assert status == 401, (path, with_header, answer)
            assert answer["error"] == (
                "access_token is accepted only on /api/v1/live (for EventSource); send the "
                "token as 'Authorization: Bearer <token>'"), (path, answer)
        assert out[(path, "header")] in (200, 404), path  # the header alone is accepted
    assert out["live"] == (200, "snapshot")
    text = json.dumps(api.db.query(f"SELECT * FROM {api.db.database}.api_audit"), default=str)
    assert secret not in text, [r for r in text.split("], [") if secret in r]


def test_last_use_is_written_at_most_once_a_minute_and_never_revives_a_token(
        api: Api) -> None:
    used, used_secret = create_token(api.db, "busy", KZ)
    idle, _ = create_token(api.db, "idle", KZ)

    async def body(client: TestClient) -> None:
        for _ in range(5):
            assert (await client.get("/api/v1/whoami", headers=bearer(used_secret))).status \
                == 200

    started = datetime.now(UTC).replace(microsecond=0)
    api.run(body)  # the app's cleanup flushes the uses with the audit log
    rows = api.db.query(f"SELECT token_id, used_at FROM {api.db.database}.api_token_use")
    assert [str(t) for t, _ in rows] == [used.token_id]  # five calls, one row
    assert last_uses(api.db)[used.token_id] >= started
    listed = {t["token_id"]: t for t in json.loads(api.blo("list", "--json").stdout)}
    assert listed[used.token_id]["last_used_at"] is not None
    assert listed[idle.token_id]["last_used_at"] is None
    assert listed[used.token_id]["state"] == "active"
    # a use written after the revocation (an API process that was a step behind) is a row
    # of api_token_use, never a version of the token: the token stays revoked
    revoke_token(api.db, used.token_id)
    api.db.insert("api_token_use", API_TOKEN_USE.column_names,
                  [(used.token_id, datetime.now(UTC).replace(microsecond=0) + timedelta(1))])
    assert [t.revoked for t in list_tokens(api.db) if t.token_id == used.token_id] == [True]

    async def refused(client: TestClient) -> int:
        return (await client.get("/api/v1/whoami", headers=bearer(used_secret))).status

    assert api.run(refused) == 401


def test_tokens_cli_expiry_and_last_use(api: Api) -> None:
    made = api.blo("create", "KZ centre", "--country", "KZ")
    assert made.returncode == 0, made.stderr
    default_until = datetime.now(UTC) + timedelta(days=90)
    assert "expires " in made.stderr
    made2 = api.blo("create", "KZ robot", "--country", "KZ", "--expires", "never")
    assert made2.returncode == 0 and "never expires" in made2.stderr
    made3 = api.blo("create", "KZ audit", "--country", "KZ", "--expires", "2031-02-03")
    assert made3.returncode == 0, made3.stderr
    made4 = api.blo("create", "KZ day", "--country", "KZ", "--expires", "12h")
    assert made4.returncode == 0, made4.stderr
    listed = {t["name"]: t for t in json.loads(api.blo("list", "--json").stdout)}
    got = datetime.fromisoformat(listed["KZ centre"]["expires_at"])
    assert abs((got - default_until).total_seconds()) < 120  # the default: 90 days
    assert listed["KZ robot"]["expires_at"] is None
    assert listed["KZ audit"]["expires_at"] == "2031-02-03T00:00:00Z"
    twelve = datetime.fromisoformat(listed["KZ day"]["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=11) < twelve <= timedelta(hours=12)
    table = api.blo("list").stdout
    assert "expires 2031-02-03T00:00:00Z  last used never  active" in table
    assert "expires never" in table
    for bad, msg in ((("--expires", "2020-01-01"), "not in the future"),
                     (("--expires", "5y"), "give a duration"),
                     (("--expires", "0d"), "not in the future")):
        res = api.blo("create", "x", "--country", "KZ", *bad)
        assert res.returncode == 2 and msg in res.stderr, (bad, res.stderr)
    # an expired token shows as such
    create_token(api.db, "gone", KZ, now=datetime(2024, 1, 1, tzinfo=UTC),
                 expires_at=datetime(2024, 2, 1, tzinfo=UTC))
    listed = {t["name"]: t for t in json.loads(api.blo("list", "--json").stdout)}
    assert listed["gone"]["state"] == "expired"


def test_expiry_last_use_and_revocation_rows_on_both_engines(engine_db: Any) -> None:
    """The token functions' SQL on ClickHouse 18.16 and chDB: expiry kept through a
    revocation, last use as max(used_at), a later use row never reviving the token."""
    from blo.cli.api import token_operation

    until = datetime(2031, 2, 3, tzinfo=UTC)
    t, _ = create_token(engine_db, "both", KZ, expires_at=until)
    uses = [(t.token_id, datetime(2026, 1, 1, 10, tzinfo=UTC)),
            (t.token_id, datetime(2026, 1, 1, 12, tzinfo=UTC)),
            (t.token_id, datetime(2026, 1, 1, 11, tzinfo=UTC))]
    engine_db.insert("api_token_use", API_TOKEN_USE.column_names, uses)
    assert last_uses(engine_db) == {t.token_id: datetime(2026, 1, 1, 12, tzinfo=UTC)}
    revoke_token(engine_db, t.token_id)
    engine_db.insert("api_token_use", API_TOKEN_USE.column_names,
                     [(t.token_id, datetime(2026, 1, 2, tzinfo=UTC))])
    [listed] = token_operation(engine_db, {"op": "list"})
    assert (listed["state"], listed["expires_at"], listed["last_used_at"]) == (
        "revoked", "2031-02-03T00:00:00Z", "2026-01-02T00:00:00Z")
    made = token_operation(engine_db, {"op": "create", "name": "door", "all": True,
                                       "expires": "2h"})
    assert made["expires_at"] is not None and made["token"].startswith("blo_")
