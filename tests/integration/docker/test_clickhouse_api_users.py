"""The query API's ClickHouse users as docker/ ships them (docker/clickhouse/users.d/
blo_api.xml), loaded into a real 18.16 server.

As for Grafana's user (test_clickhouse_grafana_user.py), the file is loaded as it is except
for what 18.16 does not know: the root element ``<clickhouse>`` (18.16 reads ``<yandex>``)
and the profiles' ``<constraints>``. Checked: each password comes from the server's
environment (``from_env``); ``blo_reader`` reads database ``blo`` and the server refuses
it writes, DDL, setting changes and table functions; ``blo_audit`` inserts audit rows
through the door ``blo_audit`` (migration 0006) that land in ``blo.api_audit``, and can
neither read nor write ``blo`` nor run DDL; and `blo api`'s start checks pass for both.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from blo.api.privileges import check_audit_writer, check_reader
from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate
from sinks.tables import API_AUDIT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[3]
USERS_FILE = ROOT / "docker" / "clickhouse" / "users.d" / "blo_api.xml"
PASSWORDS = {"CLICKHOUSE_API_READER_PASSWORD": "reader-pw-from-env",
             "CLICKHOUSE_API_AUDIT_PASSWORD": "audit-pw-from-env"}


def users_file_for_18_16() -> ET.Element:
    root = ET.parse(USERS_FILE).getroot()
    assert root.tag == "clickhouse"
    root.tag = "yandex"
    for profile in root.findall("profiles/*"):
        for constraints in profile.findall("constraints"):
            profile.remove(constraints)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    directory = tmp_path_factory.mktemp("clickhouse-api-users")
    (directory / "users.d").mkdir()  # merged into users.xml by the server
    ET.ElementTree(users_file_for_18_16()).write(directory / "users.d" / "blo_api.xml")
    with pytest.MonkeyPatch.context() as mp:
        for var, value in PASSWORDS.items():  # the server's environment, as compose sets it
            mp.setenv(var, value)
        srv = ClickHouseServer(directory, api_databases=())
        with srv:
            db = ServerDatabase(parse_clickhouse_url(srv.url("blo")), ClickHouseSettings())
            try:
                migrate(db)
            finally:
                db.close()
            yield srv


def url(server: ClickHouseServer, user: str, var: str, database: str) -> str:
    return f"clickhouse://{user}:{PASSWORDS[var]}@{server.host}:{server.tcp_port}/{database}"


def client(server: ClickHouseServer, user: str, var: str) -> Client:
    return Client(server.host, port=server.tcp_port, user=user, password=PASSWORDS[var],
                  database="system")


def refused(c: Client, sql: str) -> int:
    with pytest.raises(DriverError) as e:
        c.execute(sql)
    return int(getattr(e.value, "code", 0) or 0)


def test_the_reader_of_docker_reads_only(server: ClickHouseServer) -> None:
    c = client(server, "blo_reader", "CLICKHOUSE_API_READER_PASSWORD")
    try:
        assert c.execute("SELECT count() FROM blo.api_tokens") == [(0,)]
        assert c.execute("SELECT count() FROM blo.events") == [(0,)]
        assert c.execute("SELECT 1 SETTINGS max_execution_time = 120") == [(1,)]
        for sql in ("INSERT INTO blo.api_tokens (token_id) SELECT 'tok_evil'",
                    "CREATE TABLE blo.x (a UInt8) ENGINE = Memory",
                    "DROP TABLE blo.api_audit",
                    "ALTER TABLE blo.api_audit DELETE WHERE 1",
                    "SET readonly = 0",
                    "SELECT * FROM file('x', 'LineAsString', 's String')",
                    "SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 's String')",
                    "SELECT * FROM remote('127.0.0.1', blo.api_tokens)"):
            assert refused(c, sql) == 164, sql
        assert refused(c, "SELECT count() FROM blo_audit.api_audit") == 291
    finally:
        c.disconnect()
    wrong = Client(server.host, port=server.tcp_port, user="blo_reader", password="guess",
                   database="system")
    try:
        assert refused(wrong, "SELECT 1") in (192, 193, 516)
    finally:
        wrong.disconnect()


def test_the_audit_user_of_docker_writes_only_audit_rows(server: ClickHouseServer) -> None:
    var = "CLICKHOUSE_API_AUDIT_PASSWORD"
    writer = ServerDatabase(parse_clickhouse_url(url(server, "blo_audit", var, "blo_audit")),
                            ClickHouseSettings())
    admin = ServerDatabase(parse_clickhouse_url(server.url("blo")), ClickHouseSettings())
    c = client(server, "blo_audit", var)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        writer.insert("api_audit", API_AUDIT.column_names,
                      [(now, "tok_docker00000", "n", "GET", "/api/v1/health", "", 200, 0, 0.1,
                        "127.0.0.1", "")])
        assert admin.query("SELECT path FROM blo.api_audit WHERE token_id = 'tok_docker00000'"
                           ) == [("/api/v1/health",)]
        for sql in ("SELECT count() FROM blo.api_tokens",
                    "INSERT INTO blo.api_tokens (token_id) SELECT 'tok_evil'"):
            assert refused(c, sql) == 291, sql
        for sql in ("DROP TABLE blo_audit.api_audit_feed",
                    "CREATE TABLE blo_audit.x (a UInt8) ENGINE = Memory",
                    "SET allow_ddl = 1"):
            assert refused(c, sql) == 392, sql
    finally:
        c.disconnect()
        writer.close()
        admin.close()


def test_blo_api_start_checks_accept_the_users_of_docker(server: ClickHouseServer) -> None:
    reader = ServerDatabase(parse_clickhouse_url(
        url(server, "blo_reader", "CLICKHOUSE_API_READER_PASSWORD", "blo")),
        ClickHouseSettings())
    writer = ServerDatabase(parse_clickhouse_url(
        url(server, "blo_audit", "CLICKHOUSE_API_AUDIT_PASSWORD", "blo_audit")),
        ClickHouseSettings())
    try:
        found = check_reader(reader, "BLO_API_CLICKHOUSE_URL", "blo_reader")
        found += check_audit_writer(writer, "BLO_API_AUDIT_CLICKHOUSE_URL", "blo_audit", "blo")
        assert (found.unsafe, found.broken) == ([], [])
    finally:
        reader.close()
        writer.close()
