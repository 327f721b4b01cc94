"""What the API's ClickHouse users may do, asked of the server when ``blo api`` starts.

Least privilege (docs/deployment.md, "ClickHouse users"): the API reads with a user whose
profile has ``readonly = 1`` (the server then refuses writes, DDL, setting changes and
table functions), and writes its audit rows with a user that can insert into the audit
door of migration 0006 (``<db>_audit``) and nothing else. Both are checked by asking the
server, never by reading a configuration file: the user's effective ``readonly`` and
``allow_ddl`` (``system.settings``, readable by every user on 18.16 and current servers)
and whether the writer can reach the BLO database itself.

:func:`check_reader` and :func:`check_audit_writer` return a :class:`Findings`: ``unsafe``
(more rights than needed: ``blo api`` refuses to start unless
``BLO_API_ALLOW_UNSAFE_USERS``) and ``broken`` (the API could not work: it never starts).
A server that does not answer raises :class:`sinks.base.SinkUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from sinks.base import Database, SinkError, SinkUnavailable

DOC = 'docs/deployment.md, "ClickHouse users"'
AUDIT_SUFFIX = "_audit"  # sinks/sql/0006_audit_writer.sql
_PROBE_TABLES = ("api_tokens", "stations")  # what every API call reads first


@dataclass
class Findings:
    unsafe: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def __iadd__(self, other: Findings) -> Self:
        self.unsafe += other.unsafe
        self.broken += other.broken
        return self


def user_settings(db: Database) -> dict[str, str]:
    """``readonly`` and ``allow_ddl`` as the server applies them to this connection's user."""
    rows = db.query("SELECT name, value FROM system.settings "
                    "WHERE name IN ('readonly', 'allow_ddl')")
    return {str(n): str(v) for n, v in rows}


def _can_read(db: Database, table: str) -> str:
    """'' when ``SELECT`` on ``table`` (``db.table``) is allowed, else the server's refusal."""
    try:
        db.query(f"SELECT 1 FROM {table} LIMIT 0")
    except SinkUnavailable:
        raise
    except SinkError as e:
        return str(e)
    return ""


def check_reader(db: Database, variable: str, user: str) -> Findings:
    """The reader: ``readonly = 1`` and able to read the tables every call needs."""
    out = Findings()
    readonly = user_settings(db).get("readonly", "0")
    who = f"{variable} (user {user})"
    if readonly == "0":
        out.unsafe.append(
            f"{who} can write and run DDL (its profile has readonly = 0): the API reads "
            "with it. Give the API a user whose profile has readonly = 1")
    elif readonly != "1":
        out.unsafe.append(
            f"{who} has readonly = {readonly}: it may change settings and call table "
            "functions (url, file, remote) on ClickHouse 18.16. Use readonly = 1")
    for table in _PROBE_TABLES:
        refused = _can_read(db, f"{db.database}.{table}")
        if refused:
            out.broken.append(f"{who} cannot read {db.database}.{table}: {refused}. Allow it "
                              f"database {db.database} (allow_databases, or GRANT SELECT)")
    return out


def check_audit_writer(db: Database, variable: str, user: str, main_database: str
                       ) -> Findings:
    """The audit writer: can insert (``readonly = 0``) into ``<its database>.api_audit``,
    cannot run DDL (``allow_ddl = 0``), and cannot read ``main_database`` (a user that can
    read it can, with ``readonly = 0``, write it too: mint a token in ``api_tokens``)."""
    out = Findings()
    who = f"{variable} (user {user})"
    found = db.query("SELECT count() FROM system.tables WHERE database = %(d)s "
                     "AND name = 'api_audit'", {"d": db.database})
    if not found or not found[0][0]:
        out.broken.append(
            f"{who}: there is no table {db.database}.api_audit that this user can see. Run "
            f"`blo db migrate` (migration 0006 creates the door {main_database}{AUDIT_SUFFIX})"
            f" and point {variable} at database {main_database}{AUDIT_SUFFIX}")
    settings = user_settings(db)
    if settings.get("readonly", "0") != "0":
        out.broken.append(f"{who} cannot insert (its profile has readonly = "
                          f"{settings['readonly']}): give it readonly = 0 and allow_ddl = 0")
        return out  # a read-only user can neither run DDL nor write
    if settings.get("allow_ddl", "1") != "0":
        out.unsafe.append(f"{who} can run DDL (its profile has allow_ddl = 1): use a profile "
                          "with allow_ddl = 0")
    if not _can_read(db, f"{main_database}.api_tokens"):
        out.unsafe.append(
            f"{who} can read database {main_database}, so it can also write there (mint a "
            f"token in api_tokens): allow it only database {main_database}{AUDIT_SUFFIX}")
    return out
