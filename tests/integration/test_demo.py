"""`blo demo` (what `make demo` runs) as a new user would: it starts, data appears, the
commands it prints work while it runs (through the worker, chDB being single-process),
Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from blo.localservices.tansu import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blo", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_demo_starts_shows_data_serves_its_commands_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    out_path = tmp_path / "demo.out"
    with open(out_path, "w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "blo", "demo", "--data-dir", str(tmp_path / "demo"),
             "--port", str(port), "--api-port", str(api_port), "--rate", "200"],
            env=base_env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 150
            text = ""
            while "BLO demo is running" not in text:
                assert demo.poll() is None, out_path.read_text()
                assert time.monotonic() < deadline, out_path.read_text()
                time.sleep(0.5)
                text = out_path.read_text()
            exports = dict(re.findall(r"(BLO_[A-Z_]+)=(\S+)", text))
            env = {**base_env, **exports}
            assert env["BLO_CLICKHOUSE_URL"].startswith("chdb://")

            def stored() -> int:
                res = _run(["query", "SELECT count() FROM blo.events FINAL", "--format",
                            "tsv"], env)
                assert res.returncode == 0, res.stderr  # the chDB lock is never hit
                return int(res.stdout.strip() or 0)

            while stored() == 0:
                assert time.monotonic() < deadline, "no events appeared"
                time.sleep(1)
            first = stored()
            stats = _run(["stats"], env)
            assert stats.returncode == 0, stats.stderr
            assert "Events by type" in stats.stdout and "crossing" in stats.stdout
            assert "Latest hours by country" in stats.stdout  # window rows, read exactly
            example = re.search(r"blo stations load (\S+)", text)
            assert example, text
            loaded = _run(["stations", "load", example.group(1)], env)
            assert loaded.returncode == 0 and "loaded 1 station record" in loaded.stdout
            assert _run(["dlq", "list"], env).returncode == 0
            # the worker serves the API and dashboard; the banner carries a regional token
            dash = re.search(rf"(http://127\.0\.0\.1:{api_port}/)#token=(blo_\S+)", text)
            assert dash, text
            req = urllib.request.Request(dash.group(1) + "api/v1/stats?group_by=country",
                                         headers={"Authorization": f"Bearer {dash.group(2)}"})
            countries: set[str] = set()
            while len(countries) < 2:  # window rows of seed stations of several countries
                assert time.monotonic() < deadline, countries
                time.sleep(1)
                with urllib.request.urlopen(req, timeout=30) as r:
                    countries = {row["country"] for row in json.loads(r.read())["rows"]}
            listed = _run(["tokens", "list", "--json"], env)  # through the worker's door
            assert listed.returncode == 0, listed.stderr
            assert [t["scope"] for t in json.loads(listed.stdout)] == ["all"]
            assert _run(["alerts", "list"], env).returncode == 0
            while stored() <= first:  # the numbers move while the demo runs
                assert time.monotonic() < deadline
                time.sleep(1)
            status_lines = re.findall(r"events stored: (\d+)", out_path.read_text())
            assert status_lines, "the demo prints a status line"
        finally:
            demo.send_signal(signal.SIGINT)  # Ctrl-C
            code = demo.wait(120)
    text = out_path.read_text()
    assert code == 0, text
    assert "demo stopped" in text
    # nothing left behind: chDB's lock file is gone, or names a process that has exited
    status = tmp_path / "demo" / "chdb" / "status"
    if status.exists():
        holder = int(status.read_text().splitlines()[0].removeprefix("PID:").strip())
        with pytest.raises(ProcessLookupError):
            os.kill(holder, 0)


STATION = """stations:
  - station_id: KG-RESTARTED
    name: Restarted
    country: KG
    agency: border_guard
    crossing_point: Restarted road crossing
    neighbour_country: TJ
    lat: 39.6
    lon: 72.1
    tz: Asia/Bishkek
    valid_from: "2024-01-01T00:00:00Z"
