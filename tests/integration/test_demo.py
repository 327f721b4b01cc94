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
