"""The cluster DDL of `blo db migrate --cluster NAME` (sinks/cluster.py), as text.

Executed against a real two-node cluster in tests/integration/sinks/test_cluster.py.
"""

from __future__ import annotations

import re

import pytest

from sinks.cluster import (
    EVERY_NODE,
    SHARDING_KEYS,
    ClusterDDLError,
    cluster_migration_sql,
    cluster_statements,
    local_table,
    sharding_key,
    statements_text,
)
from sinks.migrations import load_migrations
from sinks.tables import ALL_TABLES

DB, CLUSTER = "blo", "prod"


def all_statements() -> list[str]:
    return [s for _, stmts in cluster_migration_sql(DB, CLUSTER) for s in stmts]


def creates() -> dict[str, str]:
    """table name -> its CREATE statement, from the whole cluster schema (the latest one of
    a Distributed table dropped and made again with an added column)."""
    out: dict[str, str] = {}
    for s in all_statements():
        dropped = re.match(r"DROP TABLE IF EXISTS blo\.(\w+) ", s)
        if dropped:
            out.pop(dropped.group(1))
        m = re.match(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS blo\.(\w+) ", s)
        if m:
            assert m.group(1) not in out, f"{m.group(1)} created twice"
            out[m.group(1)] = s
    return out


def engine_of(statement: str) -> str:
    m = re.search(r"\nENGINE = (.*?)(?:\n|$)", statement)
    assert m, statement
    return m.group(1)


def single_server_engines() -> dict[str, tuple[str, str]]:
    """table -> (engine, its arguments) as the one-server migrations create it."""
    out = {"schema_migrations": ("ReplacingMergeTree", "applied_at")}
    for mig in load_migrations():
        for st in mig.statements:
            m = re.search(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+).*?\bENGINE = (\w+)(?:\((.*?)\))?",
                          st, re.DOTALL)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3) or "")
    return out


def test_every_statement_runs_on_the_cluster_and_is_idempotent() -> None:
    stmts = all_statements()
    assert stmts
    for i, s in enumerate(stmts):
        assert f" ON CLUSTER {CLUSTER}" in s, s
        assert "{db}" not in s, s
        if s.startswith("DROP TABLE IF EXISTS "):  # a Distributed table re-made with a column
            table = s.split()[4]
            assert stmts[i + 1].startswith(f"CREATE TABLE IF NOT EXISTS {table} "), s
            assert "ENGINE = Distributed(" in stmts[i + 1], stmts[i + 1]
            continue
        assert "IF NOT EXISTS" in s or s.startswith("ALTER TABLE "), s


def test_every_table_of_the_contract_has_a_placement() -> None:
    names = {t.name for t in ALL_TABLES} | {"schema_migrations"}
    assert names == set(SHARDING_KEYS) | EVERY_NODE
    assert not set(SHARDING_KEYS) & EVERY_NODE
    made = creates()
    for name in names:
        assert name in made, f"{name} is not created on the cluster"


def test_sharded_tables_are_replicated_locals_behind_distributed_tables() -> None:
    made = creates()
    single = single_server_engines()
    for name, key in SHARDING_KEYS.items():
        local = made[f"{name}_local"]
        engine, args = single[name]
        expected_args = f"'/clickhouse/tables/{{shard}}/blo/{name}', '{{replica}}'"
        if args:  # the version column of a ReplacingMergeTree is kept
            expected_args += f", {args}"
        assert engine_of(local) == f"Replicated{engine}({expected_args})"
        assert engine_of(made[name]) == f"Distributed({CLUSTER}, {DB}, {name}_local, {key})"
        assert local_table(name) == f"{name}_local"


def test_columns_partitioning_and_order_are_those_of_the_single_server_table() -> None:
    made = creates()
    added = {m.groups() for s in all_statements() if (m := re.match(
        rf"ALTER TABLE blo\.(\w+) ON CLUSTER {CLUSTER} ADD COLUMN (\w+) ", s))}
    for spec in ALL_TABLES:
        for name in {spec.name, local_table(spec.name)}:
            stmt = made[name]
            for col, ch_type in spec.columns:
                if (name, col) in added:  # a later migration's ALTER TABLE ... ADD COLUMN
                    continue
                assert re.search(rf"\n\s+{col}\s+{re.escape(ch_type)},?\n", stmt), (name, col)
    events_local = made["events_local"]
    assert "\nPARTITION BY toYYYYMM(occurred_at)\nORDER BY (station_id, event_id)" in events_local
    assert "PARTITION BY" not in made["events"]  # the Distributed table stores nothing


def test_station_sharding_and_keys_within_the_dedup_key() -> None:
    for name in ("events", "window_stats", "late_events"):
        assert sharding_key(name) == "cityHash64(station_id)"
    assert sharding_key("dlq") == "cityHash64(dlq_id)"
    assert sharding_key("alerts") == "cityHash64(toString(alert_id))"  # 18.16: no UUID hash
    assert sharding_key("api_audit") == "cityHash64(token_id)"
    for key in SHARDING_KEYS.values():
        assert "rand" not in key


def test_small_tables_are_replicated_to_every_node() -> None:
    made = creates()
    single = single_server_engines()
    for name in EVERY_NODE:
        engine, args = single[name]
        expected = f"Replicated{engine}('/clickhouse/tables/all/blo/{name}', '{{replica}}'"
        assert engine_of(made[name]) == expected + (f", {args})" if args else ")")
        assert "Distributed" not in made[name]
        assert f"{name}_local" not in made
        assert sharding_key(name) is None and local_table(name) == name


