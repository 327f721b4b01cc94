"""Secrets never shown: commands run at DEBUG with known passwords in every secret setting
(ClickHouse URL, SASL password, webhook URL, the API's ClickHouse URLs) write none of them --
in any spelling -- to stdout, stderr or logs: not the worker, not its settings dump, not
kafka-python's configuration dump, not an error about a URL that does not parse.

Passwords hold ``/``, ``#`` and ``@``, the characters that end a URL's credentials: the
positive cases give them percent-encoded (and must work against the real ClickHouse server),
the error cases raw (and must be refused, naming the fix without showing the password)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from blo.localservices.clickhouse_server import (
    PASSWORD_USER,
    PASSWORD_USER_PASSWORD,
    ClickHouseServer,
)
from blo.redact import secret_env_names
from blo.settings import Settings
from tests.integration.streams.harness import Pipeline, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

# a webhook whose URL carries credentials, as receivers often hand them out; nothing listens
WEBHOOK_TOKEN = "whk-3c9d1e77a0"
WEBHOOK_PATH_KEY = "pathkey-81f2b6"
WEBHOOK = f"http://ops:{WEBHOOK_TOKEN}@127.0.0.1:9/{WEBHOOK_PATH_KEY}/alerts?sig={WEBHOOK_TOKEN}"

CH_USER = "blo_slash"
CH_PASSWORD = "Qx7v/Lm9w#Tz3k@Rp5s"  # every character that ends a URL's credentials
SASL_PASSWORD = "Sa7q/Wm4n#Yc2h@Ud8f"
API_PASSWORD = "Ap4i/Rd6r#Ke9y@Zq2w"
STATION = {"station_id": "KZ-S1", "name": "S1", "country": "KZ", "agency": "customs",
           "crossing_point": "S1", "neighbour_country": "KG", "paired_blo": None,
           "lat": 43.0, "lon": 74.7, "tz": "Asia/Almaty", "coord_source": "test",
           "coord_approximate": True, "valid_from": "2018-01-01T00:00:00Z", "active": True}


def spellings(secret: str) -> list[str]:
    """The secret as written, percent-encoded both ways, and the pieces (4+ characters) a
    URL parser cuts a raw one into."""
    pieces = [p for p in re.split(r"[/#?@]", secret) if len(p) >= 4]
    return [secret, quote(secret, safe=""), quote_plus(secret), *pieces]


def assert_never_shown(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in spellings(secret):
            assert form not in text, f"{form!r} (of a secret) was shown:\n{text[-3000:]}"


def server_url(user: str, password: str, port: int, database: str) -> str:
    return f"clickhouse://{user}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def add_clickhouse_user(server: ClickHouseServer, user: str, password: str) -> None:
    """A user of the test's own server (18.16 has no CREATE USER: the users file, read at
    the restart; stop() and start() keep the directory)."""
    from xml.sax.saxutils import escape

    users = server.directory / "users.xml"
    users.write_text(users.read_text().replace("</users>", f"""
        <{user}>
            <password>{escape(password)}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{user}>
    </users>""", 1))
    server.stop()
    server.start()
    from clickhouse_driver import Client
    from clickhouse_driver.errors import Error

    def can_log_in() -> bool:
        client = Client(host=server.host, port=server.tcp_port, user=user, password=password,
                        connect_timeout=2)
        try:
            return client.execute("SELECT 1") == [(1,)]
        except Error:
            return False
        finally:
            client.disconnect()

    wait_for(can_log_in, 60, f"ClickHouse to load the user {user}", every=0.5)


def run_worker_until_one_event_is_stored(p: Pipeline, log: Path, **env: str) -> str:
    """Start ``blo --log-level DEBUG worker --migrate``, store one event, SIGTERM it; its
    whole output."""
    p.create_topics()
    p.load_stations([STATION])
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "blo", "--log-level", "DEBUG", "worker", "--migrate"],
            env=p.env(**env), stdout=out, stderr=subprocess.STDOUT, cwd=p.workdir)
        try:
            base = f"http://127.0.0.1:{p.web_port}"

            def ready() -> bool:
                assert proc.poll() is None, log.read_text()
                try:
                    with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                        return bool(json.loads(r.read())["ready"])
                except OSError:
                    return False

            wait_for(ready, 90, "worker readiness")
            p.produce([(b"KZ-S1", json.dumps(crossing("KZ-S1", 1)).encode())])

            def stored() -> bool:
                with urllib.request.urlopen(base + "/metrics", timeout=2) as r:
                    return b'blo_sink_rows_written_total{table="events"} 1.0' in r.read()

            wait_for(stored, 60, "the event written with the password-protected user")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    text = log.read_text(errors="replace")
    assert "DEBUG" in text and "clickhouse.url" in text  # the settings dump was logged
    assert "alerts.webhook_url" in text
    return text


def test_the_clickhouse_password_never_reaches_the_worker_output(
        kafka_broker, clickhouse_server, tmp_path) -> None:
    db_name = f"sec_{time.monotonic_ns()}"
    pw = urllib.parse.quote(PASSWORD_USER_PASSWORD, safe="")
    url = (f"clickhouse://{PASSWORD_USER}:{pw}@127.0.0.1:{clickhouse_server.tcp_port}/"
           f"{db_name}")
    p = Pipeline(kafka_broker.bootstrap, url, db_name, tmp_path)
    text = run_worker_until_one_event_is_stored(p, tmp_path / "worker.out",
                                                BLO_ALERTS_WEBHOOK_URL=WEBHOOK)
    for secret in (PASSWORD_USER_PASSWORD, pw, WEBHOOK_TOKEN, WEBHOOK_PATH_KEY):
        assert secret not in text


def test_a_password_with_slash_hash_and_at_works_percent_encoded_and_is_never_shown(
        kafka_broker, fresh_clickhouse_server, tmp_path) -> None:
    server = fresh_clickhouse_server
    add_clickhouse_user(server, CH_USER, CH_PASSWORD)
    db_name = f"sec_{time.monotonic_ns()}"
    p = Pipeline(kafka_broker.bootstrap,
                 server_url(CH_USER, CH_PASSWORD, server.tcp_port, db_name), db_name, tmp_path)
    shown = run_worker_until_one_event_is_stored(p, tmp_path / "worker.out",
                                                 BLO_ALERTS_WEBHOOK_URL=WEBHOOK)
    stats = p.blo("--log-level", "debug", "stats", BLO_ALERTS_WEBHOOK_URL=WEBHOOK)
    assert stats.returncode == 0, stats.stderr
    query = p.blo("--log-level", "debug", "query",
                  f"SELECT count() AS stored FROM {db_name}.events FINAL")
    assert query.returncode == 0, query.stderr
    assert query.stdout.split() == ["stored", "------", "1"]  # the one event, read with that user
    for text in (shown, stats.stdout, stats.stderr, query.stdout, query.stderr):
        assert_never_shown(text, CH_PASSWORD, WEBHOOK_TOKEN, WEBHOOK_PATH_KEY)


@pytest.mark.parametrize("command", [["stats"], ["query", "SELECT 1"], ["worker"],
                                     ["dlq", "list"]])
def test_a_raw_password_that_breaks_the_url_is_refused_and_never_shown(
        clickhouse_server, tmp_path, command) -> None:
    raw = f"clickhouse://{CH_USER}:{CH_PASSWORD}@127.0.0.1:{clickhouse_server.tcp_port}/blo"
    p = Pipeline("127.0.0.1:9", raw, "blo", tmp_path)
    res = p.blo("--log-level", "debug", *command, timeout=120)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "percent-encode the password: / → %2F, # → %23, @ → %40" in res.stderr
    assert (f"BLO_CLICKHOUSE_URL='clickhouse://{CH_USER}:***@127.0.0.1:"
            f"{clickhouse_server.tcp_port}/blo'") in res.stderr
    assert "Traceback" not in res.stderr
    assert_never_shown(res.stdout + res.stderr, CH_PASSWORD)


def test_the_sasl_password_is_never_shown_by_the_worker_or_publish(
        kafka_broker, clickhouse_server, tmp_path) -> None:
    """Tansu does not speak SASL: the clients fail to authenticate, at DEBUG, with every
    secret setting set -- what matters is what they print meanwhile."""
    port = clickhouse_server.tcp_port
    secrets = {
        "BLO_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "BLO_KAFKA_SASL_MECHANISM": "PLAIN",
        "BLO_KAFKA_SASL_USERNAME": "post7",
        "BLO_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
        "BLO_CLICKHOUSE_URL": server_url(CH_USER, CH_PASSWORD, port, "blo"),
        "BLO_ALERTS_WEBHOOK_URL": WEBHOOK,
        "BLO_API_CLICKHOUSE_URL": server_url("blo_reader", API_PASSWORD, port, "blo"),
        "BLO_API_AUDIT_CLICKHOUSE_URL": server_url("blo_audit", API_PASSWORD, port,
                                                   "blo_audit"),
    }
    unset = set(secret_env_names(Settings)) - set(secrets)
    assert not unset, f"secret settings this test does not set yet: {unset}"
    p = Pipeline(kafka_broker.bootstrap, secrets.pop("BLO_CLICKHOUSE_URL"), "blo", tmp_path,
                 extra_env=secrets)
    worker = p.blo("--log-level", "debug", "worker", "--migrate", timeout=180)
    assert worker.returncode != 0  # no SASL on the test broker
    # kafka-python's admin client dumps its whole configuration at DEBUG: redacted
    assert "'sasl_plain_password': '***'" in worker.stdout + worker.stderr, worker.stderr[-3000:]
    events = "".join(json.dumps(crossing("KZ-S1", i)) + "\n" for i in range(50))
    publish = p.blo("--log-level", "debug", "publish", "--timeout", "3", "-", input=events)
    assert publish.returncode == 75, publish.stderr  # still buffered: not delivered
    assert "50 still buffered" in publish.stdout
    for text in (worker.stdout, worker.stderr, publish.stdout, publish.stderr):
        assert_never_shown(text, SASL_PASSWORD, CH_PASSWORD, API_PASSWORD, WEBHOOK_TOKEN,
                           WEBHOOK_PATH_KEY)
