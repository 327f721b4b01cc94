"""Versioned, idempotent schema migrations for both engines.

Migrations are the files ``sinks/sql/NNNN_name.sql`` (package data of :mod:`sinks.sql`) (version ``NNNN``), applied in order
to ``db.database``; each one applied is recorded in ``<database>.schema_migrations``
(version, name, applied_at). Every statement is written to be harmless when repeated
(``IF NOT EXISTS``), so a migration interrupted half-way is simply applied again. The SQL
is the subset that ClickHouse 18.16 and chDB 26.9 both accept (tested on both).

Adding a column: add it to :mod:`sinks.tables` (with ``NNNN`` in its table's
``Storage.added_in``, from which the cluster form follows), add ``NNNN_add_x.sql`` with
``ALTER TABLE {db}.t ADD COLUMN x Type``; never edit a released migration. 18.16 has no
``ADD COLUMN IF NOT EXISTS``, so :func:`migrate` itself treats "column already exists" from
an ``ADD COLUMN`` statement as done (the repeat of an interrupted migration).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from sinks.base import Database, SinkWriteError
from sinks.sql import check_identifier

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = "schema_migrations"
_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+\S+\s+ADD\s+COLUMN\s", re.IGNORECASE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]  # with a ``{db}`` placeholder for the database name


def _split(sql: str) -> tuple[str, ...]:
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return tuple(s.strip() for s in _STATEMENT_END.split("\n".join(lines)) if s.strip())


def load_migrations() -> list[Migration]:
    """Every migration shipped in ``sinks/sql``, by version."""
    found = []
    for entry in resources.files("sinks.sql").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), _split(entry.read_text())))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in sinks/sql: {versions}")
    return found


def _bootstrap(db: Database) -> None:
    name = check_identifier(db.database)
    db.command(f"CREATE DATABASE IF NOT EXISTS {name}")
    db.command(
        f"CREATE TABLE IF NOT EXISTS {name}.{MIGRATIONS_TABLE} "
        "(version UInt32, name String, applied_at DateTime('UTC')) "
        "ENGINE = ReplacingMergeTree(applied_at) ORDER BY version"
    )


def applied_versions(db: Database) -> set[int]:
    """Versions recorded in ``schema_migrations`` (empty when the table does not exist)."""
    name = check_identifier(db.database)
    exists = db.query(
        "SELECT count() FROM system.tables WHERE database = %(db)s AND name = %(t)s",
        {"db": name, "t": MIGRATIONS_TABLE},
    )
    if not exists or not exists[0][0]:
        return set()
    rows = db.query(f"SELECT DISTINCT version FROM {name}.{MIGRATIONS_TABLE}")
    return {int(r[0]) for r in rows}


def current_version(db: Database) -> int:
    """The highest applied migration version, 0 for an empty database."""
    return max(applied_versions(db), default=0)


def migrate(db: Database, *, cluster: str | None = None) -> list[Migration]:
    """Apply the migrations ``db`` lacks, in order; return those applied now.

    ``cluster``: the same migrations as ``ON CLUSTER`` DDL with replicated and Distributed
    tables, by :func:`sinks.cluster.migrate_cluster`. Raises :class:`SinkWriteError` naming
    the migration and statement that failed.
    """
    if cluster is not None:
        from sinks.cluster import migrate_cluster  # imports this module

        return migrate_cluster(db, cluster)
    name = check_identifier(db.database)
    _bootstrap(db)
    done = applied_versions(db)
    applied = []
    for mig in load_migrations():
        if mig.version in done:
            continue
        log.info("applying migration %04d_%s to %s", mig.version, mig.name, name)
        for i, statement in enumerate(mig.statements, 1):
            try:
                db.command(statement.replace("{db}", name))
            except SinkWriteError as e:
                if _ADD_COLUMN.search(statement) and "already exists" in str(e):
                    log.info("migration %04d statement %d: column exists already", mig.version, i)
                    continue
                raise SinkWriteError(
                    f"migration {mig.version:04d}_{mig.name}, statement {i}: {e}"
                ) from e
        now = datetime.now(UTC).replace(microsecond=0)
        db.insert(MIGRATIONS_TABLE, ("version", "name", "applied_at"), [(mig.version, mig.name, now)])
        applied.append(mig)
    return applied