def test_database_and_view() -> None:
    stmts = all_statements()
    assert stmts[0] == f"CREATE DATABASE IF NOT EXISTS {DB} ON CLUSTER {CLUSTER}"
    view = creates()["events_current"]
    assert view == (f"CREATE VIEW IF NOT EXISTS {DB}.events_current ON CLUSTER {CLUSTER} "
                    f"AS SELECT * FROM {DB}.events FINAL")


def test_local_tables_come_before_their_distributed_tables() -> None:
    stmts = all_statements()
    index = {}
    for i, s in enumerate(stmts):
        m = re.match(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS blo\.(\w+) ", s)
        if m:
            index[m.group(1)] = i
    for name in SHARDING_KEYS:
        assert index[f"{name}_local"] < index[name]
    assert index["events"] < index["events_current"]


def test_add_column_alters_the_local_table_and_recreates_the_distributed_one() -> None:
    columns: dict[str, list[str]] = {}
    create = ("CREATE TABLE IF NOT EXISTS {db}.events (station_id String, event_id UUID, "
              "n Nullable(Float64)) ENGINE = ReplacingMergeTree(v) ORDER BY (station_id, event_id)")
    cluster_statements(create, DB, CLUSTER, columns)
    assert columns["events"] == ["station_id String", "event_id UUID", "n Nullable(Float64)"]
    st = "ALTER TABLE {db}.events ADD COLUMN note String DEFAULT 'x, y' AFTER event_id"
    assert cluster_statements(st, DB, CLUSTER, columns) == [
        ("ALTER TABLE blo.events_local ON CLUSTER prod ADD COLUMN note String DEFAULT 'x, y' "
        "AFTER event_id"),
        "DROP TABLE IF EXISTS blo.events ON CLUSTER prod",
        ("CREATE TABLE IF NOT EXISTS blo.events ON CLUSTER prod\n(\n    station_id String,\n"
        "    event_id UUID,\n    note String DEFAULT 'x, y',\n    n Nullable(Float64)\n)\n"
        "ENGINE = Distributed(prod, blo, events_local, cityHash64(station_id))"),
    ]
    st2 = "ALTER TABLE {db}.events ADD COLUMN last UInt8"
    assert cluster_statements(st2, DB, CLUSTER, columns)[2].endswith(
        "n Nullable(Float64),\n    last UInt8\n)\n"
        "ENGINE = Distributed(prod, blo, events_local, cityHash64(station_id))")
    assert cluster_statements(st2, DB, CLUSTER, columns)[2].count("last UInt8") == 1  # a rerun
    with pytest.raises(ClusterDDLError, match="needs its columns"):
        cluster_statements(st, DB, CLUSTER)
    st = "ALTER TABLE {db}.stations ADD COLUMN note String"
    assert cluster_statements(st, DB, CLUSTER) == [
        "ALTER TABLE blo.stations ON CLUSTER prod ADD COLUMN note String"]


def test_columns_of_the_real_migrations_are_tracked() -> None:
    columns: dict[str, list[str]] = {}
    for mig in load_migrations():
        for st in mig.statements:
            cluster_statements(st, DB, CLUSTER, columns)
    for spec in ALL_TABLES:
        assert [" ".join(c.split()) for c in columns[spec.name]] == [
            f"{n} {t}" for n, t in spec.columns], spec.name


@pytest.mark.parametrize("statement, message", [
    ("CREATE TABLE IF NOT EXISTS {db}.brand_new (a String) ENGINE = MergeTree ORDER BY a",
     "no cluster placement"),
    ("CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv TO {db}.x AS SELECT 1", "no cluster form"),
    ("ALTER TABLE {db}.events DROP COLUMN payload", "no cluster form"),
    ("CREATE TABLE {db}.events (a String) ENGINE = MergeTree ORDER BY a", "no cluster form"),
    ("CREATE TABLE IF NOT EXISTS {db}.events (station_id String) ENGINE = Memory",
     "no replicated form"),
    (("CREATE TABLE IF NOT EXISTS {db}.events (station_id String, x String) "
     "ENGINE = ReplacingMergeTree ORDER BY x"), "not in its ORDER BY"),
])
def test_statements_without_a_safe_cluster_form_are_refused(statement: str, message: str) -> None:
    with pytest.raises(ClusterDDLError, match=message):
        cluster_statements(statement, DB, CLUSTER)


def test_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError):
        cluster_statements("CREATE DATABASE IF NOT EXISTS {db}", DB, "prod; DROP")
    with pytest.raises(ValueError):
        cluster_statements("CREATE DATABASE IF NOT EXISTS {db}", "a-b", CLUSTER)


def test_print_text_is_runnable_sql() -> None:
    text = statements_text(cluster_migration_sql(DB, CLUSTER))
    assert text.startswith("-- bootstrap\n")
    for mig in load_migrations():
        assert f"-- {mig.version:04d}_{mig.name}\n" in text
    bodies = [b for b in re.split(r";\n", text) if b.strip() and not b.strip().startswith("--")]
    assert all(b.lstrip("\n").startswith(("CREATE", "ALTER", "DROP", "-- ")) for b in bodies)
