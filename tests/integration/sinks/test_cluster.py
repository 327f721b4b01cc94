"""`blo db migrate --cluster` and retention on a real two-shard cluster: two Debian
clickhouse-server 18.16 nodes and Debian's ZooKeeper 3.8, on loopback ports
(blo/localservices/clickhouse_cluster.py).

What is checked: the DDL runs ON CLUSTER from one node and creates the schema on both; the
worker's kind of insert (columnar, through ServerDatabase) into the Distributed tables is
synchronous (every shard has its rows when the insert returns) and puts each station on one
shard, so a redelivered batch collapses under FINAL; the id-conflict lookup and the view
work through the Distributed table; retention drops partitions on every shard.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blo.localservices.clickhouse_cluster import LocalClickHouseCluster
from blo.localservices.clickhouse_server import ClickHouseServerError
from blo.localservices.zookeeper import ZooKeeperError
from blo.settings import ClickHouseSettings, RetentionSettings, parse_clickhouse_url
from sinks.base import SinkError, SinkUnavailable
from sinks.clickhouse import ServerDatabase
from sinks.cluster import LOCAL_SUFFIX, add_column_statements, local_table
from sinks.migrations import current_version, load_migrations, migrate
from sinks.retention import apply_retention
from sinks.tables import EVENTS, STATIONS, TableSpec
from tests.integration.sinks.factories import event_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CLUSTER = "blo_test"
ALL_VERSIONS = [m.version for m in load_migrations()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouseCluster]:
    try:
        local = LocalClickHouseCluster(tmp_path_factory.mktemp("cluster"), name=CLUSTER)
    except (ZooKeeperError, ClickHouseServerError) as e:  # not installed: says how to
        pytest.skip(f"no local ClickHouse cluster: {e}")
    with local:
        yield local


MakeNodeDb = Callable[..., ServerDatabase]


@pytest.fixture
def node_db(cluster: LocalClickHouseCluster) -> Iterator[MakeNodeDb]:
    """``node_db(i, database)``: a ServerDatabase on node ``i`` (0 or 1); every database
    used is dropped ON CLUSTER afterwards."""
    made: list[ServerDatabase] = []

    def make(i: int, database: str) -> ServerDatabase:
        db = ServerDatabase(parse_clickhouse_url(cluster.nodes[i].url(database)),
                            ClickHouseSettings.model_validate({"send_receive_timeout_s": 120}))
        made.append(db)
        return db

    yield make
    for name in sorted({db.database for db in made}):
        made[0].command(f"DROP DATABASE IF EXISTS {name} ON CLUSTER {CLUSTER}")
    for db in made:
        db.close()


def unique() -> str:
    return f"c_{uuid.uuid4().hex[:10]}"


def eventually(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def engines(db: ServerDatabase) -> dict[str, str]:
    rows = db.query("SELECT name, engine FROM system.tables WHERE database = %(d)s",
                    {"d": db.database})
    return {str(n): str(e) for n, e in rows}


@pytest.fixture
def migrated(node_db: MakeNodeDb) -> tuple[ServerDatabase, ServerDatabase]:
    name = unique()
    a, b = node_db(0, name), node_db(1, name)
    assert [m.version for m in migrate(a, cluster=CLUSTER)] == ALL_VERSIONS
    return a, b


def test_migrate_creates_the_schema_on_every_node(
        migrated: tuple[ServerDatabase, ServerDatabase]) -> None:
    a, b = migrated
    for db in (a, b):
        e = engines(db)
        assert e["events"] == "Distributed"
        assert e["events_local"] == "ReplicatedReplacingMergeTree"
        assert e["api_audit_local"] == "ReplicatedMergeTree"
        assert e["stations"] == e["api_tokens"] == e["schema_migrations"] == (
            "ReplicatedReplacingMergeTree")
        assert e["events_current"] == "View"
        assert "stations_local" not in e
    # schema_migrations is on every node: the second node knows the schema is there
    eventually(lambda: current_version(b) == ALL_VERSIONS[-1])
    assert migrate(a, cluster=CLUSTER) == []
    assert migrate(b, cluster=CLUSTER) == []


def test_inserts_are_synchronous_sharded_by_station_and_deduplicated(
        migrated: tuple[ServerDatabase, ServerDatabase]) -> None:
    a, b = migrated
    assert a.query("SELECT value FROM system.settings WHERE name = 'insert_distributed_sync'"
                   ) == [("1",)]
    stations = [f"ST-{i:02d}" for i in range(20)]
    rows = [event_row(i, station_id=stations[i % 20], event_id=uuid.uuid4())
            for i in range(200)]
    a.insert("events", EVENTS.column_names, rows)
    # synchronous: when insert() returned, both shards had their rows
    local = [db.query(f"SELECT station_id, count() FROM {db.database}.events_local "
                      "GROUP BY station_id") for db in (a, b)]
    on_shard = [{str(s): int(n) for s, n in part} for part in local]
    assert sum(sum(p.values()) for p in on_shard) == 200
    assert on_shard[0] and on_shard[1]  # both shards got some stations
    assert not set(on_shard[0]) & set(on_shard[1])  # each station on one shard only
    # a redelivered batch (same events, later ingested_at) goes to the same shards ...
    again = [event_row(i, station_id=r[3], event_id=r[0],
                       ingested_at=datetime(2024, 5, 2, tzinfo=UTC))
             for i, r in enumerate(rows)]
    b.insert("events", EVENTS.column_names, again)
    assert a.query(f"SELECT count() FROM {a.database}.events")[0][0] == 400
    # ... so FINAL through the Distributed table and the view collapse it exactly
    assert b.query(f"SELECT count() FROM {b.database}.events FINAL")[0][0] == 200
    assert a.query(f"SELECT count() FROM {a.database}.events_current")[0][0] == 200
    # the id-conflict lookup sends its ids to every shard (external table)
    wanted = [rows[0], rows[1], rows[2]]
    found = b.stored_body_hashes(sorted({str(r[3]) for r in wanted}), [r[0] for r in wanted])
    assert found == {r[0]: r[EVENTS.column_names.index("body_hash")] for r in wanted}


def test_stations_are_on_every_node(migrated: tuple[ServerDatabase, ServerDatabase]) -> None:
    from sinks.tables import STATIONS
    from tests.integration.sinks.factories import station_row

    a, b = migrated
    a.insert("stations", STATIONS.column_names, [station_row(i) for i in range(5)])
    eventually(lambda: b.query(f"SELECT count() FROM {b.database}.stations")[0][0] == 5)


def test_add_column_on_the_cluster(migrated: tuple[ServerDatabase, ServerDatabase]) -> None:
    from sinks.cluster import _run

    a, b = migrated
    a.insert("events", EVENTS.column_names, [event_row(i, event_id=uuid.uuid4())
                                             for i in range(10)])
    for spec in (EVENTS, STATIONS):
        with_note = _with_note(spec, "station_id")
        for _ in range(2):  # the repeat of an interrupted migration is harmless
            for sql in add_column_statements(with_note, "note", a.database, CLUSTER):
                _run(a, sql, "test")
    def has_note(db: ServerDatabase, table: str) -> bool:
        return bool(db.query(
            "SELECT count() FROM system.columns WHERE database = %(d)s AND table = %(t)s "
            "AND name = 'note'", {"d": db.database, "t": table})[0][0])

    for db in (a, b):
        for table in ("events", "events_local", "stations"):
            eventually(functools.partial(has_note, db, table))
        assert engines(db)["events"] == "Distributed"
        assert db.query(f"SELECT count(), max(note) FROM {db.database}.events") == [(10, "")]
    a.insert("events", (*EVENTS.column_names, "note"),
             [(*event_row(i, event_id=uuid.uuid4()), "hello") for i in range(5)])
    assert b.query(f"SELECT count() FROM {b.database}.events WHERE note = 'hello'") == [(5,)]
    assert b.query(f"SELECT count() FROM {b.database}.events_current") == [(15,)]


def _with_note(spec: TableSpec, after: str) -> TableSpec:
    """``spec`` with a column ``note String`` after ``after``, as a migration 99 adds it."""
    at = spec.column_names.index(after) + 1
    return replace(spec, row_type=None,
                   columns=(*spec.columns[:at], ("note", "String"), *spec.columns[at:]),
                   storage=replace(spec.storage, added_in=(("note", 99),)))


def _schema(db: ServerDatabase, database: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """table -> (its engine, its (column, type) in order) in ``database``."""
    engines = dict(db.query("SELECT name, engine FROM system.tables WHERE database = %(d)s",
                            {"d": database}))
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, name, ch_type in db.query(
            "SELECT table, name, type FROM system.columns WHERE database = %(d)s",
            {"d": database}):
        columns.setdefault(str(table), []).append((str(name), str(ch_type)))
    return {str(t): (str(e), columns.get(str(t), [])) for t, e in engines.items()}


def _keys(db: ServerDatabase, database: str, table: str) -> tuple[list[str], str]:
    """The engine's own arguments (after a replicated engine's path and replica) and the
    PARTITION BY / ORDER BY of ``table``, as the server prints its CREATE (18.16's
    system.tables has no key columns)."""
    (create,) = db.query(f"SHOW CREATE TABLE {database}.{table}")[0]
    m = re.search(r"\) ENGINE = (\w+)(?:\((.*?)\))? ((?:PARTITION BY .*?)?ORDER BY .*?)"
                  r"(?: SETTINGS .*)?$", str(create))
    assert m, create
    args = [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
    if m.group(1).startswith("Replicated"):
        args = args[2:]
    return args, m.group(3)


def test_the_generated_cluster_schema_is_the_one_of_the_migrations(
        migrated: tuple[ServerDatabase, ServerDatabase], node_db: MakeNodeDb) -> None:
    """The cluster DDL is generated from the table specs, the one-server schema comes from
    the .sql migrations: on the same server, both give every table, view and audit door
    table the same columns and types in the same order, and every table the same engine
    (replicated) and keys."""
    a, _ = migrated
    one = node_db(0, unique())
    migrate(one)  # the .sql files, without --cluster
    for database, suffix in ((a.database, ""), (a.database, "_audit")):
        single = _schema(one, one.database + suffix)
        cluster = _schema(a, database + suffix)
        assert single
        for table, (engine, columns) in single.items():
            assert cluster[table][1] == columns, (suffix, table)
            local = local_table(table) if engine.endswith("MergeTree") and not suffix \
                else table
            assert cluster[local][1] == columns, (suffix, local)
            if local != table:
                assert cluster[table][0] == "Distributed"
            if engine.endswith("MergeTree"):
                assert cluster[local][0] == "Replicated" + engine, table
                assert _keys(a, database, local) == _keys(one, one.database, table)
            else:
                assert cluster[local][0] == engine, table
        extra = set(cluster) - set(single) - {t + LOCAL_SUFFIX for t in single}
        assert not extra, extra


def test_retention_drops_on_every_shard(migrated: tuple[ServerDatabase, ServerDatabase]) -> None:
    a, b = migrated
    rows = [event_row(i, station_id=f"ST-{i % 10}", event_id=uuid.uuid4(),
                      occurred_at=datetime(2024, 1 + i % 6, 10, tzinfo=UTC))
            for i in range(120)]
    a.insert("events", EVENTS.column_names, rows)

    def months() -> dict[int, int]:
        got = b.query(f"SELECT toYYYYMM(occurred_at), count() FROM {b.database}.events "
                      "GROUP BY toYYYYMM(occurred_at)")
        return {int(m): int(n) for m, n in got}

    assert months() == {202401 + k: 20 for k in range(6)}
    limits = RetentionSettings.model_validate({"events_days": 61})  # cutoff 2024-05-15
    now = datetime(2024, 7, 15, tzinfo=UTC)
    dry = apply_retention(b, limits, now, dry_run=True, cluster=CLUSTER)
    assert [(d.table, d.partition_id, d.rows) for d in dry.drops] == [
        ("events", f"20240{m}", 20) for m in range(1, 5)]
    assert months() == {202401 + k: 20 for k in range(6)}
    apply_retention(b, limits, now, cluster=CLUSTER)
    assert months() == {202405: 20, 202406: 20}
    for db in (a, b):  # gone from both shards' local tables
        assert db.query(f"SELECT count() FROM {db.database}.events_local "
                        "WHERE occurred_at < toDateTime('2024-05-01 00:00:00')")[0][0] == 0


def test_an_insert_with_a_shard_down_fails_instead_of_returning(
        cluster: LocalClickHouseCluster,
        migrated: tuple[ServerDatabase, ServerDatabase]) -> None:
    """Synchronous inserts: while a shard is down the insert raises (asynchronous ones would
    return at once and leave the rows in a queue), so the worker never commits offsets of
    rows a shard does not have. 18.16 answers code 279 (ALL_CONNECTION_TRIES_FAILED), which
    the sink retries (SinkUnavailable) until the shard is back."""
    a, _ = migrated
    rows = [event_row(i, station_id=f"ST-{i}", event_id=uuid.uuid4()) for i in range(20)]
    cluster.nodes[1].stop()
    try:
        with pytest.raises(SinkUnavailable, match="279"):
            a.insert("events", EVENTS.column_names, rows)
    finally:
        cluster.nodes[1].start()
    a.insert("events", EVENTS.column_names, rows)  # the retry after the shard is back
    assert a.query(f"SELECT count() FROM {a.database}.events FINAL") == [(20,)]


def test_refusals(node_db: MakeNodeDb) -> None:
    db = node_db(0, unique())
    with pytest.raises(SinkError, match="not defined"):
        migrate(db, cluster="no_such_cluster")
    migrate(db)  # a one-server schema in this database
    with pytest.raises(SinkError, match="without --cluster"):
        migrate(db, cluster=CLUSTER)


def test_cli(cluster: LocalClickHouseCluster, node_db: MakeNodeDb, tmp_path: Path) -> None:
    name = unique()
    node_db(1, name)  # dropped at teardown
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env["BLO_CLICKHOUSE_URL"] = cluster.nodes[1].url(name)

    def blo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "blo", "db", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=180,
                              check=False)

    printed = blo("migrate", "--cluster", CLUSTER, "--print")
    assert printed.returncode == 0, printed.stderr
    assert f"CREATE TABLE IF NOT EXISTS {name}.events_local ON CLUSTER {CLUSTER}" in (
        printed.stdout)
    assert not engines(node_db(0, name))  # --print changed nothing
    res = blo("migrate", "--cluster", CLUSTER)
    assert res.returncode == 0, res.stderr
    assert f"on cluster {CLUSTER}; schema version is now {ALL_VERSIONS[-1]}" in res.stdout
    res = blo("retention", "--cluster", CLUSTER, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "nothing to drop" in res.stdout
    assert blo("migrate", "--print").returncode == 2  # --print needs --cluster
