"""Operating commands: worker, demo, db, query, stats."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from blo.cli import main, settings_of
from blo.cli.tables import (
    csv_text,
    json_lines,
    json_text,
    json_value,
    render_table,
    terminal_width,
    tsv_lines,
)
from blo.readers import run_query, stats_queries

F = TypeVar("F", bound=Callable[..., Any])


def formula_guard_option(formats: str) -> Callable[[F], F]:
    """``--formula-guard/--no-formula-guard`` (parameter ``guard``, on by default) for the
    commands that write ``formats`` ("csv and tsv"): :func:`blo.cli.tables.formula_guard`."""
    return click.option(
        "--formula-guard/--no-formula-guard", "guard", default=True, show_default=True,
        help=f"{formats}: a text cell starting with =, +, -, @, tab or CR gets a leading ' "
             "so that a spreadsheet shows it as text instead of running it as a formula "
             "(CSV injection); numbers, negative ones too, stay as they are. "
             "--no-formula-guard writes every value exactly as stored.")


@main.command()
@click.option("--migrate/--no-migrate", default=None,
              help="Apply ClickHouse migrations at start (default: yes for embedded chDB, "
                   "no for a server, where `blo db migrate` is the deliberate step).")
@click.pass_context
def worker(ctx: click.Context, migrate: bool | None) -> None:
    """Run the stream worker (Faust) against BLO_KAFKA_BOOTSTRAP and BLO_CLICKHOUSE_URL.

    Serves /healthz, /readyz and /metrics on BLO_WEB_HOST:BLO_WEB_PORT (127.0.0.1:6066);
    with embedded ClickHouse also the admin door that `blo query` and `blo tokens` use
    (refused without the key the worker writes to <chDB dir>/blo-admin.key, mode 0600). Computes event-time windows and, on the worker that owns the alert
    input partition, runs the alert engine. With embedded ClickHouse (chdb://) it also
    serves the query API and dashboard on BLO_API_HOST:BLO_API_PORT (127.0.0.1:8080).
    With a ClickHouse server, the per-event work (validation, enrichment, windows, the
    writes) runs in a second process beside the Faust one (BLO_INGEST_PROCESS=auto;
    inline keeps one process). On SIGTERM it flushes, commits and exits 0.

    A Kafka broker that does not answer (at start or later) is waited for: one log line,
    /readyz 503 (broker_connected), and the stream resumes by itself.

    \b
    Exit codes (docs/deployment.md, "Exit codes"):
      0  stopped cleanly (SIGTERM/SIGINT)
      2  bad settings or no schema (the message names what)
      3  the dead-letter guard tripped (almost every station failing; the stations are named)
      4  any other fatal stop (the last line on stderr says which)
    """
    from blo.worker import SchemaNotReady, run_worker

    s = settings_of(ctx)
    auto = migrate if migrate is not None else s.clickhouse.target().kind == "chdb"
    try:
        code = run_worker(s, auto_migrate=auto, loglevel=ctx.find_root().params["log_level"])
    except SchemaNotReady as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    sys.exit(code)


@main.command()
@click.option("--stations", default=16, show_default=True,
              help="Simulated posts (the 16 seed BLO sites first, then synthetic ones).")
@click.option("--rate", default=5.0, show_default=True,
              help="Events per second, all posts (weekly average): routine traffic about "
                   "5x real posts; seizures and incidents at real rates (docs/simulator.md).")
@click.option("--data-dir", default=".blo/demo", show_default=True,
              type=click.Path(file_okay=False), help="Where chDB and logs live.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Worker HTTP port (health, metrics, the admin door the CLI uses). "
                   "Default: BLO_WEB_PORT, else 6066.")
@click.option("--api-port", type=click.IntRange(1, 65535), default=None,
              help="Query API and dashboard port (served by the worker). Default: "
                   "BLO_API_PORT, else 8080.")
@click.option("--scenario", default=None, metavar="NAME",
              help="Inject a scripted scenario into the demo's traffic (a heroin run, a "
                   "silent post, a refusal surge: blo simulate --list-scenarios) and print "
                   "the alerts it should raise.")
@click.option("--scenario-at", "scenario_at_s", default=60.0, show_default=True,
              type=click.FloatRange(min=0), metavar="SECONDS",
              help="Seconds after the simulator starts when the scenario begins.")
@click.pass_context
def demo(ctx: click.Context, stations: int, rate: float, data_dir: str, port: int | None,
         api_port: int | None, scenario: str | None, scenario_at_s: float) -> None:
    """Everything on one machine: local broker, embedded ClickHouse, worker, simulator.

    Stops cleanly on Ctrl-C. With make: make demo ARGS="--port 8090 --api-port 8091".
    make demo ARGS="--scenario heroin-run" adds a scripted scenario.
    """
    from pathlib import Path

    from blo.demo import run_demo

    s = settings_of(ctx)
    sys.exit(run_demo(Path(data_dir), stations=stations, rate=rate,
                      web_port=port if port is not None else s.web.port,
                      api_port=api_port if api_port is not None else s.api.port,
                      scenario=scenario, scenario_at_s=scenario_at_s))


@main.group()
def db() -> None:
    """ClickHouse schema management."""


@db.command("migrate")
@click.option("--cluster", default=None, metavar="NAME",
              help="Create the schema on the ClickHouse cluster NAME (remote_servers): "
                   "ON CLUSTER DDL, Replicated*MergeTree <table>_local tables and "
                   "Distributed tables sharded by station (docs/clickhouse.md).")
@click.option("--print", "print_only", is_flag=True,
              help="With --cluster: print the DDL (every migration) instead of running it; "
                   "no connection is made.")
@click.pass_context
def db_migrate(ctx: click.Context, cluster: str | None, print_only: bool) -> None:
    """Create or upgrade the ClickHouse schema (idempotent, versioned).

    With --cluster NAME every statement runs ON CLUSTER, so one run on any node creates
    the schema on all of them. The nodes need ZooKeeper, the {shard} and {replica} macros
    ({replica} unique in the whole cluster) and insert_distributed_sync=1 in the profile
    of the worker's user (checked before anything is created).
    """
    from blo.db import open_database
    from sinks.migrations import current_version, migrate

    s = settings_of(ctx)
    if print_only:
        if cluster is None:
            raise click.UsageError("--print needs --cluster NAME")
        from sinks.cluster import cluster_migration_sql, statements_text

        db_name = s.clickhouse.target().database
        click.echo(statements_text(cluster_migration_sql(db_name, cluster)), nl=False)
        return
    ch = s.clickhouse
    if cluster is not None:
        # ON CLUSTER DDL waits for every replica (distributed_ddl_task_timeout, 180 s by
        # default) without sending progress: the worker's 10 s silence bound would cut it
        ch = ch.model_copy(update={"send_receive_timeout_s": max(ch.send_receive_timeout_s,
                                                                 300.0)})
    database = open_database(ch)
    try:
        applied = migrate(database, cluster=cluster)
        version = current_version(database)
    finally:
        database.close()
    where = f" on cluster {cluster}" if cluster else ""
    if applied:
        click.echo(f"applied {len(applied)} migration(s){where}; schema version is now {version}")
    else:
        click.echo(f"schema is up to date{where} (version {version})")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # not reached


@db.command("retention")
@click.option("--dry-run", is_flag=True, help="Only show what would be dropped.")
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="Take this as the current time (naive = UTC), for tests and backfills; "
                   "default: the clock.")
@click.option("--cluster", default=None, metavar="NAME",
              help="The schema was made with `blo db migrate --cluster NAME`: read the "
                   "partitions of every shard, drop them ON CLUSTER.")
@click.pass_context
def db_retention(ctx: click.Context, dry_run: bool, now_text: str | None,
                 cluster: str | None) -> None:
    """Drop what is older than each table's retention limit, per source.

    A month goes once all of it is older than the limit (its last day ended more than
    the limit ago). In events and window_stats, count reports (source "reports": every
    row `blo import-csv` writes, and stations' count reports) are the archive, kept for
    ever by default; the other event types are source "live". Limits, in days (0 = keep
    for ever):

    \b
      BLO_RETENTION_EVENTS_DAYS                events, live            (default 730)
      BLO_RETENTION_EVENTS_REPORTS_DAYS        events, reports         (default 0)
      BLO_RETENTION_DLQ_DAYS                   dlq                     (default 180)
      BLO_RETENTION_WINDOW_STATS_DAYS          window_stats, live      (default 1830)
      BLO_RETENTION_WINDOW_STATS_REPORTS_DAYS  window_stats, reports   (default 0)
      BLO_RETENTION_LATE_EVENTS_DAYS           late_events             (default 730)
      BLO_RETENTION_ALERTS_DAYS                alerts                  (default 1830)
      BLO_RETENTION_API_AUDIT_DAYS             api_audit               (default 400)

    A month whose every source is past its limit is dropped (ALTER TABLE ... DROP
    PARTITION; ClickHouse 18.16 has no TTL); a month that also holds rows kept longer
    loses only the expired source's rows (ALTER TABLE ... DELETE). stations, api_tokens
    and schema_migrations are never touched. Run it daily (cron, a Kubernetes CronJob).
    Embedded chDB: only one process may open the data directory, so stop the worker (or
    `blo demo`) first; retention is not run through its HTTP endpoint.
    """
    from datetime import UTC, datetime

    from blo.db import open_database
    from sinks.base import SinkError
    from sinks.retention import ALL, RETENTION_FIELDS, apply_retention, limits_of

    s = settings_of(ctx)
    now = (datetime.fromtimestamp(_instant(now_text), UTC) if now_text
           else datetime.now(UTC).replace(microsecond=0))
    limits = limits_of(s.retention)

    def name(table: str, source: str) -> str:
        return table if source == ALL else f"{table} {source}"

    click.echo("limits (days, 0 = for ever): "
               + ", ".join(f"{name(t, src)} {d}" for (t, src), d in limits.items())
               + f"; now {now.isoformat()}")
    target = s.clickhouse.target()
    try:
        database = open_database(s.clickhouse)
    except SinkError as e:
        if target.kind == "chdb" and "in use by" in str(e):
            raise SinkError(f"{e} `blo db retention` is not served by the worker: stop it, "
                            "run retention, start it again.") from e
        raise
    try:
        plan = apply_retention(database, s.retention, now, dry_run=dry_run, cluster=cluster)
    finally:
        database.close()
    drop, delete = ("would drop", "would delete") if dry_run else ("dropped", "deleted")
    rows = [[d.table, d.source, d.partition_id, d.month_end.date().isoformat(), d.limit_days,
             d.rows, _size(d.bytes), drop if d.whole else delete] for d in plan.drops]
    if rows:
        _print_rows(rows, ("table", "source", "partition", "month ended", "limit days", "rows",
                           "size", ""), "table")
    for p in plan.unrecognised:
        click.echo(f"left alone: {p.table} partition {p.partition_id!r} is not a month")
    for p in plan.unsplit:
        click.echo(f"left alone: {p.table} partition {p.partition_id} changed while it was "
                   "read (the next run sees it)")
    env = {key: f"BLO_RETENTION_{f.upper()}" for key, f in RETENTION_FIELDS.items()}
    going = plan.dropped_by_source()
    staying = plan.kept_by_source()
    if going or staying:
        click.echo("by table and source:")
    for g in going:
        click.echo(f"  {name(g.table, g.source)}: {drop} "
                   f"{g.rows} rows of {g.partitions} month(s), {g.first} .. {g.last} "
                   f"({env[(g.table, g.source)]}={limits[(g.table, g.source)]})")
    for k in staying:
        days = limits[(k.table, k.source)]
        why = "for ever" if days == 0 else "within the limit"
        click.echo(f"  {name(k.table, k.source)}: kept {k.rows} rows of {k.partitions} "
                   f"month(s), {k.first} .. {k.last} ({env[(k.table, k.source)]}={days}: "
                   f"{why})")
    kept = sum(plan.kept.values())
    if plan.drops:
        whole = plan.partitions_dropped()
        deletes = plan.deletes()
        tables = len({d.table for d in plan.drops})
        parts = f"{drop} {len(whole)} partition(s)"
        if deletes:
            parts += f" and {delete} rows from {len({(t, p) for t, p, _ in deletes})} more"
        click.echo(f"{'dry run: ' if dry_run else ''}{parts} of {tables} table(s): "
                   f"{plan.rows} rows, {_size(plan.bytes)}; {kept} partition(s) kept")
    else:
        click.echo(f"nothing to drop; {kept} partition(s) within their limits")


@main.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "tsv"]),
              default="table", show_default=True,
              help="table: column headers, fitted to the terminal, control characters "
                   "escaped; json: JSON Lines, one object per row (keys the column names); "
                   "csv: a header row, RFC 4180 quoting; tsv: rows only, TabSeparated "
                   "escaping.")
@click.option("--wide", is_flag=True, help="table: never cut a cell to fit the terminal.")
@formula_guard_option("csv and tsv")
@click.pass_context
def query(ctx: click.Context, sql: str, fmt: str, wide: bool, guard: bool) -> None:
    """Run one read-only SQL statement (through the running worker when ClickHouse is
    embedded).

    The engine's own read-only mode runs it (readonly=1): writes, DDL, setting changes,
    table functions (file, url, remote, ...) and INTO OUTFILE are refused; so are system
    tables beyond metadata (tables, columns, parts, databases). A refusal exits 2 with
    the reason.
    """
    from blo.readers import run_query_with_names

    names, rows = run_query_with_names(settings_of(ctx), sql)
    print_rows(names, rows, fmt, wide=wide, guard=guard)


def print_rows(names: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, *,
               wide: bool = False, guard: bool = True) -> None:
    """``rows`` under the column ``names`` in one of the formats of :mod:`blo.cli.tables`
    (table, json, csv, tsv); a table with no rows says ``(no rows)``. csv and tsv cells
    that would run as spreadsheet formulas are text unless ``guard`` is false."""
    if fmt == "json":
        lines = json_lines(names, rows)
    elif fmt == "csv":
        click.echo(csv_text(names, rows, guard=guard), nl=False)
        return
    elif fmt == "tsv":
        lines = tsv_lines(rows, guard=guard)
    else:
        lines = render_table(names, rows, None if wide else terminal_width())
        if not rows:
            lines.append("(no rows)")
    for line in lines:
        click.echo(line)


@main.command()
@click.option("--wide", is_flag=True, help="Never cut a cell to fit the terminal.")
@click.pass_context
def stats(ctx: click.Context, wide: bool) -> None:
    """Headline numbers: events by type, busiest stations, seizures, dead letters by
    reason, and the latest hourly window figures per country (the statuses of the hour's
    windows: provisional, final, corrected)."""
    s = settings_of(ctx)
    for title, sql, header in stats_queries(s.clickhouse.target().database):
        click.secho(title, bold=True)
        print_rows(header, run_query(s, sql), "table", wide=wide)
        click.echo()


def _print_rows(rows: Sequence[Sequence[Any]], header: Sequence[str] | None, fmt: str,
                *, wide: bool = False, guard: bool = True) -> None:
    """The older entry point (``blo alerts list``, ``blo imports``, ``blo db retention``):
    json prints one JSON array of arrays; tsv the rows (formula cells as text unless not
    ``guard``); table the rows under ``header`` (none: no header line), as
    :func:`print_rows` does."""
    if fmt == "json":
        click.echo(json_text([[json_value(v) for v in r] for r in rows]))
        return
    if fmt == "tsv":
        for line in tsv_lines(rows, guard=guard):
            click.echo(line)
        return
    lines = render_table(header, rows, None if wide else terminal_width())
    if not lines:
        click.echo("(no rows)")
        return
    for line in lines:
        click.echo(line)
    if not rows:
        click.echo("(no rows)")


@main.group()
def windows() -> None:
    """Event-time window rows (window_stats): rebuild them from stored events."""


def _instant(text: str) -> int:
    from datetime import UTC, datetime

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time (e.g. 2024-03-01 or "
                                 "2024-03-01T06:00:00+05:00)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())


@windows.command("rebuild")
@click.option("--from", "t_from", required=True, help="Start (ISO 8601; naive = UTC).")
@click.option("--to", "t_to", required=True, help="End, exclusive (ISO 8601; naive = UTC).")
@click.option("--station", "stations", multiple=True, help="Only this station (repeatable).")
@click.pass_context
def windows_rebuild(ctx: click.Context, t_from: str, t_to: str,
                    stations: tuple[str, ...]) -> None:
    """Recompute the window rows of every window overlapping [FROM, TO) from `events`.

    The new rows supersede the stored ones by version (readers see them at once); keys no
    stored event produces any more are zeroed. For backfills published out of order, after
    a registry correction, or after changing BLO_WINDOWS_CONFIG. Windows that may still be
    open in the running worker (ending after now - grace - allowed lateness) are left to it.
    """
    from blo.db import open_database
    from streams.window_rebuild import rebuild
    from streams.windows import window_config

    t1, t2 = _instant(t_from), _instant(t_to)
    if t2 <= t1:
        raise click.BadParameter("--to must be later than --from")
    s = settings_of(ctx)
    config = window_config(s.windows)
    database = open_database(s.clickhouse)
    try:
        report = rebuild(database, config, t1, t2, stations,
                         progress=lambda msg: click.echo(msg, err=True))
    finally:
        database.close()
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(report.by_kind.items())) or "none"
    click.echo(f"events read: {report.events}; window rows written: {report.rows} "
               f"({kinds}); keys zeroed: {report.zeroed}")
    if report.skipped_open:
        click.echo(f"left to the worker: {report.skipped_open} rows of windows that may still "
                   "be open (ending after now - grace - allowed lateness)")


@main.group()
def rules() -> None:
    """Alert rules files (docs/alerts.md)."""


@rules.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def rules_check(ctx: click.Context, file: str) -> None:
    """Validate a rules FILE: every problem, with its line and field; exit 1 if any.

    Window names are checked against the window configuration in force
    (BLO_WINDOWS_CONFIG, default blo/data/windows.yaml).
    """
    from streams.alerts import check_rules, format_problems
    from streams.windows import window_config

    s = settings_of(ctx)
    kinds = [w.name for w in window_config(s.windows).windows]
    problems = check_rules(file, windows=kinds)
    if problems:
        click.echo(format_problems(problems), err=True)
        sys.exit(1)
    click.echo(f"{file}: ok")
