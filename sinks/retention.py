"""Retention: drop the monthly partitions older than each table's limit (``blo db retention``).

Every time-ordered table is ``PARTITION BY toYYYYMM(<its time column>)``, so a month of
rows is one partition and ``ALTER TABLE ... DROP PARTITION`` removes it in one cheap step.
That works on every supported ClickHouse (18.16 has no TTL; chDB 26.9 does, but the two
engines must behave alike). The partition is named by its id (``DROP PARTITION ID
'202401'``): the one literal both engines take for any partition key (18.16 rejects the
value form ``'202401'`` for a ``UInt32`` key).

Two halves:

* :func:`plan_retention` — pure: given the partitions (table, id, rows, bytes), the limits
  in days and "now", which to drop. A partition ``YYYYMM`` goes only when its *whole month*
  is older than the limit: its end (the first instant of the next month, UTC) is at or
  before ``now - limit``. A limit of 0 keeps the table for ever; a partition id that is not
  a month (another partition key) is never dropped, only reported.
* :func:`apply_retention` — reads the partitions from ``system.parts`` (active parts of the
  database's tables) and drops what the plan says, unless ``dry_run``.

Only the tables of :data:`RETENTION_FIELDS` (those with a ``BLO_RETENTION_*`` setting) are
ever looked at: stations, api_tokens and schema_migrations are never touched. On a cluster
schema (:mod:`sinks.cluster`) the partitions are read from every shard (``cluster()``
table function) and dropped from ``<t>_local ... ON CLUSTER``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sinks.base import Database
from sinks.sql import check_identifier, quote_string

log = logging.getLogger(__name__)

# table -> field of blo.settings.RetentionSettings (env BLO_RETENTION_<FIELD>)
RETENTION_FIELDS: dict[str, str] = {
    "events": "events_days",
    "dlq": "dlq_days",
    "window_stats": "window_stats_days",
    "late_events": "late_events_days",
    "alerts": "alerts_days",
    "api_audit": "api_audit_days",
}

_MONTH_ID = re.compile(r"^(\d{4})(\d{2})$")


class RetentionLimits(Protocol):
    """What :func:`limits_of` reads (``blo.settings.RetentionSettings``)."""

    events_days: int
    dlq_days: int
    window_stats_days: int
    late_events_days: int
    alerts_days: int
    api_audit_days: int


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of one table, totals over its active parts."""

    table: str
    partition_id: str
    rows: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Drop:
    """A partition to drop: its month ended at ``month_end``, the limit was ``limit_days``."""

    table: str
    partition_id: str
    month_end: datetime
    limit_days: int
    rows: int
    bytes: int


@dataclass
class RetentionPlan:
    drops: list[Drop] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # table -> partitions kept
    unrecognised: list[Partition] = field(default_factory=list)  # ids that are not months

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.drops)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.drops)


def limits_of(retention: RetentionLimits) -> dict[str, int]:
    """``{table: days}`` from the settings (0 = keep for ever)."""
    return {t: int(getattr(retention, f)) for t, f in RETENTION_FIELDS.items()}


def month_end(partition_id: str) -> datetime | None:
    """The first instant (UTC) after the month of a ``toYYYYMM`` partition id, or ``None``
    if the id is not a month."""
    m = _MONTH_ID.match(partition_id)
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return None
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _aware(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def plan_retention(
    partitions: Iterable[Partition], limits: Mapping[str, int], now: datetime
) -> RetentionPlan:
    """Which ``partitions`` to drop under ``limits`` (days per table; a table missing from
    it, or with 0, is kept) at ``now`` (naive = UTC). Drops are sorted by table, then
    partition."""
    now = _aware(now)
    plan = RetentionPlan()
    for p in sorted(partitions):
        limit = limits.get(p.table, 0)
        if limit <= 0:
            plan.kept[p.table] = plan.kept.get(p.table, 0) + 1
            continue
        end = month_end(p.partition_id)
        if end is None:
            plan.unrecognised.append(p)
            continue
        if end <= now - timedelta(days=limit):
            plan.drops.append(Drop(p.table, p.partition_id, end, limit, p.rows, p.bytes))
        else:
            plan.kept[p.table] = plan.kept.get(p.table, 0) + 1
    return plan


def read_partitions(
    db: Database, tables: Iterable[str], *, cluster: str | None = None
) -> list[Partition]:
    """The partitions of ``tables`` in ``db.database`` with their active rows and bytes
    (summed over the shards of ``cluster``, whose rows are in ``<t>_local``)."""
    from sinks.cluster import local_table

    names = {(local_table(t) if cluster else t): t for t in tables}
    if not names:
        return []
    source = "system.parts"
    if cluster:
        source = f"cluster({quote_string(check_identifier(cluster))}, system, parts)"
    rows = db.query(
        f"SELECT table, partition_id, sum(rows), sum(bytes_on_disk) FROM {source} "
        "WHERE database = %(d)s AND active AND table IN %(t)s "
        "GROUP BY table, partition_id ORDER BY table, partition_id",
        {"d": db.database, "t": tuple(sorted(names))},
    )
    return [Partition(names[str(t)], str(p), int(r), int(b)) for t, p, r, b in rows]


def drop_sql(database: str, drop: Drop, *, cluster: str | None = None) -> str:
    """``ALTER TABLE <db>.<t> DROP PARTITION ID '<id>'`` (``<t>_local ON CLUSTER c`` on a
    cluster schema)."""
    from sinks.cluster import local_table

    if month_end(drop.partition_id) is None:  # never anything but a month id
        raise ValueError(f"not a monthly partition id: {drop.partition_id!r}")
    table = check_identifier(drop.table)
    on = ""
    if cluster:
        table, on = local_table(table), f" ON CLUSTER {check_identifier(cluster)}"
    return (f"ALTER TABLE {check_identifier(database)}.{table}{on} "
            f"DROP PARTITION ID {quote_string(drop.partition_id)}")


def apply_retention(
    db: Database,
    retention: RetentionLimits,
    now: datetime,
    *,
    dry_run: bool = False,
    cluster: str | None = None,
) -> RetentionPlan:
    """Plan with the settings' limits at ``now`` and, unless ``dry_run``, drop every planned
    partition (in plan order; a failure raises the sink's error, partitions dropped before
    it stay dropped and a rerun finishes the job). Returns the plan (what was, or would
    be, dropped)."""
    limits = limits_of(retention)
    tables = [t for t, days in limits.items() if days > 0]
    plan = plan_retention(read_partitions(db, tables, cluster=cluster), limits, now)
    for p in plan.unrecognised:
        log.warning("retention: %s partition %r is not a month (toYYYYMM); left alone",
                    p.table, p.partition_id)
    if not dry_run:
        for d in plan.drops:
            log.info("retention: dropping %s partition %s (%d rows, month ended %s, "
                     "limit %d days)", d.table, d.partition_id, d.rows,
                     d.month_end.date(), d.limit_days)
            db.command(drop_sql(db.database, d, cluster=cluster))
    return plan
