"""The schema on a ClickHouse cluster: ``ON CLUSTER`` DDL, replicated and Distributed tables.

:func:`cluster_statements` turns each statement of the versioned migrations
(``sinks/sql/NNNN_*.sql``, written for one server) into the DDL for a cluster named in
the servers' ``remote_servers``; :func:`migrate_cluster` applies it (``blo db migrate
--cluster NAME``, or ``--print`` to only show it). Every statement runs ``ON CLUSTER``, so
one run creates the schema on every node; every statement stays ``IF NOT EXISTS``, so an
interrupted run is simply repeated.

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
* **On every node** (stations, api_tokens, api_token_use, schema_migrations): small tables
  read whole and often (the station registry, token checks and last uses, the migration
  record). One replicated table per node under one ZooKeeper path without ``{shard}``
  (``/clickhouse/tables/all/<db>/<t>``): every node holds all rows, and reads stay local.
  So the ``{replica}`` macro must be unique across the whole cluster (the host name, the
  usual convention), not only within a shard.

Views (``events_current``) are created ``ON CLUSTER`` unchanged: they read the Distributed
table, and ``FINAL`` through it is exact because duplicates never cross shards.
``ALTER TABLE ... ADD COLUMN`` of a sharded table is applied to ``<t>_local``, then the
Distributed ``<t>`` is created again with the new columns (18.16 refuses ``ALTER ... ON
CLUSTER`` of a Distributed table over replicated shards; stop the workers while such a
migration runs). Any other statement raises :class:`ClusterDDLError` (a new kind of
migration statement, or a new table, must get a deliberate cluster form here: a unit test
fails until it has one).

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
}
# tables replicated in full to every node (no Distributed table)
EVERY_NODE: frozenset[str] = frozenset({"stations", "api_tokens", "api_token_use",
                                       "schema_migrations"})

# schema_migrations as sinks.migrations._bootstrap creates it on one server
BOOTSTRAP_STATEMENTS: tuple[str, ...] = (
    "CREATE DATABASE IF NOT EXISTS {db}",
    ("CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
     "(version UInt32, name String, applied_at DateTime('UTC')) "
     "ENGINE = ReplacingMergeTree(applied_at) ORDER BY version"),
)

_MERGE_TREES = frozenset({
    "MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree",
    "CollapsingMergeTree", "VersionedCollapsingMergeTree",
})
_CREATE_DATABASE = re.compile(r"^CREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\s+\{db\}$", re.IGNORECASE)
# the API's audit door (migration 0006, docs/deployment.md): database {db}_audit holds Null
# tables and materialized views into {db}.api_audit / {db}.api_token_use, the same on every
# node (a view writes into the Distributed api_audit, which places each row on its shard,
# or into the node's replica of api_token_use)
AUDIT_SUFFIX = "_audit"
_AUDIT_DATABASE = re.compile(r"^CREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\s+\{db\}_audit$",
                             re.IGNORECASE)
_AUDIT_NULL_TABLE = re.compile(
    r"^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+\{db\}_audit\.(\w+)\s*(\(.*\))\s*ENGINE\s*=\s*Null$",
    re.IGNORECASE | re.DOTALL)
_AUDIT_VIEW = re.compile(
    r"^CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+\{db\}_audit\.(\w+)\s+"
    r"(TO\s+\{db\}\.(?:api_audit|api_token_use)\s+AS\s.*)$", re.IGNORECASE | re.DOTALL)
_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+\{db\}\.(\w+)\s*\(", re.IGNORECASE)
_ENGINE = re.compile(r"^\s*ENGINE\s*=\s*(\w+)\s*", re.IGNORECASE)
_CREATE_VIEW = re.compile(r"^CREATE\s+VIEW\s+IF\s+NOT\s+EXISTS\s+\{db\}\.(\w+)\s+(AS\s.*)$",
                          re.IGNORECASE | re.DOTALL)
_ADD_COLUMN = re.compile(r"^ALTER\s+TABLE\s+\{db\}\.(\w+)\s+(ADD\s+COLUMN\s.*)$", re.IGNORECASE | re.DOTALL)
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+(\(.*?\)|\w+)", re.IGNORECASE | re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_FUNCTIONS = frozenset({"cityHash64", "sipHash64", "xxHash64", "toString", "intHash64"})


class ClusterDDLError(ValueError):
    """A migration statement has no cluster form (yet), or a placement rule is broken."""


@dataclass(frozen=True)
class _Table:
    name: str
    columns: str  # "(...)" as written
    engine: str
    engine_args: str  # inside the parentheses, "" if none
    rest: str  # PARTITION BY / ORDER BY / SETTINGS ... as written


def _matching_paren(text: str, start: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``start`` (quotes respected)."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ClusterDDLError(f"unbalanced parentheses in {text[:80]!r}...")


def _parse_create_table(statement: str) -> _Table | None:
    m = _CREATE_TABLE.match(statement)
    if not m:
        return None
    open_at = m.end() - 1
    close_at = _matching_paren(statement, open_at)
    columns = statement[open_at : close_at + 1]
    after = statement[close_at + 1 :]
    e = _ENGINE.match(after)
    if not e:
        raise ClusterDDLError(f"table {m.group(1)}: no ENGINE clause after the columns")
    engine, rest = e.group(1), after[e.end() :]
    args = ""
    if rest.startswith("("):
        end = _matching_paren(rest, 0)
        args, rest = rest[1:end].strip(), rest[end + 1 :]
    return _Table(m.group(1), columns, engine, args, rest.strip())


def _key_columns(expression: str) -> set[str]:
    return {w for w in _IDENT.findall(expression) if w not in _FUNCTIONS}


def _order_by_columns(table: _Table) -> set[str]:
    m = _ORDER_BY.search(table.rest)
    if not m:
        raise ClusterDDLError(f"table {table.name}: no ORDER BY")
    return _key_columns(m.group(1))


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


def _replicated_engine(table: _Table, db: str, zk_table: str, shard: str) -> str:
    if table.engine not in _MERGE_TREES:
        raise ClusterDDLError(f"table {table.name}: engine {table.engine} has no replicated "
                              "form (only the MergeTree family does)")
    path = f"{ZK_PREFIX}/{shard}/{db}/{zk_table}"
    args = [quote_string(path), "'{replica}'"]
    if table.engine_args:
        args.append(table.engine_args)
    return f"Replicated{table.engine}({', '.join(args)})"


Columns = dict[str, list[str]]  # table -> its column definitions, in order


def _split_columns(columns: str) -> list[str]:
    """``"(a String, b Nullable(Float64))"`` -> ``["a String", "b Nullable(Float64)"]``."""
    inner, out, depth, start, quote = columns.strip()[1:-1], [], 0, 0, ""
    for i, ch in enumerate(inner):
        if quote:
            if ch == quote and inner[i - 1] != "\\":
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(inner[start:i].strip())
            start = i + 1
    out.append(inner[start:].strip())
    return [c for c in out if c]


def _columns_text(defs: list[str]) -> str:
    return "(\n    " + ",\n    ".join(defs) + "\n)"


def _add_column(defs: list[str], action: str) -> list[str]:
    m = _ADD_COLUMN_ACTION.match(action)
    if not m:
        raise ClusterDDLError(f"cannot read the column of {action!r}")
    name, definition, after = m.group(1), m.group(2).strip(), m.group(3)
    if any(d.split()[0] == name for d in defs):
        return defs
    at = len(defs)
    if after:
        names = [d.split()[0] for d in defs]
        if after not in names:
            raise ClusterDDLError(f"ADD COLUMN {name} AFTER {after}: no column {after}")
        at = names.index(after) + 1
    return [*defs[:at], f"{name} {definition}", *defs[at:]]


_ADD_COLUMN_ACTION = re.compile(
    r"^ADD\s+COLUMN\s+(\w+)\s+(.*?)(?:\s+AFTER\s+(\w+))?\s*$", re.IGNORECASE | re.DOTALL)


def cluster_statements(
    statement: str, db: str, cluster: str, columns: Columns | None = None
) -> list[str]:
    """The cluster DDL for one migration ``statement`` (with its ``{db}`` placeholder), for
    database ``db`` on ``cluster``.

    ``CREATE TABLE`` of a sharded table gives two statements (the local replicated table,
    then the Distributed one). ``ALTER TABLE ... ADD COLUMN`` of a sharded table gives
    three: the ALTER of ``<t>_local``, then the Distributed table dropped and created again
    with the new column list (18.16 refuses ``ALTER ... ON CLUSTER`` of a Distributed table
    when the shards are replicated; the Distributed table holds no data, inserts being
    synchronous). That needs the columns the earlier statements created: ``columns``, a
    map this function keeps up to date, fed with every statement from the first migration
    on (:func:`cluster_migration_sql` and :func:`migrate_cluster` do). Raises
    :class:`ClusterDDLError` for a statement without a cluster form.
    """
    check_identifier(db)
    check_identifier(cluster)
    text = statement.strip().rstrip(";").strip()
    on = f"ON CLUSTER {cluster}"

    if _CREATE_DATABASE.match(text):
        return [f"CREATE DATABASE IF NOT EXISTS {db} {on}"]
    audit = _audit_door(text, db, on)
    if audit is not None:
        return audit

    table = _parse_create_table(text)
    if table is not None:
        key = sharding_key(table.name)
        rest = f"\n{table.rest}" if table.rest else ""
        if columns is not None:
            columns[table.name] = _split_columns(table.columns)
        if key is None:
            engine = _replicated_engine(table, db, table.name, "all")
            return [(f"CREATE TABLE IF NOT EXISTS {db}.{table.name} {on}\n"
                     f"{table.columns}\nENGINE = {engine}{rest}")]
        engine = _replicated_engine(table, db, table.name, "{shard}")
        missing = _key_columns(key) - _order_by_columns(table)
        if missing:
            raise ClusterDDLError(
                f"table {table.name}: sharding key {key} uses {sorted(missing)}, not in its "
                "ORDER BY: rows that replace each other could land on different shards"
            )
        local = table.name + LOCAL_SUFFIX
        return [
            (f"CREATE TABLE IF NOT EXISTS {db}.{local} {on}\n{table.columns}\n"
             f"ENGINE = {engine}{rest}"),
            _distributed(db, table.name, cluster, table.columns),
        ]

    view = _CREATE_VIEW.match(text)
    if view:
        body = view.group(2).replace("{db}", db)
        return [f"CREATE VIEW IF NOT EXISTS {db}.{view.group(1)} {on} {body}"]

    alter = _ADD_COLUMN.match(text)
    if alter:
        name, action = alter.group(1), alter.group(2).strip()
        if sharding_key(name) is None:
            if columns is not None and name in columns:
                columns[name] = _add_column(columns[name], action)
            return [f"ALTER TABLE {db}.{name} {on} {action}"]
        if columns is None or name not in columns:
            raise ClusterDDLError(
                f"ADD COLUMN of the sharded table {name} needs its columns from the earlier "
                "migrations (pass the same `columns` map through every statement)")
        columns[name] = _add_column(columns[name], action)
        return [f"ALTER TABLE {db}.{name}{LOCAL_SUFFIX} {on} {action}",
                f"DROP TABLE IF EXISTS {db}.{name} {on}",
                _distributed(db, name, cluster, _columns_text(columns[name]))]

    raise ClusterDDLError(
        "no cluster form for this migration statement (supported: CREATE DATABASE/TABLE/VIEW "
        f"IF NOT EXISTS, ALTER TABLE ADD COLUMN); extend sinks/cluster.py:\n{text[:300]}"
    )


def _audit_door(text: str, db: str, on: str) -> list[str] | None:
    """The statements of the audit door (migration 0006) ``ON CLUSTER``, else ``None``."""
    audit_db = db + AUDIT_SUFFIX
    if _AUDIT_DATABASE.match(text):
        return [f"CREATE DATABASE IF NOT EXISTS {audit_db} {on}"]
    null = _AUDIT_NULL_TABLE.match(text)
    if null:
        return [(f"CREATE TABLE IF NOT EXISTS {audit_db}.{null.group(1)} {on}\n"
                f"{null.group(2)}\nENGINE = Null")]
    view = _AUDIT_VIEW.match(text)
    if view:
        body = view.group(2).replace("{db}", db)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {audit_db}.{view.group(1)} {on} {body}"]
    return None


def _distributed(db: str, table: str, cluster: str, columns: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster}\n{columns}\n"
            f"ENGINE = Distributed({cluster}, {db}, {table}{LOCAL_SUFFIX}, "
            f"{sharding_key(table)})")


def _translated(db: str, cluster: str) -> list[tuple[Migration | None, list[str]]]:
    """The bootstrap (``None``) and every migration, translated in order with one
    ``columns`` map."""
    columns: Columns = {}
    out: list[tuple[Migration | None, list[str]]] = [
        (None, [s for st in BOOTSTRAP_STATEMENTS
                for s in cluster_statements(st, db, cluster, columns)])]
    for mig in load_migrations():
        out.append((mig, [s for st in mig.statements
                          for s in cluster_statements(st, db, cluster, columns)]))
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
