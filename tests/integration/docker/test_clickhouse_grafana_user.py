"""The read-only ClickHouse user of Grafana (docker/clickhouse/users.d/grafana.xml) on a real
server, and every dashboard query run as that user.

Production runs a current ClickHouse (25.8 in compose); the server here is 18.16. The file is
loaded as it is except for what 18.16 does not know, each named here: the root element
``<clickhouse>`` (18.16 reads ``<yandex>``) and the profile's ``<constraints>`` (19.14+;
they let the plugin's client set ``max_execution_time`` under ``readonly = 1``, which 18.16
therefore refuses, as shown below). What is checked: the password comes from the server's
environment (``from_env``), the user can read database ``blo`` and nothing else, cannot
write, and can run every ClickHouse query of the dashboards.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate
from tests.integration.docker.test_grafana_queries import ALL, expand, load_dashboards

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[3]
USERS_FILE = ROOT / "docker" / "clickhouse" / "users.d" / "grafana.xml"
PASSWORD_VAR = "CLICKHOUSE_GRAFANA_PASSWORD"
PASSWORD = "pw-only-in-the-environment"


def users_file_for_18_16() -> tuple[ET.Element, str]:
    """The repository's file with what 18.16 lacks taken out; (root, user name)."""
    root = ET.parse(USERS_FILE).getroot()
    assert root.tag == "clickhouse"
    root.tag = "yandex"
    profiles = root.find("profiles")
    assert profiles is not None
    for profile in profiles:
        constraints = profile.find("constraints")
        if constraints is not None:
            profile.remove(constraints)
    users = root.find("users")
    assert users is not None and len(users) == 1
    return root, users[0].tag


@pytest.fixture(scope="module")
def grafana_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[
        ClickHouseServer, str]]:
    root, user = users_file_for_18_16()
    directory = tmp_path_factory.mktemp("clickhouse-grafana")
    (directory / "users.d").mkdir()  # merged into users.xml by the server
    ET.ElementTree(root).write(directory / "users.d" / "grafana.xml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_VAR, PASSWORD)  # the server's environment, as compose sets it
        server = ClickHouseServer(directory)
        with server:
            db = ServerDatabase(parse_clickhouse_url(server.url("blo")), ClickHouseSettings())
            try:
                migrate(db)
                db.command("CREATE DATABASE IF NOT EXISTS other")
                db.command("CREATE TABLE IF NOT EXISTS other.t (a UInt8) ENGINE = Memory")
            finally:
                db.close()
            yield server, user


def client(server: ClickHouseServer, user: str, password: str = PASSWORD) -> Client:
    return Client(server.host, port=server.tcp_port, user=user, password=password,
                  database="blo")


def refused(c: Client, sql: str) -> int:
    with pytest.raises(DriverError) as e:
        c.execute(sql)
    return int(getattr(e.value, "code", 0) or 0)


def test_password_from_the_environment_and_read_only_access(
    grafana_server: tuple[ClickHouseServer, str],
) -> None:
    server, user = grafana_server
    c = client(server, user)
    try:
        assert c.execute("SELECT count() FROM blo.window_stats") == [(0,)]
        assert c.execute("SELECT value FROM system.settings WHERE name = 'readonly'") == \
            [("1",)]
        assert refused(c, "INSERT INTO blo.stations (station_id) SELECT 'X'") == 164
        assert refused(c, "CREATE TABLE blo.x (a UInt8) ENGINE = Memory") == 164
        assert refused(c, "SELECT count() FROM other.t") == 291  # only database blo
        # without the constraint of the repository's file (current servers only), no
        # setting may change under readonly = 1: hence the constraint
        assert refused(c, "SELECT 1 SETTINGS max_execution_time = 30") == 164
    finally:
        c.disconnect()
    wrong = client(server, user, "not-the-password")
    try:
        assert refused(wrong, "SELECT 1") in (192, 193, 516)  # unknown user / wrong password
    finally:
        wrong.disconnect()


def test_every_dashboard_query_runs_as_the_grafana_user(
    grafana_server: tuple[ClickHouseServer, str],
) -> None:
    server, user = grafana_server
    c = client(server, user)
    ran = 0
    try:
        for dash in load_dashboards():
            for q in dash.queries:
                if q.panel_type == "variable":
                    c.execute(expand(q.sql, dash, {}, "blo"))
                    ran += 1
            for name, var in dash.variables.items():  # an empty database: no country options
                if not var.options:
                    var.options = ["KZ"]
                assert name in ("country", "window_kind"), name
            for selection in ({"country": [ALL], "window_kind": "1h"},
                              {"country": ["KZ", "TJ"], "window_kind": "day"}):
                for q in dash.queries:
                    if q.panel_type != "variable":
                        c.execute(expand(q.sql, dash, dict(selection), "blo"))
                        ran += 1
    finally:
        c.disconnect()
    assert ran >= 20
