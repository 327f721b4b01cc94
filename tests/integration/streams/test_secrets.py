"""A worker running with a ClickHouse password, at DEBUG, never writes the password to its
output — logs, settings dump, errors included."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from blo.localservices.clickhouse_server import PASSWORD_USER, PASSWORD_USER_PASSWORD

# a webhook whose URL carries credentials, as receivers often hand them out; nothing listens
WEBHOOK_TOKEN = "whk-3c9d1e77a0"
WEBHOOK_PATH_KEY = "pathkey-81f2b6"
WEBHOOK = f"http://ops:{WEBHOOK_TOKEN}@127.0.0.1:9/{WEBHOOK_PATH_KEY}/alerts?sig={WEBHOOK_TOKEN}"
from tests.integration.streams.harness import Pipeline, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_the_clickhouse_password_never_reaches_the_worker_output(
        kafka_broker, clickhouse_server, tmp_path) -> None:
    db_name = f"sec_{time.monotonic_ns()}"
    pw = urllib.parse.quote(PASSWORD_USER_PASSWORD, safe="")
    url = (f"clickhouse://{PASSWORD_USER}:{pw}@127.0.0.1:{clickhouse_server.tcp_port}/"
           f"{db_name}")
    p = Pipeline(kafka_broker.bootstrap, url, db_name, tmp_path)
    p.create_topics()
    p.load_stations([{"station_id": "KZ-S1", "name": "S1", "country": "KZ",
                      "agency": "customs", "crossing_point": "S1", "neighbour_country": "KG",
                      "paired_blo": None, "lat": 43.0, "lon": 74.7, "tz": "Asia/Almaty",
                      "coord_source": "test", "coord_approximate": True,
                      "valid_from": "2018-01-01T00:00:00Z", "active": True}])
    log = tmp_path / "worker.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "blo", "--log-level", "DEBUG", "worker", "--migrate"],
            env=p.env(BLO_ALERTS_WEBHOOK_URL=WEBHOOK), stdout=out, stderr=subprocess.STDOUT,
            cwd=tmp_path)
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
    for secret in (PASSWORD_USER_PASSWORD, pw, WEBHOOK_TOKEN, WEBHOOK_PATH_KEY):
        assert secret not in text
