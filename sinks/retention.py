"""Retention: drop what is older than each table's limit, per source (``blo db retention``).

Every time-ordered table is ``PARTITION BY toYYYYMM(<its time column>)``, so a month of
rows is one partition and ``ALTER TABLE ... DROP PARTITION`` removes it in one cheap step.
That works on every supported ClickHouse (18.16 has no TTL; chDB 26.9 does, but the two
engines must behave alike). The partition is named by its id (``DROP PARTITION ID
'202401'``): the one literal both engines take for any partition key (18.16 rejects the
value form ``'202401'`` for a ``UInt32`` key).

**Sources.** ``events`` and ``window_stats`` hold two sources, told apart by
``event_type`` — the split the windows already make (``streams.windows.series``):

* ``reports``: count reports (``event_type = 'count_report'``) — every row ``blo
  import-csv`` writes (imported statistics, years of them), and the count reports stations
  send. They are the archive: kept for ever by default.
* ``live``: every other event type (crossings, seizures, detentions, …) and their windows.

Every other table has one source, ``all``. Each (table, source) has its own limit
(:data:`RETENTION_FIELDS`, env ``BLO_RETENTION_<FIELD>``; 0 = for ever). A partition whose
every source present is past its limit is dropped whole; one that also holds rows of a source
still within its limit (a month of live events and imported statistics) loses only the
expired source's rows, by ``ALTER TABLE ... DELETE WHERE <month> AND <source>`` (a mutation:
it rewrites that month's parts once; the run waits for it), so a month of imported
statistics is never dropped because live events of the same month expired.

Two halves:

* :func:`plan_retention` — pure: given the partitions (table, id, rows per source, bytes),
  the limits and "now", what goes. A source's rows of partition ``YYYYMM`` go only when its
  *whole month* is older than the limit: its end (the first instant of the next month, UTC)
  is at or before ``now - limit``. A partition id that is not a month (another partition
  key) is never touched, only reported; so is a month of a table with sources that has
  something to lose but whose rows per source do not add up to its rows (an insert or a
  merge between the two reads): the next run sees it.
* :func:`apply_retention` — reads the partitions (``system.parts``) and the rows per source
  and month (a ``GROUP BY`` over the table, only for tables with sources and a finite limit)
  and drops or deletes what the plan says, unless ``dry_run``.

Only the tables of :data:`RETENTION_FIELDS` are ever looked at: stations, api_tokens and
schema_migrations are never touched. On a cluster schema (:mod:`sinks.cluster`) the
partitions are read from every shard (``cluster()`` table function), the rows per source
through the Distributed table, and drops and deletes go to ``<t>_local ... ON CLUSTER``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sinks.base import Database, SinkWriteError
from sinks.sql import check_identifier, quote_string

log = logging.getLogger(__name__)

LIVE, REPORTS, ALL = "live", "reports", "all"

# (table, source) -> field of blo.settings.RetentionSettings (env BLO_RETENTION_<FIELD>)
RETENTION_FIELDS: dict[tuple[str, str], str] = {
    ("events", LIVE): "events_days",
    ("events", REPORTS): "events_reports_days",
    ("dlq", ALL): "dlq_days",
    ("window_stats", LIVE): "window_stats_days",
    ("window_stats", REPORTS): "window_stats_reports_days",
    ("late_events", ALL): "late_events_days",
    ("alerts", ALL): "alerts_days",
    ("api_audit", ALL): "api_audit_days",
}

# The tables with sources: the SQL condition of each source (over the table's columns).
SOURCE_SQL: dict[str, dict[str, str]] = {
    table: {REPORTS: "event_type = 'count_report'", LIVE: "event_type != 'count_report'"}
    for table in ("events", "window_stats")
}


def sources_of(table: str) -> tuple[str, ...]:
    """The sources of ``table``, in :data:`RETENTION_FIELDS` order."""
    return tuple(s for t, s in RETENTION_FIELDS if t == table)


def source_of_event_type(event_type: str) -> str:
    """The source an event of ``event_type`` belongs to in ``events`` and ``window_stats``."""
    return REPORTS if event_type == "count_report" else LIVE


_MONTH_ID = re.compile(r"^(\d{4})(\d{2})$")
MUTATION_TIMEOUT_S = 3600.0


class RetentionLimits(Protocol):
    """What :func:`limits_of` reads (``blo.settings.RetentionSettings``)."""

    events_days: int
    events_reports_days: int
    dlq_days: int
    window_stats_days: int
    window_stats_reports_days: int
    late_events_days: int
    alerts_days: int
    api_audit_days: int


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of one table, totals over its active parts. ``sources``: rows per
    source, ``((source, rows), ...)``, for tables with sources (empty: not read)."""

    table: str
    partition_id: str
    rows: int = 0
    bytes: int = 0
    sources: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Drop:
    """One source's rows of one partition that go: its month ended at ``month_end``, the
    limit was ``limit_days``. ``whole``: the partition is dropped (every source present in
    it goes); otherwise only these rows are deleted. ``bytes`` is the partition's size
    shared out by rows."""

    table: str
    partition_id: str
    source: str
    month_end: datetime
    limit_days: int
    rows: int
    bytes: int
    whole: bool


