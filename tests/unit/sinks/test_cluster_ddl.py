"""The cluster DDL of `blo db migrate --cluster NAME` (sinks/cluster.py), as text.

Executed against a real two-node cluster in tests/integration/sinks/test_cluster.py.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sinks.cluster import (
    AUDIT_DOOR_MIGRATION,
    EVERY_NODE,
    SHARDING_KEYS,
    VIEWS,
    ClusterDDLError,
    add_column_statements,
    bootstrap_statements,
    cluster_migration_sql,
    cluster_statements,
    create_table_statements,
    local_table,
    sharding_key,
    statements_text,
)
from sinks.migrations import load_migrations
from sinks.tables import ALL_TABLES, API_AUDIT, EVENTS, STATIONS, TableSpec

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
        if s.startswith("DROP TABLE IF EXISTS "):
            # a Distributed table re-made with a column, or a view replaced
            table = s.split()[4]
            if stmts[i + 1].startswith(f"CREATE VIEW IF NOT EXISTS {table} "):
                continue
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
                    f"AS SELECT * FROM {DB}.events FINAL WHERE voided = 0")


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


def _with_note(spec: TableSpec, after: str, migration: int = 99) -> TableSpec:
    """``spec`` with a column ``note String`` after ``after``, added by ``migration``."""
    names = spec.column_names
    at = names.index(after) + 1
    return replace(spec, columns=(*spec.columns[:at], ("note", "String"), *spec.columns[at:]),
                   row_type=None,
                   storage=replace(spec.storage,
                                   added_in=(*spec.storage.added_in, ("note", migration))))


def test_add_column_alters_the_local_table_and_recreates_the_distributed_one() -> None:
    spec = _with_note(EVENTS, "event_id")
    got = add_column_statements(spec, "note", DB, CLUSTER)
    assert got[:2] == [
        "ALTER TABLE blo.events_local ON CLUSTER prod ADD COLUMN note String AFTER event_id",
        "DROP TABLE IF EXISTS blo.events ON CLUSTER prod"]
    assert got[2].startswith("CREATE TABLE IF NOT EXISTS blo.events ON CLUSTER prod\n(\n"
                             "    event_id UUID,\n    note String,\n    event_type String,\n")
    assert got[2].endswith("    correction_reason String\n)\n"
                           "ENGINE = Distributed(prod, blo, events_local, cityHash64(station_id))")
    assert add_column_statements(_with_note(STATIONS, "station_id"), "note", DB, CLUSTER) == [
        "ALTER TABLE blo.stations ON CLUSTER prod ADD COLUMN note String AFTER station_id"]
    with pytest.raises(ClusterDDLError, match="not added by a migration"):
        add_column_statements(EVENTS, "payload", DB, CLUSTER)


def test_a_distributed_table_is_remade_with_the_columns_of_its_migration() -> None:
    """A column added by a later migration is not in the Distributed table an earlier one
    re-creates."""
    spec = _with_note(EVENTS, "correction_reason", migration=98)
    spec = replace(spec, columns=(*spec.columns, ("extra", "UInt8")), row_type=None,
                   storage=replace(spec.storage,
                                   added_in=(*spec.storage.added_in, ("extra", 99))))
    note = add_column_statements(spec, "note", DB, CLUSTER)
    assert note[0].endswith("ADD COLUMN note String AFTER correction_reason")
    assert "note String\n)" in note[2] and "extra" not in note[2]
    assert "note String,\n    extra UInt8\n)" in add_column_statements(
        spec, "extra", DB, CLUSTER)[2]
    assert spec.columns_as_of(97) == EVENTS.columns
    assert [c for c, _ in API_AUDIT.columns_as_of(4)] == [c for c, _ in API_AUDIT.columns[:-1]]
    assert API_AUDIT.columns_as_of(3) == ()


def test_the_create_of_a_table_has_the_columns_of_its_migration() -> None:
    (create,) = [s for s in cluster_statements(4, DB, CLUSTER)
                 if s.startswith("CREATE TABLE IF NOT EXISTS blo.api_tokens ")]
    assert "updated_at DateTime('UTC')\n)" in create and "expires_at" not in create
    assert cluster_statements(5, DB, CLUSTER)[1] == (
        "ALTER TABLE blo.api_tokens ON CLUSTER prod ADD COLUMN expires_at DateTime('UTC') "
        "AFTER updated_at")


def test_the_specs_describe_what_each_migration_file_does() -> None:
    """The table names and added columns of the .sql files, against the specs the cluster
    DDL is generated from (the columns, types and keys themselves: against the servers, in
    tests/integration/sinks/test_migrations.py and test_cluster.py)."""
    for mig in load_migrations():
        created = {m.group(1) for st in mig.statements
                   if (m := re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)", st))}
        added = {m.groups() for st in mig.statements
                 if (m := re.match(r"ALTER TABLE \{db\}\.(\w+) ADD COLUMN (\w+)", st))}
        assert created == {t.name for t in ALL_TABLES if t.storage.created_in == mig.version}
        assert added == {(t.name, c) for t in ALL_TABLES for c, v in t.storage.added_in
                         if v == mig.version}
        views = {m.group(1) for st in mig.statements
                 if (m := re.match(r"CREATE VIEW IF NOT EXISTS \{db\}\.(\w+)", st))}
        assert views == {v.name for v in VIEWS if v.created_in == mig.version}
        audit = any("{db}_audit" in st for st in mig.statements)
        assert audit == (mig.version == AUDIT_DOOR_MIGRATION)
        assert cluster_statements(mig.version, DB, CLUSTER)


def test_a_migration_the_specs_do_not_describe_is_refused() -> None:
    last = load_migrations()[-1].version
    with pytest.raises(ClusterDDLError, match=f"migration {last + 1} has no cluster form"):
        cluster_statements(last + 1, DB, CLUSTER)


@pytest.mark.parametrize("spec, message", [
    (replace(EVENTS, name="brand_new"), "no cluster placement"),
    (replace(EVENTS, storage=replace(EVENTS.storage, engine="Memory")), "no replicated form"),
    (replace(EVENTS, storage=replace(EVENTS.storage, order_by=("event_id",))),
     "not in its ORDER BY"),
])
def test_tables_without_a_safe_cluster_form_are_refused(spec: TableSpec, message: str) -> None:
    with pytest.raises(ClusterDDLError, match=message):
        create_table_statements(spec, DB, CLUSTER)


def test_a_new_column_behind_the_audit_door_is_refused() -> None:
    with pytest.raises(ClusterDDLError, match="audit door"):
        add_column_statements(_with_note(API_AUDIT, "detail", migration=7), "note", DB,
                              CLUSTER)


def test_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError):
        cluster_statements(1, DB, "prod; DROP")
    with pytest.raises(ValueError):
        bootstrap_statements("a-b", CLUSTER)


def test_print_text_is_runnable_sql() -> None:
    text = statements_text(cluster_migration_sql(DB, CLUSTER))
    assert text.startswith("-- bootstrap\n")
    for mig in load_migrations():
        assert f"-- {mig.version:04d}_{mig.name}\n" in text
    bodies = [b for b in re.split(r";\n", text) if b.strip() and not b.strip().startswith("--")]
    assert all(b.lstrip("\n").startswith(("CREATE", "ALTER", "DROP", "-- ")) for b in bodies)
