"""A hostile-request corpus against the query API as it really runs: `blo api` on the
ClickHouse 18.16 server, and the embedded worker's API on chDB. With a KZ token: SQL
fragments in every parameter, path tricks, NUL and look-alike letters, a token in the URL,
oversize requests. None answers 5xx or anything outside the token's scope; no file is
read or written, no request leaves the machine, nothing is dropped; and every attempt is
a row of ``api_audit``."""

from __future__ import annotations

import http.client
import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.localservices.tansu import TansuBroker, free_port
from sinks.tables import STATIONS
from tests.integration.api.processes import Listener, api_env, blo_api
from tests.integration.api.test_api import _station_rows
from tests.integration.api.test_embedded_door import Door
from tests.integration.sinks.test_read_only_engine import SECRET
from tests.integration.streams.harness import TEST_STATIONS, Pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@dataclass
class Target:
    kind: str
    port: int
    kz_token: str
    all_token: str
    foreign: tuple[str, ...]  # station ids a KZ token must never see
    audit_rows: Callable[[], int]
    exists: Callable[[str], bool]


@pytest.fixture(params=["server", "embedded"])
def target(request: pytest.FixtureRequest, kafka_broker: TansuBroker,
           tmp_path: Path) -> Iterator[Target]:
    port = free_port()
    if request.param == "server":
        clickhouse_server = request.getfixturevalue("clickhouse_server")
        db = request.getfixturevalue("make_clickhouse_db")()
        db.insert("stations", STATIONS.column_names, _station_rows())
        kz = create_token(db, "KZ centre", Scope(countries=frozenset({"KZ"})))[1]
        everything = create_token(db, "Regional centre", Scope(all=True))[1]
        env = api_env(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
                      BLO_API_PORT=str(port), BLO_API_ALLOW_UNSAFE_USERS="true",
                      BLO_KAFKA_BOOTSTRAP=kafka_broker.bootstrap)
        with blo_api(env, tmp_path / "api.log"):
            yield Target(
                "server", port, kz, everything, ("TJ-PYANJ", "KG-AK-JOL", "AF-SHERKHAN"),
                lambda: int(db.query(f"SELECT count() FROM {db.database}.api_audit")[0][0]),
                lambda t: bool(db.query(f"EXISTS TABLE {db.database}.{t}")[0][0]))
        return
    chdb_dir = tmp_path / "chdb"
    p = Pipeline(kafka_broker.bootstrap, f"chdb://{chdb_dir}", "blo", tmp_path)
    p.create_topics()
    p.load_stations(TEST_STATIONS)
    w = p.worker(BLO_API_PORT=str(port))
    try:
        w.wait_ready()
        door = Door(p, w, chdb_dir)

        def token(*args: str) -> str:
            out = p.blo("tokens", "create", *args)
            assert out.returncode == 0, out.stderr
            return re.findall(r"blo_[A-Za-z0-9_\-]{43}", out.stdout)[0]

        yield Target(
            "embedded", port, token("KZ centre", "--country", "KZ"),
            token("Regional centre", "--all"), ("TJ-T1", "KG-T1", "UZ-T1"),
            lambda: int(door.rows("SELECT count() FROM blo.api_audit WHERE "
                                  "path NOT LIKE '/api/query'")[0][0]),
            lambda t: door.rows(f"EXISTS TABLE blo.{t}") == [[1]])
    finally:
        p.kill_workers()


