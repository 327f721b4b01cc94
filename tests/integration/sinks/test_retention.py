"""Retention (sinks/retention.py, `blo db retention`): monthly partitions older than each
table's limit are dropped, nothing else is touched; count reports (imported statistics) are
a source of their own, kept for ever by default; on ClickHouse 18.16 and chDB 26.9."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import RetentionSettings
from sinks.base import Database
from sinks.retention import (
    ALL,
    LIVE,
    REPORTS,
    RETENTION_FIELDS,
    Partition,
    apply_retention,
    drop_sql,
    limits_of,
    month_end,
    plan_retention,
)
from sinks.tables import BY_NAME
from tests.integration.sinks.factories import make_row

NOW = datetime(2024, 7, 15, tzinfo=UTC)
MONTHS = [202401, 202402, 202403, 202404, 202405, 202406]
TIME_COLUMN = {  # the PARTITION BY toYYYYMM(<column>) of each table with a limit
    "events": "occurred_at", "dlq": "failed_at", "window_stats": "window_start",
    "late_events": "window_start", "alerts": "fired_at", "api_audit": "at",
}
# now - limit: events 2024-05-15 (Jan-Apr go), dlq exactly 2024-06-01 (May's end: May
# goes too), window_stats 2024-05-31 (May is one day inside: kept), late_events 0 (for ever),
# alerts 1000 days (nothing is that old), api_audit 2024-04-06 (Jan-Mar go).
LIMITS = RetentionSettings(events_days=61, dlq_days=44, window_stats_days=45,
                           late_events_days=0, alerts_days=1000, api_audit_days=100)
EXPECTED_DROPS = {
    "events": [202401, 202402, 202403, 202404],
    "dlq": [202401, 202402, 202403, 202404, 202405],
    "window_stats": [202401, 202402, 202403, 202404],
    "late_events": [],
    "alerts": [],
    "api_audit": [202401, 202402, 202403],
}


# -- the planner (pure) ----------------------------------------------------------------

def test_month_end() -> None:
    assert month_end("202401") == datetime(2024, 2, 1, tzinfo=UTC)
    assert month_end("202312") == datetime(2024, 1, 1, tzinfo=UTC)
    assert month_end("202411") == datetime(2024, 12, 1, tzinfo=UTC)
    for not_a_month in ("all", "202413", "202400", "20240101", "2024-01", "tuple()", ""):
        assert month_end(not_a_month) is None


def live(table: str, partition_id: str, rows: int = 3, bytes: int = 10) -> Partition:
    """A partition holding only live rows (a table with sources) or rows of its one source."""
    split = ((LIVE, rows), (REPORTS, 0)) if table in ("events", "window_stats") else ()
    return Partition(table, partition_id, rows, bytes, split)


def test_plan_drops_only_whole_months_older_than_the_limit() -> None:
    parts = [live(t, str(m), rows=m % 100) for t in TIME_COLUMN for m in MONTHS]
    plan = plan_retention(parts, limits_of(LIMITS), NOW)
    dropped: dict[str, list[int]] = {t: [] for t in TIME_COLUMN}
    for d in plan.drops:
        dropped[d.table].append(int(d.partition_id))
        assert d.month_end <= NOW - timedelta(days=d.limit_days)
        assert d.limit_days == limits_of(LIMITS)[(d.table, d.source)]
        assert d.whole and d.source == (ALL if d.table in ("dlq", "api_audit") else LIVE)
    assert dropped == EXPECTED_DROPS
    assert plan.kept["late_events"] == 6 and plan.kept["alerts"] == 6
    assert plan.kept["window_stats"] == 2  # May (one day inside the limit) and June
    assert plan.rows == sum(m % 100 for ms in EXPECTED_DROPS.values() for m in ms)
    assert plan.bytes == 10 * len(plan.drops)


def test_plan_boundary_is_inclusive_and_naive_now_is_utc() -> None:
    p = [live("events", "202405")]
    end = datetime(2024, 6, 1, tzinfo=UTC)
    ten = {("events", LIVE): 10}
    assert plan_retention(p, ten, datetime(2024, 6, 11)).drops  # end == now - 10d
    assert not plan_retention(p, ten, datetime(2024, 6, 10, 23, 59, 59)).drops
    assert plan_retention(p, ten, datetime(2024, 6, 11)).drops[0].month_end == end
    later = datetime(2024, 6, 11, 5, 0, tzinfo=UTC).astimezone()  # any zone: same instant
    assert plan_retention(p, ten, later).drops


def test_plan_never_touches_tables_without_a_limit_or_odd_partitions() -> None:
    parts = [Partition("stations", "202401"), Partition("api_tokens", "202401"),
             Partition("schema_migrations", "all"), live("events", "all"),
             live("events", "20240101")]
    plan = plan_retention(parts, {("events", LIVE): 1, ("stations", ALL): 0}, NOW)
    assert plan.drops == []
    assert [p.partition_id for p in plan.unrecognised] == ["20240101", "all"]


def test_count_reports_are_kept_by_default_and_a_shared_month_loses_only_live_rows() -> None:
    """Imported statistics are count reports: by default no month of them goes, and a month
    that also holds expired live events loses only those (a delete, not a drop)."""
    parts = [
        Partition("events", "202401", 8, 800, ((LIVE, 6), (REPORTS, 2))),  # both sources
        Partition("events", "202402", 5, 500, ((LIVE, 0), (REPORTS, 5))),  # reports only
        Partition("events", "202403", 4, 400, ((LIVE, 4), (REPORTS, 0))),  # live only
        Partition("window_stats", "199601", 7, 70, ((LIVE, 0), (REPORTS, 7))),
        Partition("window_stats", "202401", 3, 30, ((LIVE, 1), (REPORTS, 2))),
    ]
    plan = plan_retention(parts, limits_of(LIMITS), NOW)  # reports limits: the default, 0
    assert [(d.table, d.partition_id, d.source, d.rows, d.bytes, d.whole) for d in plan.drops] \
        == [("events", "202401", LIVE, 6, 600, False), ("events", "202403", LIVE, 4, 400, True),
            ("window_stats", "202401", LIVE, 1, 10, False)]
    assert all(d.source != REPORTS for d in plan.drops)
    assert plan.partitions_dropped() == [("events", "202403")]
    assert plan.deletes() == [("events", "202401", LIVE), ("window_stats", "202401", LIVE)]
    assert [(k.table, k.source, k.partitions, k.rows, k.first, k.last)
            for k in plan.kept_by_source()] == [
        ("events", REPORTS, 2, 7, "2024-01", "2024-02"),
        ("window_stats", REPORTS, 2, 9, "1996-01", "2024-01")]
    assert [(g.table, g.source, g.partitions, g.rows, g.first, g.last)
            for g in plan.dropped_by_source()] == [
        ("events", LIVE, 2, 10, "2024-01", "2024-03"),
        ("window_stats", LIVE, 1, 1, "2024-01", "2024-01")]

    # asked for: reports of events go after 100 days; January (both expired) goes whole
    asked = limits_of(LIMITS.model_copy(update={"events_reports_days": 100}))
    plan = plan_retention(parts, asked, NOW)
    assert {(d.partition_id, d.source, d.whole) for d in plan.drops if d.table == "events"} \
        == {("202401", LIVE, True), ("202401", REPORTS, True), ("202402", REPORTS, True),
            ("202403", LIVE, True)}
    assert plan.partitions_dropped()[:3] == [("events", "202401"), ("events", "202402"),
                                             ("events", "202403")]
    # with 200 days (now - 200 d = 2023-12-28) no month of 2024 has expired
    plan = plan_retention(parts, limits_of(LIMITS.model_copy(
        update={"events_reports_days": 200, "events_days": 0})), NOW)
    assert [(d.partition_id, d.source) for d in plan.drops if d.table == "events"] == []


def test_a_partition_whose_rows_per_source_are_unknown_is_left_alone() -> None:
    # system.parts counted 9 rows, the split 8 (an insert between the two reads), or none
    parts = [Partition("events", "202401", 9, 90, ((LIVE, 6), (REPORTS, 2))),
             Partition("events", "202402", 9, 90)]
    plan = plan_retention(parts, limits_of(LIMITS), NOW)
    assert plan.drops == [] and [p.partition_id for p in plan.unsplit] == ["202401", "202402"]


def test_drop_sql() -> None:
    [d] = plan_retention([live("events", "202401")], {("events", LIVE): 1}, NOW).drops
    assert drop_sql("blo", d) == "ALTER TABLE blo.events DROP PARTITION ID '202401'"
    assert drop_sql("blo", d, cluster="prod") == (
        "ALTER TABLE blo.events_local ON CLUSTER prod DROP PARTITION ID '202401'")
    [d] = plan_retention([Partition("events", "202401", 2, 0, ((LIVE, 1), (REPORTS, 1)))],
                         {("events", LIVE): 1}, NOW).drops
    assert drop_sql("blo", d) == ("ALTER TABLE blo.events DELETE WHERE toYYYYMM(occurred_at) "
                                  "= 202401 AND event_type != 'count_report'")


def test_every_retention_setting_has_a_table() -> None:
    assert set(RETENTION_FIELDS.values()) == set(RetentionSettings.model_fields)
    assert {t for t, _ in RETENTION_FIELDS} == set(TIME_COLUMN)


# -- against both engines ----------------------------------------------------------------

def _month_start(m: int) -> datetime:
    return datetime(m // 100, m % 100, 1, 12, tzinfo=UTC)


def fill(db: Database) -> None:
    """Three rows in each month of every table with a limit; a station and a token."""
    for table, col in TIME_COLUMN.items():
        spec = BY_NAME[table]
        rows = [make_row(spec, i, **{col: _month_start(m).replace(day=1 + i)})
                for m in MONTHS for i in range(3)]
        db.insert(table, spec.column_names, rows)
    for table in ("stations", "api_tokens"):
        spec = BY_NAME[table]
        db.insert(table, spec.column_names, [make_row(spec, i) for i in range(2)])


def counts(db: Database) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    for table, col in TIME_COLUMN.items():
        rows = db.query(f"SELECT toYYYYMM({col}), count() FROM {db.database}.{table} "
                        f"GROUP BY toYYYYMM({col})")
        out[table] = {int(m): int(n) for m, n in rows}
    for table in ("stations", "api_tokens", "schema_migrations"):
        out[table] = {0: int(db.query(f"SELECT count() FROM {db.database}.{table}")[0][0])}
    return out


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_retention_drops_only_what_is_older_than_the_limit(engine_db: Database) -> None:
    db = engine_db
    fill(db)
    before = counts(db)
    assert all(before[t] == {m: 3 for m in MONTHS} for t in TIME_COLUMN)

    dry = apply_retention(db, LIMITS, NOW, dry_run=True)
    assert counts(db) == before  # a dry run changes nothing
    planned = {(d.table, int(d.partition_id), d.rows) for d in dry.drops}
    assert planned == {(t, m, 3) for t, ms in EXPECTED_DROPS.items() for m in ms}
    assert all(d.bytes > 0 for d in dry.drops)

    done = apply_retention(db, LIMITS, NOW)
    assert done.drops == dry.drops
    after = counts(db)
    for table in TIME_COLUMN:
        assert after[table] == {m: 3 for m in MONTHS if m not in EXPECTED_DROPS[table]}, table
    for table in ("stations", "api_tokens", "schema_migrations"):
        assert after[table] == before[table]

    again = apply_retention(db, LIMITS, NOW)  # idempotent: nothing left to drop
    assert again.drops == []
    assert counts(db) == after


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_limit_zero_keeps_everything(engine_db: Database) -> None:
    db = engine_db
    fill(db)
    before = counts(db)
    forever = RetentionSettings(**dict.fromkeys(RetentionSettings.model_fields, 0))
    plan = apply_retention(db, forever, datetime(2100, 1, 1, tzinfo=UTC))
    assert plan.drops == []
    assert counts(db) == before


# -- the command -------------------------------------------------------------------------

def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env["BLO_CLICKHOUSE_URL"] = url
    for field in RETENTION_FIELDS.values():
        env[f"BLO_RETENTION_{field.upper()}"] = str(getattr(LIMITS, field))
    return env


def _blo(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blo", "db", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_cli_against_the_server(clickhouse_server: ClickHouseServer, clickhouse_db: Database,
                                tmp_path: Path) -> None:
    db = clickhouse_db
    fill(db)
    before = counts(db)
    env = _env(clickhouse_server.url(db.database))
    now = "2024-07-15T00:00:00"

    dry = _blo(env, "retention", "--dry-run", "--now", now, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert counts(db) == before
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("limits (days, 0 = for ever): events live 61, "
                               "events reports 0, dlq 44, ")
    listed = [ln.split()[:3] for ln in lines if ln.endswith("would drop")]
    assert sorted(listed) == sorted(
        [t, ALL if t in ("dlq", "api_audit") else LIVE, str(m)]
        for t, ms in EXPECTED_DROPS.items() for m in ms)
    assert "  events live: would drop 12 rows of 4 month(s), 2024-01 .. 2024-04 " \
        "(BLO_RETENTION_EVENTS_DAYS=61)" in lines
    assert "dry run: would drop 16 partition(s) of 4 table(s): 48 rows" in dry.stdout

    real = _blo(env, "retention", "--now", now, cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert "dropped 16 partition(s) of 4 table(s): 48 rows" in real.stdout
    assert sum(len(v) for t, v in counts(db).items() if t in TIME_COLUMN) == 6 * 6 - 16

    again = _blo(env, "retention", "--now", now, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to drop" in again.stdout


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_cli_embedded_chdb(chdb_path: Path, chdb_db: Database, tmp_path: Path) -> None:
    # A directory nobody holds: the command opens it itself.
    own = _env(f"chdb://{tmp_path / 'chdb'}")
    assert _blo(own, "migrate", cwd=tmp_path).returncode == 0
    res = _blo(own, "retention", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "nothing to drop" in res.stdout
    # The session's directory is held by this process (as a worker would hold it).
    held = _env(f"chdb://{chdb_path}?database={chdb_db.database}")
    res = _blo(held, "retention", "--dry-run", cwd=tmp_path)
    assert res.returncode == 2
    assert "in use by" in res.stderr and "stop it, run retention" in res.stderr


def test_help_names_the_settings(tmp_path: Path) -> None:
    res = _blo(_env("chdb:///nonexistent"), "retention", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for field in RETENTION_FIELDS.values():
        default = RetentionSettings.model_fields[field].default
        assert re.search(rf"BLO_RETENTION_{field.upper()} .*\(default {default}\)", res.stdout)
    assert "--dry-run" in res.stdout and "--now" in res.stdout


# -- sources: count reports (imported statistics) and live events ------------------------

def _by_source(db: Database, table: str) -> dict[tuple[int, bool], int]:
    col = TIME_COLUMN[table]
    rows = db.query(f"SELECT toYYYYMM({col}) AS m, event_type = 'count_report' AS r, count() "
                    f"FROM {db.database}.{table} GROUP BY m, r")
    return {(int(m), bool(r)): int(n) for m, r, n in rows}


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_a_month_of_reports_and_live_events_keeps_its_reports(engine_db: Database) -> None:
    """Months with both sources: the expired live rows are deleted, every count report
    stays (to the row); months of live rows only are dropped; a second run finds nothing."""
    db = engine_db
    for table in ("events", "window_stats"):
        spec, col = BY_NAME[table], TIME_COLUMN[table]
        rows = [make_row(spec, i, event_type="count_report" if i < 2 else "crossing",
                         **{col: _month_start(m).replace(day=1 + i)})
                for m in MONTHS[:-1] for i in range(5)]  # 2 reports, 3 live a month
        rows += [make_row(spec, 9, event_type="crossing", **{col: _month_start(MONTHS[-1])})]
        db.insert(table, spec.column_names, rows)
    before = {t: _by_source(db, t) for t in ("events", "window_stats")}

    dry = apply_retention(db, LIMITS, NOW, dry_run=True)
    assert {t: _by_source(db, t) for t in ("events", "window_stats")} == before
    assert all(d.source == LIVE and not d.whole for d in dry.drops
               if d.table in ("events", "window_stats"))
    kept = [(k.table, k.rows) for k in dry.kept_by_source() if k.source == REPORTS]
    assert kept == [("events", 10), ("window_stats", 10)]  # 5 months x 2 reports

    apply_retention(db, LIMITS, NOW)
    for table in ("events", "window_stats"):
        gone = EXPECTED_DROPS[table]
        want = {k: n for k, n in before[table].items() if k[1] or k[0] not in gone}
        assert _by_source(db, table) == want, table
    again = apply_retention(db, LIMITS, NOW)
    assert [d for d in again.drops if d.table in ("events", "window_stats")] == []


def test_the_current_month_being_written_is_not_reported_as_unsplit() -> None:
    # inserts into this month between the two reads: nothing of it expires, so no matter
    parts = [Partition("events", "202407", 9, 90, ((LIVE, 6), (REPORTS, 2)))]
    plan = plan_retention(parts, limits_of(LIMITS), NOW)
    assert plan.unsplit == [] and plan.drops == [] and plan.kept == {"events": 1}