@dataclass(frozen=True)
class SourceTotal:
    """What goes (or stays) of one (table, source): partitions, rows, months."""

    table: str
    source: str
    partitions: int
    rows: int
    first: str  # 'YYYY-MM' of the oldest month
    last: str  # 'YYYY-MM' of the newest month


@dataclass
class RetentionPlan:
    drops: list[Drop] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # table -> partitions left in place
    kept_rows: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    """(table, source) -> [(partition id, rows)] of rows that stay (tables with sources)"""
    unrecognised: list[Partition] = field(default_factory=list)  # ids that are not months
    unsplit: list[Partition] = field(default_factory=list)  # rows per source unknown: kept

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.drops)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.drops)

    def partitions_dropped(self) -> list[tuple[str, str]]:
        """(table, partition id) of the partitions dropped whole, in plan order."""
        return list(dict.fromkeys((d.table, d.partition_id) for d in self.drops if d.whole))

    def deletes(self) -> list[tuple[str, str, str]]:
        """(table, partition id, source) whose rows are deleted from a partition that stays."""
        return [(d.table, d.partition_id, d.source) for d in self.drops if not d.whole]

    def dropped_by_source(self) -> list[SourceTotal]:
        """What goes, per (table, source), in :data:`RETENTION_FIELDS` order."""
        got: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for d in self.drops:
            got.setdefault((d.table, d.source), []).append((d.partition_id, d.rows))
        return _totals(got)

    def kept_by_source(self) -> list[SourceTotal]:
        """What stays of the tables with sources, per (table, source)."""
        return _totals(self.kept_rows)


def _month(partition_id: str) -> str:
    return f"{partition_id[:4]}-{partition_id[4:]}"


def _totals(got: Mapping[tuple[str, str], list[tuple[str, int]]]) -> list[SourceTotal]:
    out = []
    for key in RETENTION_FIELDS:
        parts = sorted(got.get(key, []))
        if parts:
            out.append(SourceTotal(key[0], key[1], len(parts), sum(r for _, r in parts),
                                   _month(parts[0][0]), _month(parts[-1][0])))
    return out


def limits_of(retention: RetentionLimits) -> dict[tuple[str, str], int]:
    """``{(table, source): days}`` from the settings (0 = keep for ever)."""
    return {key: int(getattr(retention, f)) for key, f in RETENTION_FIELDS.items()}


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


def expired(end: datetime, limit_days: int, now: datetime) -> bool:
    """Whether a month that ended at ``end`` is past a limit of ``limit_days`` at ``now``
    (0 = never)."""
    return limit_days > 0 and end <= _aware(now) - timedelta(days=limit_days)


def plan_retention(
    partitions: Iterable[Partition], limits: Mapping[tuple[str, str], int], now: datetime
) -> RetentionPlan:
    """What of ``partitions`` goes under ``limits`` (days per (table, source); missing or
    0: kept) at ``now`` (naive = UTC). Drops are sorted by table, then partition, then
    source."""
    now = _aware(now)
    plan = RetentionPlan()
    for p in sorted(partitions):
        sources = sources_of(p.table)
        if not sources or all(limits.get((p.table, s), 0) <= 0 for s in sources):
            plan.kept[p.table] = plan.kept.get(p.table, 0) + 1
            continue
        end = month_end(p.partition_id)
        if end is None:
            plan.unrecognised.append(p)
            continue
        if not any(expired(end, limits.get((p.table, s), 0), now) for s in sources):
            plan.kept[p.table] = plan.kept.get(p.table, 0) + 1  # (split or not: nothing goes)
            for s, n in p.sources:
                if n > 0:
                    plan.kept_rows.setdefault((p.table, s), []).append((p.partition_id, n))
            continue
        if sources == (ALL,):
            rows = {ALL: p.rows}
        elif p.sources and sum(n for _, n in p.sources) == p.rows:
            rows = {s: n for s, n in p.sources if n > 0}
        else:  # which source its rows are of is not known: leave it to the next run
            plan.unsplit.append(p)
            plan.kept[p.table] = plan.kept.get(p.table, 0) + 1
            continue
        going = {s for s in rows if expired(end, limits.get((p.table, s), 0), now)}
        whole = bool(going) and going == set(rows)
        for s in sorted(rows):
            if s in going:
                share = p.bytes * rows[s] // p.rows if p.rows else 0
                plan.drops.append(Drop(p.table, p.partition_id, s, end,
                                       limits.get((p.table, s), 0), rows[s], share, whole))
            elif s != ALL:
                plan.kept_rows.setdefault((p.table, s), []).append((p.partition_id, rows[s]))
        if not whole:
            plan.kept[p.table] = plan.kept.get(p.table, 0) + 1
    return plan