def _raw(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return 400, b""  # the HTTP layer refused and closed
    finally:
        conn.close()


def test_hostile_requests_are_refused_and_audited(target: Target, tmp_path: Path) -> None:
    listener = Listener()
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    victim = tmp_path / "victim.txt"
    q = urllib.request.quote
    sql_bits = [
        "KZ-T1' OR '1'='1",
        "KZ') OR 1=1 --",
        f"x') UNION ALL SELECT * FROM file('{secret_file}','LineAsString') --",
        "x' SETTINGS readonly=0 --",
        f"x' INTO OUTFILE '{victim}' --",
        f"x') FROM url('http://127.0.0.1:{listener.port}/','CSV','s String') --",
        "x'; DROP TABLE events --",
        "x\\'/**/OR/**/1=1",
    ]
    paths: list[tuple[str, str, dict[str, str]]] = []
    kz = {"Authorization": f"Bearer {target.kz_token}"}
    for bit in sql_bits:
        for param in ("station", "country", "border", "event_type", "drug", "group_by",
                      "window", "from", "to", "stat"):
            paths.append(("GET", f"/api/v1/stats?{param}={q(bit)}", kz))
        paths.append(("GET", f"/api/v1/top?stat={q(bit)}", kz))
        paths.append(("GET", f"/api/v1/series?stat={q(bit)}&window={q(bit)}", kz))
        paths.append(("GET", f"/api/v1/alerts?limit={q(bit)}", kz))
    paths += [
        ("GET", "/api/v1/stats?station=" + target.foreign[0], kz),
        ("GET", "/api/v1/stats?country=TJ", kz),
        ("GET", "/api/v1/stats?country=KZ&country=TJ&group_by=station", kz),
        ("GET", "/api/v1/stats?country=KZ%00TJ", kz),
        ("GET", "/api/v1/stats?country=%D0%A2J", kz),  # Cyrillic Т
        ("GET", "/api/v1/stats?group_by=" + "station," * 500, kz),
        ("GET", "/api/v1/stats?window=" + "%F0%9F%92%A3" * 50, kz),
        ("GET", "/api/v1/../../etc/passwd", kz),
        ("GET", "/static/..%2f..%2fapp.py", kz),
        ("GET", "/static/%2e%2e/%2e%2e/settings.py", kz),
        ("GET", "/api/v1/stations/..%2f..%2fapi_tokens", kz),
        ("POST", "/api/v1/alerts/..%2f..%2fwhoami/ack", kz),
        ("POST", "/api/v1/alerts/00000000-0000-0000-0000-000000000000'%20OR%201=1/ack", kz),
        ("GET", "/api/v1/whoami?access_token=" + target.all_token, {}),
        ("GET", "/api/v1/stats?country=TJ", {"Authorization": "Bearer blo_" + "A" * 43}),
        ("GET", "/api/v1/stats?country=TJ", {"Authorization": "Basic YWRtaW46YWRtaW4="}),
        ("GET", "/api/v1/stats?country=TJ", {}),
        ("GET", "/api/v1/stats?x=" + "y" * 100_000, kz),
        ("GET", "/api/v1/stats", {**kz, "X-Pad": "p" * 20_000}),
    ]
    before = target.audit_rows()
    answers = []
    try:
        for method, path, headers in paths:
            status, body = _raw(target.port, method, path, headers)
            answers.append((method, path[:120], status, body[:300]))
    finally:
        listener.close()
    # the tricks reached the API's own checks (the token was good): 400s and 403s
    by_status: dict[int, int] = {}
    for a in answers:
        by_status[a[2]] = by_status.get(a[2], 0) + 1
    assert by_status.get(400, 0) >= len(sql_bits) * 10 and by_status.get(403, 0) >= 2, by_status
    # nothing answered with a server error, and nothing outside KZ came back
    assert not [a for a in answers if a[2] >= 500], [a for a in answers if a[2] >= 500]
    allowed = [a for a in answers if a[2] == 200]
    for _, path, _, body in allowed:
        text = body.decode(errors="replace")
        assert not any(s in text for s in target.foreign), (path, text)
        assert SECRET not in text and "PATH=" not in text
    assert len(allowed) <= 2, allowed  # at most the duplicate-country case, scoped to KZ
    for a in answers:
        if "access_token" in a[1] or "Basic" in a[1]:
            assert a[2] == 401, a
    # no side effects anywhere
    assert listener.accepted == 0
    assert not victim.exists()
    assert target.exists("events") and target.exists("api_tokens")
    # every attempt is a row of api_audit
    wait_for(lambda: target.audit_rows() - before >= len(paths), 60,
             f"{len(paths)} audit rows")
