"""Retention never deletes the archive by default: real statistics spanning 26 years (US BTS
San Ysidro, six years of 1996–2021, imported with the shipped mapping) next to a few live
events, then `blo db
retention`. The dry run lists nothing imported, by table and source; the real run drops the
expired live events (a month of their own goes whole, a month shared with imported reports
loses only them) and keeps every imported row. An import that retention would cut into
says so, with the setting to change."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.streams.harness import crossing, wait_for
from tests.unit.importer.helpers import SHARED_DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

NOW = "2026-12-06T00:00:00"
REPORTS = "event_type = 'count_report'"
LIVE_AT = [datetime(2016, 6, 10, 12, tzinfo=UTC), datetime(2016, 6, 11, 12, tzinfo=UTC),
           datetime(2023, 2, 1, 12, tzinfo=UTC)]  # a month shared with reports; one of its own
YEARS = ("1996", "2001", "2006", "2011", "2016", "2021")  # 72 monthly partitions, not 312


def _slice(path: Path) -> tuple[int, float, str, str]:
    """Write the rows of YEARS of the real file to ``path``; return their count, the sum of
    their values and their first and last month, by the csv module."""
    with (SHARED_DATA / "bts_san_ysidro_1996_2021.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or ())
        rows = [r for r in reader if r["Date"].endswith(YEARS)]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    months = sorted(datetime.strptime(r["Date"], "%b %Y").strftime("%Y-%m") for r in rows)
    return len(rows), sum(float(r["Value"]) for r in rows), months[0], months[-1]


def stored(db, where: str) -> tuple[int, float]:
    """Events and the sum of their values in the readers' view (latest row of each id; the
    argMax form: `events FINAL` over 26 years of monthly partitions is beyond 18.16's
    memory limit)."""
    n, v = db.query(f"SELECT count(), sum(v) FROM (SELECT event_id, argMax(value, ingested_at) "
                    f"AS v FROM {db.database}.events WHERE {where} GROUP BY event_id)")[0]
    return int(n), float(v or 0)


def final_count(db, where: str) -> int:
    return stored(db, where)[0]


def test_retention_over_imported_history_drops_nothing_imported(pipeline) -> None:
    p, db = pipeline
    data = p.workdir / "san_ysidro_six_years.csv"
    n_rows, total, first, last = _slice(data)
    w = p.worker(BLO_CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S="60")  # a shared, loaded machine
    w.wait_ready()

    # asked to keep count reports ten years, the import says what the next run would drop
    res = p.blo("import-csv", str(data),
                "--mapping", "bts_san_ysidro", BLO_RETENTION_EVENTS_REPORTS_DAYS="3650")
    assert res.returncode == 0, res.stderr
    assert f"rows published: {n_rows} ({n_rows} events)" in res.stdout
    warning = re.search(r"warning: the next `blo db retention` would drop (\d+) of the "
                        rf"{n_rows} events imported here from events \((\d{{4}}-\d\d) to "
                        r"(\d{4}-\d\d)\): reports are kept 3650 days "
                        r"\(BLO_RETENTION_EVENTS_REPORTS_DAYS=3650\)\. To keep them set "
                        r"BLO_RETENTION_EVENTS_REPORTS_DAYS=0 \(for ever\) or at least (\d+)",
                        res.stderr)
    assert warning, res.stderr
    assert warning.group(2) == first and warning.group(3) < "2017-01"
    assert "window_stats" not in res.stderr  # their window rows' limit is still for ever
    p.produce((b"TJ-T1", json.dumps(crossing("TJ-T1", i + 1, at=at)).encode())
              for i, at in enumerate(LIVE_AT))
    wait_for(lambda: final_count(db, REPORTS) >= n_rows and final_count(db, "1") >= n_rows + 3,
             240, "the import and the live events")
    assert final_count(db, REPORTS) == n_rows

    def month_windows() -> tuple[int, float]:
        n, v = db.query(f"SELECT count(), sum(v) FROM (SELECT argMax(value, version) AS v "
                        f"FROM {db.database}.window_stats WHERE window_kind = 'month' AND "
                        f"{REPORTS} GROUP BY station_id, measure, dimension, window_start)")[0]
        return int(n), float(v)

    wait_for(lambda: month_windows()[1] == pytest.approx(total), 120, "the month windows")
    windows_before = month_windows()
    w.terminate()
    raw_reports = int(db.query(f"SELECT count() FROM {db.database}.events "
                               f"WHERE {REPORTS}")[0][0])

    dry = p.blo("db", "retention", "--dry-run", "--now", NOW)
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout.splitlines()
    table = [ln.split() for ln in out if ln.endswith(("would drop", "would delete"))]
    assert all(row[1] != "reports" for row in table), dry.stdout  # nothing imported
    assert sorted(row[:3] + [row[-1]] for row in table if row[0] == "events") == [
        ["events", "live", "201606", "delete"], ["events", "live", "202302", "drop"]]
    by_source = out[out.index("by table and source:") + 1:]
    assert "  events live: would drop 3 rows of 2 month(s), 2016-06 .. 2023-02 " \
        "(BLO_RETENTION_EVENTS_DAYS=730)" in by_source, dry.stdout
    kept = [ln for ln in by_source if ln.startswith("  events reports: kept ")]
    assert kept == [(f"  events reports: kept {raw_reports} rows of {len(_months(db))} "
                    f"month(s), {first} .. {last} (BLO_RETENTION_EVENTS_REPORTS_DAYS=0: "
                    "for ever)")], dry.stdout
    assert any(ln.startswith("  window_stats reports: kept ") for ln in by_source)
    assert final_count(db, "1") == n_rows + 3  # a dry run changes nothing

    real = p.blo("db", "retention", "--now", NOW)
    assert real.returncode == 0, real.stderr
    done = real.stdout.splitlines()
    assert "  events live: dropped 3 rows of 2 month(s), 2016-06 .. 2023-02 " \
        "(BLO_RETENTION_EVENTS_DAYS=730)" in done, real.stdout
    assert not [ln for ln in done if ln.split()[1:2] == ["reports"]
                and ln.endswith(("dropped", "deleted"))], real.stdout
    assert final_count(db, REPORTS) == n_rows  # every imported row, exactly
    assert final_count(db, f"NOT {REPORTS}") == 0  # the expired live events
    assert stored(db, REPORTS)[1] == pytest.approx(total)
    assert month_windows() == windows_before
    again = p.blo("db", "retention", "--now", NOW)
    assert again.returncode == 0 and "nothing to drop" in again.stdout, again.stdout


def _months(db) -> list[int]:
    return [int(m) for (m,) in db.query(
        f"SELECT DISTINCT toYYYYMM(occurred_at) FROM {db.database}.events WHERE {REPORTS}")]