def read_partitions(
    db: Database, tables: Iterable[str], *, cluster: str | None = None
) -> list[Partition]:
    """The partitions of ``tables`` in ``db.database`` with their active rows and bytes
    (summed over the shards of ``cluster``, whose rows are in ``<t>_local``), and the rows
    per source of the tables that have sources."""
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
    split = {t: _rows_per_source(db, t) for t in names.values() if t in SOURCE_SQL}
    return [Partition(names[str(t)], str(p), int(r), int(b),
                      split.get(names[str(t)], {}).get(str(p), ()))
            for t, p, r, b in rows]


def _rows_per_source(db: Database, table: str) -> dict[str, tuple[tuple[str, int], ...]]:
    """{partition id: ((source, rows), ...)} of a table with sources (every physical row,
    as ``system.parts`` counts them; through the Distributed table on a cluster)."""
    from sinks.tables import BY_NAME

    key = BY_NAME[table].storage.partition_by
    cases = SOURCE_SQL[table]
    counts = ", ".join(f"countIf({cond})" for cond in cases.values())
    got = db.query(f"SELECT toString({key}) AS p, {counts} "
                   f"FROM {check_identifier(db.database)}.{check_identifier(table)} GROUP BY p")
    return {str(r[0]): tuple((s, int(n)) for s, n in zip(cases, r[1:], strict=True))
            for r in got}


def drop_sql(database: str, drop: Drop, *, cluster: str | None = None) -> str:
    """``ALTER TABLE <db>.<t> DROP PARTITION ID '<id>'`` for a whole partition, ``ALTER
    TABLE <db>.<t> DELETE WHERE <month> AND <source>`` for one source's rows
    (``<t>_local ON CLUSTER c`` on a cluster schema)."""
    from sinks.cluster import local_table
    from sinks.tables import BY_NAME

    if month_end(drop.partition_id) is None:  # never anything but a month id
        raise ValueError(f"not a monthly partition id: {drop.partition_id!r}")
    table = check_identifier(drop.table)
    on = ""
    if cluster:
        table, on = local_table(table), f" ON CLUSTER {check_identifier(cluster)}"
    head = f"ALTER TABLE {check_identifier(database)}.{table}{on} "
    if drop.whole:
        return head + f"DROP PARTITION ID {quote_string(drop.partition_id)}"
    cond = SOURCE_SQL[drop.table][drop.source]
    key = BY_NAME[drop.table].storage.partition_by
    return head + f"DELETE WHERE {key} = {int(drop.partition_id)} AND {cond}"


def _wait_for_mutations(db: Database, table: str, *, cluster: str | None,
                        timeout_s: float = MUTATION_TIMEOUT_S) -> None:
    """Until no mutation of ``table`` is left to do (18.16 runs them in the background)."""
    from sinks.cluster import local_table

    source = "system.mutations"
    name = table
    if cluster:
        source = f"cluster({quote_string(check_identifier(cluster))}, system, mutations)"
        name = local_table(table)
    deadline = time.monotonic() + timeout_s
    wait = 0.05
    while True:
        left = db.query(f"SELECT count() FROM {source} WHERE database = %(d)s "
                        "AND table = %(t)s AND NOT is_done", {"d": db.database, "t": name})
        if not int(left[0][0]):
            return
        if time.monotonic() > deadline:
            raise SinkWriteError(f"retention: the deletes in {table} have not finished after "
                                 f"{timeout_s:.0f} s (system.mutations); a rerun waits again")
        time.sleep(wait)
        wait = min(wait * 2, 2.0)


def apply_retention(
    db: Database,
    retention: RetentionLimits,
    now: datetime,
    *,
    dry_run: bool = False,
    cluster: str | None = None,
) -> RetentionPlan:
    """Plan with the settings' limits at ``now`` and, unless ``dry_run``, drop every
    partition planned whole and delete the planned sources' rows of the others (in plan
    order, waiting for each table's deletes; a failure raises the sink's error, what was
    done before it stays done and a rerun finishes the job). Returns the plan (what was,
    or would be, dropped)."""
    limits = limits_of(retention)
    tables = list(dict.fromkeys(t for (t, _), days in limits.items() if days > 0))
    plan = plan_retention(read_partitions(db, tables, cluster=cluster), limits, now)
    for p in plan.unrecognised:
        log.warning("retention: %s partition %r is not a month (toYYYYMM); left alone",
                    p.table, p.partition_id)
    for p in plan.unsplit:
        log.warning("retention: %s partition %s changed while it was read; left alone until "
                    "the next run", p.table, p.partition_id)
    if dry_run:
        return plan
    done: set[tuple[str, str]] = set()
    for d in plan.drops:
        if d.whole and (d.table, d.partition_id) in done:
            continue
        what = "dropping" if d.whole else f"deleting the {d.source} rows of"
        log.info("retention: %s %s partition %s (month ended %s, limit %d days)", what,
                 d.table, d.partition_id, d.month_end.date(), d.limit_days)
        db.command(drop_sql(db.database, d, cluster=cluster))
        done.add((d.table, d.partition_id))
    for table in dict.fromkeys(t for t, _, _ in plan.deletes()):
        _wait_for_mutations(db, table, cluster=cluster)
    return plan
