"""Retention (sinks/retention.py, `blo db retention`): monthly partitions older than each
table's limit are dropped, nothing else is touched; on ClickHouse 18.16 and chDB 26.9."""

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


def test_plan_drops_only_whole_months_older_than_the_limit() -> None:
    parts = [Partition(t, str(m), rows=m % 100, bytes=10) for t in TIME_COLUMN for m in MONTHS]
    plan = plan_retention(parts, limits_of(LIMITS), NOW)
    dropped: dict[str, list[int]] = {t: [] for t in TIME_COLUMN}
    for d in plan.drops:
        dropped[d.table].append(int(d.partition_id))
        assert d.month_end <= NOW - timedelta(days=d.limit_days)
        assert d.limit_days == limits_of(LIMITS)[d.table]
    assert dropped == EXPECTED_DROPS
    assert plan.kept["late_events"] == 6 and plan.kept["alerts"] == 6
    assert plan.kept["window_stats"] == 2  # May (one day inside the limit) and June
    assert plan.rows == sum(m % 100 for ms in EXPECTED_DROPS.values() for m in ms)
    assert plan.bytes == 10 * len(plan.drops)


def test_plan_boundary_is_inclusive_and_naive_now_is_utc() -> None:
    p = [Partition("events", "202405")]
    end = datetime(2024, 6, 1, tzinfo=UTC)
    assert plan_retention(p, {"events": 10}, datetime(2024, 6, 11)).drops  # end == now - 10d
    assert not plan_retention(p, {"events": 10}, datetime(2024, 6, 10, 23, 59, 59)).drops
    assert plan_retention(p, {"events": 10}, datetime(2024, 6, 11)).drops[0].month_end == end
    later = datetime(2024, 6, 11, 5, 0, tzinfo=UTC).astimezone()  # any zone: same instant
    assert plan_retention(p, {"events": 10}, later).drops


def test_plan_never_touches_tables_without_a_limit_or_odd_partitions() -> None:
    parts = [Partition("stations", "202401"), Partition("api_tokens", "202401"),
             Partition("schema_migrations", "all"), Partition("events", "all"),
             Partition("events", "20240101")]
    plan = plan_retention(parts, {"events": 1, "stations": 0}, NOW)
    assert plan.drops == []
    assert [p.partition_id for p in plan.unrecognised] == ["20240101", "all"]


def test_drop_sql() -> None:
    [d] = plan_retention([Partition("events", "202401")], {"events": 1}, NOW).drops
    assert drop_sql("blo", d) == "ALTER TABLE blo.events DROP PARTITION ID '202401'"
    assert drop_sql("blo", d, cluster="prod") == (
        "ALTER TABLE blo.events_local ON CLUSTER prod DROP PARTITION ID '202401'")


def test_every_retention_setting_has_a_table() -> None:
    assert set(RETENTION_FIELDS.values()) == set(RetentionSettings.model_fields)
    assert set(RETENTION_FIELDS) == set(TIME_COLUMN)


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
    assert lines[0].startswith("limits (days, 0 = for ever): events 61, dlq 44, ")
    listed = [ln.split()[:2] for ln in lines if ln.endswith("would drop")]
    assert sorted(listed) == sorted([t, str(m)] for t, ms in EXPECTED_DROPS.items() for m in ms)
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
