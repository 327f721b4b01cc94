"""Migrations on ClickHouse 18.16 and chDB 26.9: idempotent, versioned, matching tables.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sinks.base import Database, SinkError
from sinks.migrations import current_version, load_migrations, migrate
from sinks.tables import ALL_TABLES, SCHEMA_MIGRATIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXPECTED_TABLES = {
    "events", "dlq", "stations", "events_current", "schema_migrations", "window_stats",
    "late_events", "alerts", "api_tokens", "api_audit", "api_token_use",
    "import_runs", "import_rejections", "event_revisions", "alert_mutes",
    "bulletin_editions",
}


@pytest.fixture
def db(engine_db: Database) -> Database:
    return engine_db


def tables_of(db: Database) -> set[str]:
    rows = db.query("SELECT name FROM system.tables WHERE database = %(d)s", {"d": db.database})
    return {str(r[0]) for r in rows}


@pytest.mark.parametrize("maker", ["make_clickhouse_db", "make_chdb_db"])
def test_migrate_twice_is_idempotent(maker: str, request: pytest.FixtureRequest) -> None:
    make: Callable[..., Database] = request.getfixturevalue(maker)
    db = make(migrated=False)
    assert current_version(db) == 0
    first = migrate(db)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    tables = tables_of(db)
    assert migrate(db) == []
    assert tables_of(db) == tables == EXPECTED_TABLES
    recorded = db.query(f"SELECT version, name FROM {db.database}.schema_migrations")
    assert sorted(recorded) == [(m.version, m.name) for m in load_migrations()]
    assert current_version(db) == load_migrations()[-1].version


def test_ddl_columns_equal_the_table_contract(db: Database) -> None:
    for spec in ALL_TABLES:
        rows = db.query(
            "SELECT name, type FROM system.columns WHERE database = %(d)s AND table = %(t)s",
            {"d": db.database, "t": spec.name},
        )
        assert [(str(n), str(t)) for n, t in rows] == list(spec.columns), spec.name


def test_engines(db: Database) -> None:
    rows = db.query(
        "SELECT name, engine FROM system.tables WHERE database = %(d)s "
        "AND name IN tuple('events', 'dlq', 'stations', 'events_current', 'window_stats', "
        "'late_events', 'alerts') ORDER BY name",
        {"d": db.database},
    )
    assert rows == [
        ("alerts", "ReplacingMergeTree"),
        ("dlq", "ReplacingMergeTree"),
        ("events", "ReplacingMergeTree"),
        ("events_current", "View"),
        ("late_events", "ReplacingMergeTree"),
        ("stations", "ReplacingMergeTree"),
        ("window_stats", "ReplacingMergeTree"),
    ]


def test_sorting_and_partition_keys_on_chdb(chdb_db: Database) -> None:
    # 18.16's system.tables has no key columns; the DDL text is the same on both engines.
    rows = chdb_db.query(
        "SELECT name, partition_key, sorting_key FROM system.tables WHERE database = %(d)s",
        {"d": chdb_db.database},
    )
    keys = {r[0]: (r[1], r[2]) for r in rows}
    assert keys["events"] == ("toYYYYMM(occurred_at)", "station_id, event_id")
    assert keys["dlq"] == ("toYYYYMM(failed_at)", "dlq_id")
    assert keys["stations"] == ("", "station_id, valid_from")
    assert keys["window_stats"] == (
        "toYYYYMM(window_start)",
        "window_kind, station_id, event_type, measure, dimension, window_start",
    )
    assert keys["late_events"] == (
        "toYYYYMM(window_start)", "station_id, window_kind, window_start, event_id")
    assert keys["alerts"] == ("toYYYYMM(fired_at)", "alert_id")


def test_the_storage_of_the_specs_is_that_of_the_migrations_on_chdb(chdb_db: Database) -> None:
    """Engine, its arguments and keys of sinks/tables.py's Storage (what the cluster DDL is
    generated from) against what the .sql migrations made."""
    rows = chdb_db.query(
        "SELECT name, engine, engine_full, partition_key, sorting_key FROM system.tables "
        "WHERE database = %(d)s", {"d": chdb_db.database})
    made = {str(r[0]): tuple(str(v) for v in r[1:]) for r in rows}
    for spec in (*ALL_TABLES, SCHEMA_MIGRATIONS):
        st = spec.storage
        engine, engine_full, partition_key, sorting_key = made[spec.name]
        assert engine == st.engine, spec.name
        assert engine_full.startswith(st.engine_sql() + " "), (spec.name, engine_full)
        assert (partition_key, sorting_key) == (st.partition_by, ", ".join(st.order_by))


def test_cluster_migrations_refuse_a_cluster_the_server_does_not_define(db: Database) -> None:
    # cluster DDL itself: tests/unit/sinks/test_cluster_ddl.py, tests/integration/sinks/test_cluster.py
    with pytest.raises(SinkError, match="not defined|needs a ClickHouse server"):
        migrate(db, cluster="blo_cluster")
