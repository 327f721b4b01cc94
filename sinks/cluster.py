"""The schema on a ClickHouse cluster: ``ON CLUSTER`` DDL, replicated and Distributed tables.

:func:`cluster_statements` gives, for each versioned migration (``sinks/sql/NNNN_*.sql``,
written for one server), the DDL for a cluster named in the servers' ``remote_servers``,
generated from the structured table specs (:mod:`sinks.tables`: columns, and each table's
:class:`~sinks.tables.Storage` — engine, keys, the migration that creates it and those that
add its columns), :data:`VIEWS` and the audit door; never from the SQL text.
:func:`migrate_cluster` applies it (``blo db migrate --cluster NAME``, or ``--print`` to
only show it). Every statement runs ``ON CLUSTER``, so one run creates the schema on every
node; every statement stays ``IF NOT EXISTS``, so an interrupted run is simply repeated.
tests/integration/sinks/test_cluster.py checks that the result has the tables, columns,
types and keys the migrations make on one server.

Two placements (:data:`SHARDING_KEYS`, :data:`EVERY_NODE`):

* **Sharded** tables (events, window_stats, late_events, dlq, alerts, api_audit): the data
  lives in ``<t>_local`` (``Replicated<Engine>('/clickhouse/tables/{shard}/<db>/<t>',
  '{replica}', <the engine's own arguments>)``, same columns, PARTITION BY and ORDER BY, so
  the ReplacingMergeTree version column is kept) and ``<t>`` becomes
  ``Distributed(<cluster>, <db>, <t>_local, <sharding key>)`` with the same columns: every
  reader and writer keeps using the old names. The sharding key is always an expression of
  the table's ORDER BY columns (checked): rows that replace one another (a redelivered
  event, a newer version of a window row or an alert) land on the same shard, where
  ``FINAL`` and merges can collapse them. Events, window rows and late events are sharded by
  station (``cityHash64(station_id)``, the first column of their keys). dlq is keyed by
  ``dlq_id`` alone (``station_id`` is not part of its key and is empty for a record too
  broken to name its station), alerts by ``alert_id`` (18.16's ``cityHash64`` takes no
  UUID, hence ``toString``), the API audit log by ``token_id``. ``rand()`` is never used:
  a retried insert of the same rows must go to the same shard, both for the
  ReplacingMergeTree collapse and for the replicated tables' insert de-duplication (by
  block checksum).
* **On every node** (stations, api_tokens, api_token_use, schema_migrations, import_runs,
  import_rejections, alert_mutes, bulletin_editions): small tables read whole and often (the
  station registry, token checks and last uses, the migration record, the alert mutes every
  alert list reads), or small records written rarely (import runs, a few bulletin editions
  a month). One replicated table per node under one ZooKeeper path without ``{shard}``
  (``/clickhouse/tables/all/<db>/<t>``): every node holds all rows, and reads stay local.
  So the ``{replica}`` macro must be unique across the whole cluster (the host name, the
  usual convention), not only within a shard.

Views (``events_current``) are created ``ON CLUSTER`` unchanged: they read the Distributed
table, and ``FINAL`` through it is exact because duplicates never cross shards.
A column added by a later migration (``Storage.added_in``) is added to ``<t>_local``, then
the Distributed ``<t>`` is created again with the new columns (18.16 refuses ``ALTER ... ON
CLUSTER`` of a Distributed table over replicated shards; stop the workers while such a
migration runs). A migration the specs do not describe raises :class:`ClusterDDLError`, as
does a table without a placement here (a new kind of migration, or a new table, must get a
deliberate cluster form: a unit test fails until it has one).

Inserts into a Distributed table are asynchronous by default: the node keeps the rows in a
local queue and returns before the shards have them, which would break the worker's
commit-after-write. The servers must run the worker's user with
``insert_distributed_sync = 1`` (the same name on 18.16 and, as an alias of
``distributed_foreground_insert``, on current releases); docs/clickhouse.md shows the
profile. :func:`check_cluster` refuses to migrate when the connecting user lacks it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sinks.base import Database, SinkError, SinkWriteError
from sinks.migrations import MIGRATIONS_TABLE, Migration, applied_versions, load_migrations
from sinks.sql import check_identifier, quote_string
from sinks.tables import ALL_TABLES, SCHEMA_MIGRATIONS, TableSpec

log = logging.getLogger(__name__)

LOCAL_SUFFIX = "_local"
ZK_PREFIX = "/clickhouse/tables"
SYNC_INSERT_SETTING = "insert_distributed_sync"

# table -> sharding key of its Distributed table (an expression of its ORDER BY columns)
SHARDING_KEYS: dict[str, str] = {
    "events": "cityHash64(station_id)",
    "window_stats": "cityHash64(station_id)",
    "late_events": "cityHash64(station_id)",
    "dlq": "cityHash64(dlq_id)",
    "alerts": "cityHash64(toString(alert_id))",
    "api_audit": "cityHash64(token_id)",
    "event_revisions": "cityHash64(station_id)",
}
# tables replicated in full to every node (no Distributed table)
EVERY_NODE: frozenset[str] = frozenset({"stations", "api_tokens", "api_token_use",
                                       "schema_migrations", "import_runs", "import_rejections",
                                       "alert_mutes", "bulletin_editions"})


@dataclass(frozen=True)
class View:
    """A view of a migration: ``CREATE VIEW IF NOT EXISTS {db}.<name> AS <select>``."""

    name: str
    select: str  # with the ``{db}`` placeholder
    created_in: int
    replaces: bool = False  # drops the view of the same name an earlier migration made


VIEWS: tuple[View, ...] = (
    View("events_current", "SELECT * FROM {db}.events FINAL", 1),
    View("events_current", "SELECT * FROM {db}.events FINAL WHERE voided = 0", 8,
         replaces=True),
)
"""The views of the migrations (sinks/sql), created ``ON CLUSTER`` unchanged."""

# the API's audit door (migration 0006, docs/deployment.md): database {db}_audit holds Null
# tables of the same columns and materialized views <t>_feed into {db}.<t>, the same on
# every node (a view writes into the Distributed api_audit, which places each row on its
# shard, or into the node's replica of api_token_use)
AUDIT_SUFFIX = "_audit"
AUDIT_DOOR_MIGRATION = 6
AUDIT_DOOR_TABLES = ("api_audit", "api_token_use")

_MERGE_TREES = frozenset({
    "MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree",
    "CollapsingMergeTree", "VersionedCollapsingMergeTree",
})
_IDENT = re.compile(r"[A-Za-z_]\w*")
_FUNCTIONS = frozenset({"cityHash64", "sipHash64", "xxHash64", "toString", "intHash64"})


class ClusterDDLError(ValueError):
    """A migration has no cluster form (yet), or a placement rule is broken."""


def sharding_key(table: str) -> str | None:
    """The Distributed sharding key of ``table``; ``None`` for a table on every node.
    Raises :class:`ClusterDDLError` for a table with no placement decided."""
    if table in EVERY_NODE:
        return None
    try:
        return SHARDING_KEYS[table]
    except KeyError:
        raise ClusterDDLError(
            f"table {table!r} has no cluster placement: add it to SHARDING_KEYS (with a key "
            "made of its ORDER BY columns) or EVERY_NODE in sinks/cluster.py"
        ) from None


def _columns_sql(columns: Sequence[tuple[str, str]]) -> str:
    return "(\n    " + ",\n    ".join(f"{c} {t}" for c, t in columns) + "\n)"


def _replicated_engine(spec: TableSpec, db: str, shard: str) -> str:
    st = spec.storage
    if st.engine not in _MERGE_TREES:
        raise ClusterDDLError(f"table {spec.name}: engine {st.engine} has no replicated "
                              "form (only the MergeTree family does)")
    path = f"{ZK_PREFIX}/{shard}/{db}/{spec.name}"
    args = [quote_string(path), "'{replica}'", *st.engine_args]
    return f"Replicated{st.engine}({', '.join(args)})"


def create_table_statements(spec: TableSpec, db: str, cluster: str) -> list[str]:
    """The cluster form of ``CREATE TABLE`` of ``spec`` as its migration creates it (the
    columns of :meth:`TableSpec.columns_as_of` its ``created_in``): a replicated table on
    every node, or the replicated ``<t>_local`` and the Distributed ``<t>`` over it."""
    check_identifier(db)
    check_identifier(cluster)
    key = sharding_key(spec.name)
    columns = _columns_sql(spec.columns_as_of(spec.storage.created_in))
    clauses = spec.storage.key_sql()
    on = f"ON CLUSTER {cluster}"
    if key is None:
        engine = _replicated_engine(spec, db, "all")
        return [(f"CREATE TABLE IF NOT EXISTS {db}.{spec.name} {on}\n{columns}\n"
                f"ENGINE = {engine}\n{clauses}")]
    missing = {w for w in _IDENT.findall(key) if w not in _FUNCTIONS} - set(
        spec.storage.order_by)
    if missing:
        raise ClusterDDLError(
            f"table {spec.name}: sharding key {key} uses {sorted(missing)}, not in its "
            "ORDER BY: rows that replace each other could land on different shards")
    engine = _replicated_engine(spec, db, "{shard}")
    return [(f"CREATE TABLE IF NOT EXISTS {db}.{spec.name}{LOCAL_SUFFIX} {on}\n{columns}\n"
            f"ENGINE = {engine}\n{clauses}"),
            _distributed(db, spec.name, cluster, columns)]


def add_column_statements(spec: TableSpec, column: str, db: str, cluster: str) -> list[str]:
    """The cluster form of the migration that adds ``column`` (its ``Storage.added_in``)
    to ``spec``: ``ALTER TABLE ... ON CLUSTER ... ADD COLUMN <column> <type> AFTER <the
    column before it>`` of the replicated table; for a sharded table then the Distributed
    table dropped and created again with the columns of that migration (18.16 refuses
    ``ALTER ... ON CLUSTER`` of a Distributed table over replicated shards; it holds no
    data, inserts being synchronous)."""
    check_identifier(db)
    check_identifier(cluster)
    added = dict(spec.storage.added_in)
    if column not in added:
        raise ClusterDDLError(f"{spec.name}.{column} is not added by a migration "
                              "(Storage.added_in)")
    if spec.name in AUDIT_DOOR_TABLES and added[column] > AUDIT_DOOR_MIGRATION:
        raise ClusterDDLError(
            f"{spec.name}.{column}: a column of a table behind the audit door needs its "
            "Null table and feed view changed too (sinks/sql/0006_audit_writer.sql); "
            "give that a cluster form in sinks/cluster.py")
    columns = spec.columns_as_of(added[column])
    names = [c for c, _ in columns]
    at = names.index(column)
    if at == 0:
        raise ClusterDDLError(f"{spec.name}.{column}: an added column cannot come first")
    action = f"ADD COLUMN {column} {columns[at][1]} AFTER {names[at - 1]}"
    on = f"ON CLUSTER {cluster}"
    if sharding_key(spec.name) is None:
        return [f"ALTER TABLE {db}.{spec.name} {on} {action}"]
    return [f"ALTER TABLE {db}.{spec.name}{LOCAL_SUFFIX} {on} {action}",
            f"DROP TABLE IF EXISTS {db}.{spec.name} {on}",
            _distributed(db, spec.name, cluster, _columns_sql(columns))]


def _audit_door(db: str, on: str) -> list[str]:
    """The audit door (migration 0006) ``ON CLUSTER``: Null tables with the columns of the
    tables they feed, and the materialized views that feed them."""
    audit_db = db + AUDIT_SUFFIX
    out = [f"CREATE DATABASE IF NOT EXISTS {audit_db} {on}"]
    for spec in ALL_TABLES:
        if spec.name not in AUDIT_DOOR_TABLES:
            continue
        columns = spec.columns_as_of(AUDIT_DOOR_MIGRATION)
        names = ", ".join(c for c, _ in columns)
        out += [(f"CREATE TABLE IF NOT EXISTS {audit_db}.{spec.name} {on}\n"
                f"{_columns_sql(columns)}\nENGINE = Null"),
                (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {audit_db}.{spec.name}_feed {on} "
                f"TO {db}.{spec.name} AS SELECT {names} FROM {audit_db}.{spec.name}")]
    return out


def bootstrap_statements(db: str, cluster: str) -> list[str]:
    """The database and ``schema_migrations`` on every node (what
    ``sinks.migrations._bootstrap`` creates on one server)."""
    check_identifier(db)
    check_identifier(cluster)
    return [f"CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER {cluster}",
            *create_table_statements(SCHEMA_MIGRATIONS, db, cluster)]


def cluster_statements(migration: int, db: str, cluster: str) -> list[str]:
    """The cluster DDL of migration number ``migration`` for database ``db`` on ``cluster``,
    generated from the table specs (:mod:`sinks.tables`: the tables it creates, the columns
    it adds), :data:`VIEWS` and the audit door. Raises :class:`ClusterDDLError` when the
    migration has no cluster form (a new migration that the specs do not describe yet)."""
    check_identifier(db)
    check_identifier(cluster)
    on = f"ON CLUSTER {cluster}"
    out: list[str] = []
    for spec in ALL_TABLES:
        if spec.storage.created_in == migration:
            out += create_table_statements(spec, db, cluster)
    for spec in ALL_TABLES:
        for column, version in spec.storage.added_in:
            if version == migration:
                out += add_column_statements(spec, column, db, cluster)
    for view in VIEWS:
        if view.created_in == migration:
            select = view.select.replace("{db}", db)
            if view.replaces:
                out.append(f"DROP TABLE IF EXISTS {db}.{view.name} {on}")
            out.append(f"CREATE VIEW IF NOT EXISTS {db}.{view.name} {on} AS {select}")
    if migration == AUDIT_DOOR_MIGRATION:
        out += _audit_door(db, on)
    if not out:
        raise ClusterDDLError(
            f"migration {migration} has no cluster form: describe what it does in the table "
            "specs (sinks/tables.py: Storage.created_in / added_in) or in sinks/cluster.py")
    return out


def _distributed(db: str, table: str, cluster: str, columns: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster}\n{columns}\n"
            f"ENGINE = Distributed({cluster}, {db}, {table}{LOCAL_SUFFIX}, "
            f"{sharding_key(table)})")


def _translated(db: str, cluster: str) -> list[tuple[Migration | None, list[str]]]:
    """The bootstrap (``None``) and every migration, translated in order."""
    out: list[tuple[Migration | None, list[str]]] = [(None, bootstrap_statements(db, cluster))]
    for mig in load_migrations():
        out.append((mig, cluster_statements(mig.version, db, cluster)))
    return out


def cluster_migration_sql(db: str, cluster: str) -> list[tuple[str, list[str]]]:
    """The whole cluster schema: ``(label, statements)`` for the bootstrap and each
    migration, in order (what ``blo db migrate --cluster NAME --print`` prints)."""
    return [("bootstrap" if mig is None else f"{mig.version:04d}_{mig.name}", stmts)
            for mig, stmts in _translated(db, cluster)]


def check_cluster(db: Database, cluster: str) -> None:
    """Refuse, with the reason, what would make a cluster schema wrong: not a server, a
    cluster this server does not know, missing ``{shard}``/``{replica}`` macros, inserts not
    synchronous for this user, or a database already migrated without ``--cluster``."""
    check_identifier(cluster)
    if db.kind != "server":
        raise SinkError(
            f"a cluster schema needs a ClickHouse server (clickhouse://), not {db.kind}")
    hosts = db.query("SELECT count() FROM system.clusters WHERE cluster = %(c)s",
                     {"c": cluster})
    if not hosts or not hosts[0][0]:
        raise SinkError(f"cluster {cluster!r} is not defined in this server's remote_servers")
    macros = {str(r[0]) for r in db.query("SELECT macro FROM system.macros")}
    lacking = {"shard", "replica"} - macros
    if lacking:
        raise SinkError(f"this server has no {sorted(lacking)} macro(s) (<macros> in its "
                        "config): replicated tables need {shard} and {replica}")
    sync = db.query("SELECT value FROM system.settings WHERE name = %(n)s",
                    {"n": SYNC_INSERT_SETTING})
    if not sync or str(sync[0][0]) not in ("1", "true"):
        raise SinkError(
            f"{SYNC_INSERT_SETTING} is not 1 for this user: inserts into the Distributed "
            "tables would return before the shards have the rows, and the worker would "
            "commit Kafka offsets too early. Set it in the user's profile (docs/clickhouse.md)"
        )
    engine = db.query(
        "SELECT engine FROM system.tables WHERE database = %(d)s AND name = 'schema_migrations'",
        {"d": db.database},
    )
    if engine and not str(engine[0][0]).startswith("Replicated"):
        raise SinkError(
            f"database {db.database} was migrated without --cluster (its tables are not "
            "replicated); a cluster schema needs a new database (copy the data over with "
            "INSERT ... SELECT)"
        )


def migrate_cluster(db: Database, cluster: str) -> list[Migration]:
    """:func:`sinks.migrations.migrate` for a cluster: check it (:func:`check_cluster`),
    create the database and ``schema_migrations`` on every node, apply the missing
    migrations as :func:`cluster_statements`, record each. Returns the migrations applied."""
    check_cluster(db, cluster)
    name = db.database
    translated = _translated(name, cluster)
    for sql in translated[0][1]:  # the bootstrap
        db.command(sql)
    done = applied_versions(db)
    applied: list[Migration] = []
    for mig, statements in translated[1:]:
        assert mig is not None
        if mig.version in done:
            continue
        log.info("applying migration %04d_%s to %s on cluster %s",
                 mig.version, mig.name, name, cluster)
        for sql in statements:
            _run(db, sql, f"migration {mig.version:04d}_{mig.name}")
        now = datetime.now(UTC).replace(microsecond=0)
        db.insert(MIGRATIONS_TABLE, ("version", "name", "applied_at"),
                  [(mig.version, mig.name, now)])
        applied.append(mig)
    return applied


def _run(db: Database, sql: str, what: str) -> None:
    try:
        db.command(sql)
    except SinkWriteError as e:
        # 18.16 has no ADD COLUMN IF NOT EXISTS: a repeated (or, on a table replicated to
        # every node, a second node's) ADD COLUMN reports the column as existing.
        if _ADD_COLUMN_SQL.search(sql) and "already exists" in str(e):
            log.info("%s: column exists already", what)
            return
        raise SinkWriteError(f"{what}: {e}") from e


_ADD_COLUMN_SQL = re.compile(r"^\s*ALTER\s+TABLE\s+\S+\s+ON\s+CLUSTER\s+\w+\s+ADD\s+COLUMN\s",
                             re.IGNORECASE)


def local_table(table: str) -> str:
    """The table holding ``table``'s rows on each node of a cluster schema."""
    return table if sharding_key(table) is None else table + LOCAL_SUFFIX


def statements_text(sections: Sequence[tuple[str, list[str]]]) -> str:
    """``--print`` output: each section as SQL comments and statements ending with ``;``."""
    parts = []
    for label, statements in sections:
        parts.append(f"-- {label}")
        parts.extend(f"{s};" for s in statements)
        parts.append("")
    return "\n".join(parts)
