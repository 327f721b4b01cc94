"""``blo export events`` on embedded chDB with no worker running (the CLI opens the
directory itself, in this process: chDB allows one process per directory): the same file as
on the server, and the audit row written to chDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from blo.cli import main
from sinks.chdb import ChdbDatabase
from sinks.tables import EVENTS, STATIONS
from tests.integration.api.test_exports import E0, E1, _event_rows, _station_rows, expected_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_blo_export_events_on_chdb(make_chdb_db: Callable[..., ChdbDatabase], chdb_path: Path,
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_chdb_db()
    db.insert("stations", STATIONS.column_names, _station_rows())
    events = _event_rows()
    db.insert("events", EVENTS.column_names, events)
    monkeypatch.setenv("BLO_CLICKHOUSE_URL", f"chdb://{chdb_path}?database={db.database}")
    monkeypatch.setenv("BLO_DATA_DIR", str(tmp_path))
    out = tmp_path / "tj.parquet"
    res = CliRunner().invoke(main, [
        "export", "events", "--station", "TJ-PYANJ", "--from", E0.isoformat(),
        "--to", E1.isoformat(), "--page-rows", "150", "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    want = expected_events(events, {"TJ-PYANJ"}, E0, E1)
    t = pq.read_table(out)
    assert sorted(t.column("event id").to_pylist()) == sorted(want)
    f = pq.ParquetFile(out)
    sizes = [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)]
    assert max(sizes) == 150 and len(sizes) >= len(want) // 150 + 1  # a page per group
    audit = db.query(f"SELECT path, rows, detail FROM {db.database}.api_audit")
    assert [(p, int(n)) for p, n, _ in audit] == [("blo export events", len(want))]