"""


def _start_demo(data_dir: Path, out_path: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A demo on ``data_dir`` (rate low: the machine is shared), once its banner is out;
    the environment its banner exports."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    out = open(out_path, "w")  # noqa: SIM115 - the child holds it; closed with the test
    demo = subprocess.Popen(
        [sys.executable, "-m", "blo", "demo", "--data-dir", str(data_dir), "--port",
         str(free_port()), "--api-port", str(free_port()), "--rate", "20"],
        env=base_env, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 150
    text = ""
    while "BLO demo is running" not in text:
        if demo.poll() is not None or time.monotonic() > deadline:
            demo.kill()
            raise AssertionError(out_path.read_text())
        time.sleep(0.5)
        text = out_path.read_text()
    return demo, {**base_env, **dict(re.findall(r"(BLO_[A-Z_]+)=(\S+)", text))}


def _stop_demo(demo: subprocess.Popen[str]) -> int:
    demo.send_signal(signal.SIGINT)
    return demo.wait(120)


def _banner_token(out_path: Path) -> str:
    found = re.search(r"#token=(blo_\S+)", out_path.read_text())
    assert found, out_path.read_text()
    return found.group(1)


def _tokens(env: dict[str, str]) -> list[dict[str, str]]:
    listed = _run(["tokens", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    tokens: list[dict[str, str]] = json.loads(listed.stdout)
    return tokens


def test_a_restarted_demo_keeps_the_stations_loaded_into_it(tmp_path: Path) -> None:
    """The demo's broker forgets its topics when it stops: the registry is restored from
    ClickHouse's stations table, so a station added with `blo stations load` before a
    restart still enriches its new events after it (not dead-lettered unknown_station).
    The restarted demo reuses its own API token (the dashboard address stays the same):
    one active demo token, whatever the number of starts; other tokens are left alone."""
    data_dir = tmp_path / "demo"
    station_file = tmp_path / "restarted.yaml"
    station_file.write_text(STATION)

    def scalar(env: dict[str, str], sql: str) -> int:
        res = _run(["query", sql, "--format", "tsv"], env)
        assert res.returncode == 0, res.stderr
        return int(res.stdout.strip() or 0)

    demo, env = _start_demo(data_dir, tmp_path / "first.out")
    try:
        first_token = _banner_token(tmp_path / "first.out")
        made = _run(["tokens", "create", "regional centre", "--all"], env)
        assert made.returncode == 0, made.stderr
        loaded = _run(["stations", "load", str(station_file)], env)
        assert loaded.returncode == 0, loaded.stderr
        deadline = time.monotonic() + 60
        while not scalar(env, "SELECT count() FROM blo.stations "
                              "WHERE station_id = 'KG-RESTARTED'"):
            assert time.monotonic() < deadline, "the station never reached the stations table"
            time.sleep(1)
    finally:
        assert _stop_demo(demo) == 0, (tmp_path / "first.out").read_text()

    demo, env = _start_demo(data_dir, tmp_path / "second.out")
    try:
        assert _banner_token(tmp_path / "second.out") == first_token
        tokens = _tokens(env)
        assert sorted((t["name"], t["scope"], t["state"]) for t in tokens) == [
            ("blo demo", "all", "active"), ("regional centre", "all", "active")]
        listed = _run(["stations", "list", "--format", "json", "--country", "KG"], env)
        assert listed.returncode == 0, listed.stderr
        restarted = [d for d in map(json.loads, listed.stdout.splitlines())
                     if d["station_id"] == "KG-RESTARTED"]
        assert [(d["border"], d["tz"], d["active"]) for d in restarted] == [
            ("KG-TJ", "Asia/Bishkek", True)]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {"event_id": "8a3e6bb4-5b0e-4b7c-9f57-0c6c1d1d9a01", "schema_version": 1,
                 "event_type": "crossing", "station_id": "KG-RESTARTED", "occurred_at": now,
                 "reported_at": now, "source_seq": 1, "direction": "inbound",
                 "subject": "person", "mode": "road", "persons": 1, "vehicles": 0,
                 "document_check": "passed"}
        sent = subprocess.run([sys.executable, "-m", "blo", "publish", "-"], env=env,
                              input=json.dumps(event) + "\n", capture_output=True, text=True,
                              timeout=120, check=False)
        assert sent.returncode == 0, sent.stderr
        stored = ("SELECT count() FROM blo.events FINAL WHERE station_id = 'KG-RESTARTED' "
                  "AND country = 'KG' AND crossing_point = 'Restarted road crossing'")
        dead = "SELECT count() FROM blo.dlq WHERE station_id = 'KG-RESTARTED'"
        deadline = time.monotonic() + 90
        while not scalar(env, stored):
            assert not scalar(env, dead), "dead-lettered after the restart"
            assert time.monotonic() < deadline, "the event was never stored"
            time.sleep(1)
        assert scalar(env, dead) == 0
        assert "restored 1 station record(s)" in (tmp_path / "second.out").read_text()
    finally:
        assert _stop_demo(demo) == 0, (tmp_path / "second.out").read_text()
