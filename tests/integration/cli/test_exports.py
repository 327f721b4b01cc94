"""``blo export stats|events`` as subprocesses against the session's real ClickHouse server:
the files read back to what the API exports and what the rows written say, progress goes to
stderr, a page size splits the read, and each export leaves its audit row."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from blo.analytics.columns import EVENT_COLUMNS, stats_columns
from blo.localservices.clickhouse_server import ClickHouseServer
from sinks.clickhouse import ServerDatabase
from sinks.tables import EVENTS, STATIONS, WINDOW_STATS
from tests.integration.api.test_exports import (
    E0,
    E1,
    NOW,
    POSTS,
    _event_rows,
    _station_rows,
    _window_rows,
    expected_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]


def test_blo_export_writes_the_readers_view_with_progress_and_an_audit_row(
        clickhouse_server: ClickHouseServer,
        make_clickhouse_db: Callable[..., ServerDatabase], tmp_path: Path) -> None:
    db = make_clickhouse_db()
    db.insert("stations", STATIONS.column_names, _station_rows())
    db.insert("window_stats", WINDOW_STATS.column_names, _window_rows())
    events = _event_rows()
    db.insert("events", EVENTS.column_names, events)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
               BLO_DATA_DIR=str(tmp_path), PYTHONPATH=str(REPO))

    def blo(*args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "-m", "blo", "export", *args], env=env,
                             cwd=tmp_path, check=False, capture_output=True, text=True,
                             timeout=180)
        assert res.returncode == 0, res.stderr
        return res

    # events: KZ's, in pages of 100 rows, as Parquet with Russian headers
    out = tmp_path / "kz.parquet"
    res = blo("events", "--country", "KZ", "--from", E0.isoformat(), "--to", E1.isoformat(),
              "--lang", "ru", "--page-rows", "100", "--out", str(out))
    want = expected_events(events, {"KZ-KORDAI", "KZ-KARASU"}, E0, E1)
    table = pq.read_table(out)
    assert table.column_names == [c.ru for c in EVENT_COLUMNS]
    assert sorted(table.column("идентификатор события").to_pylist()) == sorted(want)
    assert set(table.column("страна").to_pylist()) == {"KZ"}
    pages = pq.ParquetFile(out).num_row_groups
    assert pages >= len(want) // 100  # one row group per page of at most 100 rows
    assert max(pq.ParquetFile(out).metadata.row_group(i).num_rows
               for i in range(pages)) == 100
    assert "rows/s" in res.stderr and f"exported {len(want)} rows" in res.stderr
    assert not list(tmp_path.glob(".*.part"))

    # stats: the file equals what the rows say, as CSV from the extension
    out = tmp_path / "stats.csv"
    blo("stats", "--group-by", "station", "--window", "1h",
        "--from", (NOW - timedelta(hours=4)).isoformat(), "--to", NOW.isoformat(),
        "--out", str(out), "--quiet")
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert list(df.columns) == [c.en for c in stats_columns(("station",))]
    got = dict(zip(df["station"], df["events"], strict=True))
    assert got == {"KZ-KORDAI": 21 + 2, "KZ-KARASU": 9, "KG-AK-JOL": 15, "TJ-PYANJ": 34}
    assert set(got) <= set(POSTS)

    audit = db.query(f"SELECT token_id, method, path, query, status, rows, detail "
                     f"FROM {db.database}.api_audit ORDER BY at, path")
    by_path = {r[2]: r for r in audit}
    ev = by_path["blo export events"]
    assert ev[:2] == ("cli", "CLI") and ev[4] == 200 and ev[5] == len(want)
    assert "country=KZ" in ev[3] and "format=parquet" in ev[3]
    assert ev[6].startswith(f"export events parquet ru: {len(want)} rows")
    assert by_path["blo export stats"][5] == 4

    # a bad filter is a usage error, nothing written
    res = subprocess.run([sys.executable, "-m", "blo", "export", "events", "--country", "kz",
                          "--out", str(tmp_path / "x.csv")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2 and "country" in res.stderr
    assert not (tmp_path / "x.csv").exists()
