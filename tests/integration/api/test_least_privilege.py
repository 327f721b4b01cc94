"""Least privilege for the API, on a real ClickHouse 18.16 server (docs/deployment.md,
"ClickHouse users").

The server's own refusals are what is checked: the read-only user ``blo_reader`` reads the
BLO tables and the server refuses it every write, DDL, setting change and table function;
the audit user ``blo_audit`` inserts audit rows (through the door of migration 0006) and
the server refuses it everything else of consequence; ``blo api`` run with these two
users (and without the pipeline's credentials) serves a call whose audit row lands in
``blo.api_audit``, and refuses to start with a reader that can write.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from blo.api.privileges import check_audit_writer, check_reader
from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.localservices.clickhouse_server import ClickHouseServer, free_port
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate
from sinks.tables import ALL_TABLES, API_AUDIT
from tests.integration.api.processes import Listener, api_env, blo_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DB = "blo"
READONLY, UNKNOWN_DATABASE, DDL_NOT_ALLOWED = 164, 291, 392  # ClickHouse error codes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    srv = ClickHouseServer(tmp_path_factory.mktemp("least-privilege"), api_databases=(DB,))
    with srv:
        admin = ServerDatabase(parse_clickhouse_url(srv.url(DB)), ClickHouseSettings())
        try:
            migrate(admin)
            admin.command("CREATE DATABASE IF NOT EXISTS other")
            admin.command("CREATE TABLE IF NOT EXISTS other.t (a UInt8) ENGINE = Memory")
        finally:
            admin.close()
        yield srv


def connect(url: str) -> Client:
    t = parse_clickhouse_url(url)
    return Client(t.host, port=t.port, user=t.user, password=t.password.get_secret_value(),
                  database="system")


def refused(c: Client, sql: str) -> int:
    with pytest.raises(DriverError) as e:
        c.execute(sql)
    return int(getattr(e.value, "code", 0) or 0)


def admin_db(server: ClickHouseServer) -> ServerDatabase:
    return ServerDatabase(parse_clickhouse_url(server.url(DB)), ClickHouseSettings())


def test_the_reader_reads_and_the_server_refuses_it_everything_else(
    server: ClickHouseServer, tmp_path: Path,
) -> None:
    c = connect(server.reader_url(DB))
    listener = Listener()
    try:
        for spec in ALL_TABLES:
            assert c.execute(f"SELECT count() FROM {DB}.{spec.name}") == [(0,)], spec.name
        assert c.execute("SELECT value FROM system.settings WHERE name = 'readonly'") == \
            [("1",)]
        # the bound sinks.sql.READ_ONLY_SETTINGS sends: the profile's own value passes
        assert c.execute("SELECT 1 SETTINGS readonly = 1, max_execution_time = 120") == [(1,)]
        for sql in (
            f"INSERT INTO {DB}.api_tokens (token_id) SELECT 'tok_evil'",
            f"INSERT INTO {DB}.api_audit (token_id) SELECT 'forged'",
            f"CREATE TABLE {DB}.x (a UInt8) ENGINE = Memory",
            "CREATE DATABASE x",
            f"DROP TABLE {DB}.api_audit",
            f"TRUNCATE TABLE {DB}.api_audit",
            f"ALTER TABLE {DB}.api_audit DELETE WHERE 1",
            f"ALTER TABLE {DB}.api_audit DROP PARTITION 202601",
            f"ALTER TABLE {DB}.api_tokens ADD COLUMN x UInt8",
            f"RENAME TABLE {DB}.api_audit TO {DB}.gone",
            f"OPTIMIZE TABLE {DB}.api_audit FINAL",
            "SET readonly = 0",
            "SELECT 1 SETTINGS readonly = 0",
            "SELECT 1 SETTINGS max_execution_time = 0",
            "SELECT * FROM file('../../users.xml', 'LineAsString', 's String')",
            f"SELECT * FROM url('http://127.0.0.1:{listener.port}/', 'CSV', 's String')",
            f"SELECT * FROM remote('127.0.0.1:{server.tcp_port}', {DB}.api_tokens)",
            "SELECT * FROM numbers(3)",
            "CREATE TEMPORARY TABLE t (a UInt8)",
        ):
            assert refused(c, sql) == READONLY, sql
        assert not listener.connected(), "url() made a request"
        assert refused(c, "SELECT count() FROM other.t") == UNKNOWN_DATABASE
        assert refused(c, f"SELECT count() FROM {DB}_audit.api_audit") == UNKNOWN_DATABASE
    finally:
        listener.close()
        c.disconnect()
    admin = admin_db(server)
    try:  # nothing was written, nothing changed
        assert admin.query(f"SELECT count() FROM {DB}.api_tokens") == [(0,)]
        assert admin.query(f"SELECT count() FROM {DB}.api_audit") == [(0,)]
        assert admin.query("SELECT count() FROM system.databases WHERE name = 'x'") == [(0,)]
    finally:
        admin.close()


def test_the_audit_user_inserts_audit_rows_and_nothing_else(server: ClickHouseServer) -> None:
    url = server.audit_url(DB)
    writer = ServerDatabase(parse_clickhouse_url(url), ClickHouseSettings())
    admin = admin_db(server)
    c = connect(url)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        assert writer.database == f"{DB}_audit"
        row = (now, "tok_0123456789ab", "KZ centre", "GET", "/api/v1/stats", "country=KZ",
               200, 3, 1.5, "10.0.0.1", "")
        writer.insert("api_audit", API_AUDIT.column_names, [row])
        writer.insert("api_token_use", ("token_id", "used_at"), [("tok_0123456789ab", now)])
        got = admin.query(f"SELECT token_id, path, status, remote FROM {DB}.api_audit "
                          "WHERE token_id = 'tok_0123456789ab'")
        assert got == [("tok_0123456789ab", "/api/v1/stats", 200, "10.0.0.1")]
        assert admin.query(f"SELECT token_id FROM {DB}.api_token_use") == \
            [("tok_0123456789ab",)]
        assert c.execute(f"SELECT count() FROM {DB}_audit.api_audit") == [(0,)]  # Null
        for sql in (  # the BLO database itself: neither read nor written
            f"SELECT count() FROM {DB}.api_tokens",
            f"SELECT count() FROM {DB}.events",
            f"INSERT INTO {DB}.api_tokens (token_id) SELECT 'tok_evil'",
            f"INSERT INTO {DB}.api_audit (token_id) SELECT 'forged'",
            f"SELECT * FROM remote('127.0.0.1:{server.tcp_port}', {DB}.api_tokens)",
            "SELECT count() FROM other.t",
        ):
            assert refused(c, sql) == UNKNOWN_DATABASE, sql
        for sql in (  # no DDL, and no way to turn it back on
            f"CREATE TABLE {DB}_audit.x (a UInt8) ENGINE = Memory",
            "CREATE DATABASE x",
            f"DROP TABLE {DB}_audit.api_audit_feed",
            f"DROP TABLE {DB}_audit.api_audit",
            f"DROP DATABASE {DB}_audit",
            f"TRUNCATE TABLE {DB}_audit.api_audit",
            f"ALTER TABLE {DB}_audit.api_audit ADD COLUMN x UInt8",
            f"RENAME TABLE {DB}_audit.api_audit_feed TO {DB}_audit.gone",
            f"DETACH TABLE {DB}_audit.api_audit_feed",
            "SET allow_ddl = 1",
            "SELECT 1 SETTINGS allow_ddl = 1",
        ):
            assert refused(c, sql) == DDL_NOT_ALLOWED, sql
        assert admin.query(f"SELECT count() FROM {DB}.api_tokens") == [(0,)]
        assert admin.query(f"SELECT name FROM system.tables WHERE database = '{DB}_audit' "
                           "ORDER BY name") == [("api_audit",), ("api_audit_feed",),
                                                ("api_token_use",), ("api_token_use_feed",)]
    finally:
        c.disconnect()
        writer.close()
        admin.close()


def test_the_start_checks_tell_the_users_apart(server: ClickHouseServer) -> None:
    def db(url: str) -> ServerDatabase:
        return ServerDatabase(parse_clickhouse_url(url), ClickHouseSettings())

    reader, audit, admin = db(server.reader_url(DB)), db(server.audit_url(DB)), admin_db(server)
    admin_as_writer = db(server.url(f"{DB}_audit"))
    try:
        ok = check_reader(reader, "R", "blo_reader")
        assert (ok.unsafe, ok.broken) == ([], [])
        ok = check_audit_writer(audit, "A", "blo_audit", DB)
        assert (ok.unsafe, ok.broken) == ([], [])
        bad = check_reader(admin, "BLO_CLICKHOUSE_URL", "default")
        assert bad.broken == [] and len(bad.unsafe) == 1
        assert "readonly = 0" in bad.unsafe[0] and "BLO_CLICKHOUSE_URL" in bad.unsafe[0]
        bad = check_audit_writer(admin_as_writer, "A", "default", DB)
        assert bad.broken == [] and len(bad.unsafe) == 2  # DDL; reads (so writes) blo
        assert any("allow_ddl = 1" in u for u in bad.unsafe)
        assert any("mint a token" in u for u in bad.unsafe)
        bad = check_audit_writer(reader, "A", "blo_reader", DB)  # read-only: cannot insert
        assert bad.unsafe == [] and len(bad.broken) == 1 and "readonly = 1" in bad.broken[0]
        admin.command("CREATE DATABASE IF NOT EXISTS nodoor")
        no_door = db(server.url("nodoor"))
        try:  # a writer pointed at a database without the door
            bad = check_audit_writer(no_door, "A", "default", DB)
            assert "blo db migrate" in bad.broken[0]
        finally:
            no_door.close()
    finally:
        for d in (reader, audit, admin, admin_as_writer):
            d.close()


def _api_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    return api_env(BLO_KAFKA_BOOTSTRAP="127.0.0.1:1", BLO_API_PORT=str(port),
                   BLO_DATA_DIR=str(tmp_path / "data"), **extra)


def _get(url: str, token: str = "") -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                 if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_blo_api_serves_with_the_reader_and_audits_with_the_audit_user(
    server: ClickHouseServer, tmp_path: Path,
) -> None:
    admin = admin_db(server)
    _, secret = create_token(admin, "Least privilege", Scope(all=True))
    port = free_port()
    # no BLO_CLICKHOUSE_URL: the API process never holds the pipeline's credentials
    env = _api_env(tmp_path, port, BLO_API_CLICKHOUSE_URL=server.reader_url(DB),
                   BLO_API_AUDIT_CLICKHOUSE_URL=server.audit_url(DB))
    log_path = tmp_path / "api.log"
    try:
        with blo_api(env, log_path):
            base = f"http://127.0.0.1:{port}"
            assert _get(base + "/api/v1/stations", secret) == 200, log_path.read_text()
            assert _get(base + "/api/v1/stations") == 401

            def audited() -> list[tuple[object, ...]]:
                return admin.query(f"SELECT path, status FROM {DB}.api_audit "
                                   "WHERE path = '/api/v1/stations' ORDER BY status")

            deadline = time.monotonic() + 30
            while len(audited()) < 2:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.3)
            assert audited() == [("/api/v1/stations", 200), ("/api/v1/stations", 401)]
            assert "could not write" not in log_path.read_text()
    finally:
        admin.close()


def _run_api(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blo", "api"], env=env, text=True, check=False,
                          capture_output=True, timeout=60)


def test_blo_api_refuses_a_reader_that_can_write(server: ClickHouseServer,
                                                 tmp_path: Path) -> None:
    port = free_port()
    # the pipeline's user (readonly = 0) as the reader: refused
    got = _run_api(_api_env(tmp_path, port, BLO_CLICKHOUSE_URL=server.url(DB)))
    assert got.returncode == 2, got.stderr
    assert "readonly = 0" in got.stderr and "BLO_API_CLICKHOUSE_URL" in got.stderr
    assert "BLO_API_ALLOW_UNSAFE_USERS" in got.stderr
    # a read-only reader but no audit writer while the audit is on: refused
    got = _run_api(_api_env(tmp_path, port, BLO_API_CLICKHOUSE_URL=server.reader_url(DB)))
    assert got.returncode == 2 and "BLO_API_AUDIT_CLICKHOUSE_URL" in got.stderr, got.stderr
    # the writer given as the audit user: it can read (so write) blo and run DDL
    got = _run_api(_api_env(tmp_path, port, BLO_API_CLICKHOUSE_URL=server.reader_url(DB),
                            BLO_API_AUDIT_CLICKHOUSE_URL=server.url(f"{DB}_audit")))
    assert got.returncode == 2, got.stderr
    assert "allow_ddl = 1" in got.stderr and "mint a token" in got.stderr
    for secret in ("reader-only-here", "audit-only-here"):
        assert secret not in got.stderr + got.stdout
