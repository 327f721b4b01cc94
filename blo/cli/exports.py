"""``blo export stats|events``: the API's exports (docs/exports.md) from the command line.

Reads go through :func:`blo.readers.run_query` as ``blo query``'s do (the server, chDB
directly, or a running worker's door with embedded chDB); an events export is read a page
at a time, in ranges of the primary key (:class:`blo.analytics.exports.EventPager`: the
door answers one statement with all its rows, never in pieces), so memory holds one page
whatever the size. The file is written beside ``--out`` and renamed into place once whole. Progress
(rows so far, rows per second) goes to stderr. The command has the whole data set (no token
scope): who may run it is who may read ClickHouse. Each export is audited in ``api_audit``
(method ``CLI``, path ``blo export …``, the filters, the rows): written directly on the
server or chDB; through a worker's door every page's statement is audited by the door.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from blo.analytics.columns import EVENT_COLUMNS, LANGS, Column, stats_columns
from blo.analytics.exports import (
    FORMATS,
    EventPager,
    EventQuery,
    Row,
    event_plan_sql,
    max_rows,
    stats_rows,
    too_large_message,
    writer,
)
from blo.api.params import GROUPS, INTERIOR, ParamError, parse
from blo.cli import main, settings_of
from blo.settings import Settings
from sinks.sql import render

Fetch = Callable[[str, dict[str, Any]], list[list[Any]]]


class Progress:
    """Rows so far and the rate, on stderr: rewritten in place on a terminal, a line at
    most every ``every_s`` otherwise; nothing with ``quiet``."""

    def __init__(self, total: int | None, quiet: bool, every_s: float = 1.0) -> None:
        self.total, self.quiet, self.every_s = total, quiet, every_s
        self.started = time.monotonic()
        self._shown = -1e9
        self.tty = sys.stderr.isatty()

    def line(self, rows: int, pages: int) -> str:
        took = max(time.monotonic() - self.started, 1e-6)
        of = f" of at most {self.total}" if self.total else ""
        return f"{rows} rows{of}, {pages} pages, {rows / took:,.0f} rows/s"

    def show(self, rows: int, pages: int, force: bool = False) -> None:
        if self.quiet or (not force and time.monotonic() - self._shown < self.every_s):
            return
        self._shown = time.monotonic()
        click.echo(("\r" if self.tty else "") + self.line(rows, pages),
                   err=True, nl=not self.tty)

    def end(self) -> None:
        if self.tty and not self.quiet:
            click.echo("", err=True)


def _fetch(settings: Settings) -> Fetch:
    from blo.readers import run_query

    return lambda sql, params: run_query(settings, render(sql, params))


def _filters(**given: Any) -> dict[str, str]:
    return {k: v for k, v in given.items() if v is not None and v != ""}


def _parse(model: Any, query: dict[str, str]) -> Any:
    try:
        return parse(model, query)
    except ParamError as e:
        raise click.UsageError("; ".join(e.problems)) from None


def _write(out: str, fmt: str, lang: str, title: str, columns: Sequence[Column],
           chunks: Callable[[Callable[[Sequence[Row]], None]], None]) -> int:
    """Write the file: a temporary one beside ``out``, renamed once whole (``-``: stdout).
    Returns the rows written."""
    w = writer(fmt, columns, lang, title)  # type: ignore[arg-type]
    if out == "-":
        stream = sys.stdout.buffer
        def to_stdout(rows: Sequence[Row]) -> None:
            stream.write(w.write(rows))

        chunks(to_stdout)
        stream.write(w.close())
        stream.flush()
        return w.rows
    path = Path(out)
    part = path.with_name(f".{path.name}.part")
    try:
        with part.open("wb") as f:
            def to_file(rows: Sequence[Row]) -> None:
                f.write(w.write(rows))

            chunks(to_file)
            f.write(w.close())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return w.rows


def _audit(settings: Settings, kind: str, filters: dict[str, str], rows: int, ok: bool,
           detail: str, started: float) -> None:
    """One ``api_audit`` row for the export (not through a worker's door: the door
    audits every statement it runs). A failure to write it is said on stderr."""
    from urllib.parse import urlencode

    from blo import door
    from blo.db import open_database
    from sinks.tables import API_AUDIT

    target = settings.clickhouse.target()
    if target.kind == "chdb" and door.read_key(target) is not None:
        return
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = str(os.getuid())
    row = (datetime.now(UTC).replace(microsecond=0), "cli", f"cli:{user}"[:200], "CLI",
           f"blo export {kind}", urlencode(sorted(filters.items()))[:2000], 200 if ok else 500,
           rows, round((time.monotonic() - started) * 1000, 3), "local", detail[:500])
    try:
        db = open_database(settings.clickhouse)
        try:
            db.insert("api_audit", API_AUDIT.column_names, [row])
        finally:
            db.close()
    except Exception as e:  # noqa: BLE001 - the file is written; say the audit is missing
        click.echo(f"warning: the export was not audited (api_audit: {e})", err=True)


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed((
        click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="File format [default: from --out's extension, else csv]."),
        click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True,
                     help="Language of the headers and column descriptions."),
        click.option("--out", "out", required=True, metavar="FILE",
                     help="Where to write the file ('-': stdout)."),
        click.option("--from", "from_", metavar="TIME",
                     help="Start (ISO 8601, UTC unless an offset is given) [default: a day "
                          "before --to]."),
        click.option("--to", metavar="TIME", help="End, excluded [default: now]."),
        click.option("--station", metavar="STATION", help="Only this post."),
        click.option("--country", metavar="CC", help="Only this country's posts."),
        click.option("--border", metavar="XX-YY",
                     help=f"Only posts on this border ('{INTERIOR}': on none)."),
        click.option("--event-type", metavar="TYPE", help="Only this event type."),
        click.option("--drug", metavar="DRUG", help="Only seizures of this drug."),
        click.option("--quiet", is_flag=True, help="No progress on stderr."),
    )):
        f = opt(f)
    return f


def _format(fmt: str | None, out: str) -> str:
    if fmt:
        return fmt
    ext = Path(out).suffix.lower().lstrip(".")
    return ext if ext in FORMATS else "csv"


@main.group("export")
def export() -> None:
    """Statistics and events as CSV, XLSX or Parquet files (docs/exports.md).

    Headers and column descriptions in English or Russian (--lang); XLSX has a second
    sheet describing the columns, Parquet has them in the field metadata. The CLI reads
    the whole data set (no token scope); the API's /api/v1/export/* are the scoped way.
    """


@export.command("stats")
@_common
@click.option("--window", default="1h", show_default=True,
              help="Window kind the figures are summed from (1m, 1h, 1d, month, …).")
@click.option("--group-by", default="country", show_default=True,
              help=f"Comma-separated groups: {', '.join(GROUPS)}.")
@click.pass_context
def export_stats(ctx: click.Context, fmt: str | None, lang: str, out: str,
                 from_: str | None, to: str | None, station: str | None,
                 country: str | None, border: str | None, event_type: str | None,
                 drug: str | None, quiet: bool, window: str, group_by: str) -> None:
    """The figures /api/v1/stats answers for the same parameters, as a file."""
    from blo.api.queries import stats_sql
    from blo.api.routes.exports import StatsExportParams
    from streams.windows import window_config

    settings = settings_of(ctx)
    fmt = _format(fmt, out)
    filters = _filters(**{"from": from_, "to": to, "station": station, "country": country,
                          "border": border, "event_type": event_type, "drug": drug,
                          "window": window, "group_by": group_by, "format": fmt,
                          "lang": lang})
    p = _parse(StatsExportParams, filters)
    windows = [w.name for w in window_config(settings.windows).windows]
    if p.window not in windows:
        raise click.UsageError(f"--window: one of {', '.join(windows)}")
    started = time.monotonic()
    t0, t1 = _bounds(p.from_, p.to, settings)
    fetch = _fetch(settings)
    stations = tuple(str(r[0]) for r in fetch(
        f"SELECT DISTINCT station_id FROM {settings.clickhouse.target().database}.stations",
        {})) or ("",)
    cap = max_rows(fmt)
    sql, params = stats_sql(settings.clickhouse.target().database, p.window, t0, t1,
                            stations, p, p.group_by, cap + 1)
    rows = stats_rows("own", p.group_by, p.window, t0, t1, fetch(sql, params))
    if len(rows) > cap:
        raise click.ClickException(too_large_message(fmt, len(rows)))
    n = _write(out, fmt, lang, f"blo stats {t0.isoformat()} – {t1.isoformat()}",
               stats_columns(p.group_by), lambda send: send(rows))
    detail = f"export stats {fmt} {lang}: {n} rows, 1 pages"
    _audit(settings, "stats", filters, n, True, detail, started)
    if not quiet:
        click.echo(f"exported {n} rows to {out}", err=True)


@export.command("events")
@_common
@click.option("--page-rows", default=10_000, show_default=True, type=click.IntRange(100),
              help="Rows per page read (and per Parquet row group).")
@click.pass_context
def export_events(ctx: click.Context, fmt: str | None, lang: str, out: str,
                  from_: str | None, to: str | None, station: str | None,
                  country: str | None, border: str | None, event_type: str | None,
                  drug: str | None, quiet: bool, page_rows: int) -> None:
    """Events as the readers see them (latest revision; voided events left out), ordered
    by post, month and time; never the raw payload (the seizure route is in its own
    columns)."""
    from blo.api.routes.exports import EventsExportParams

    settings = settings_of(ctx)
    fmt = _format(fmt, out)
    filters = _filters(**{"from": from_, "to": to, "station": station, "country": country,
                          "border": border, "event_type": event_type, "drug": drug,
                          "format": fmt, "lang": lang})
    p = _parse(EventsExportParams, filters)
    started = time.monotonic()
    t0, t1 = _bounds(p.from_, p.to, settings)
    db = settings.clickhouse.target().database
    fetch = _fetch(settings)
    stations = _stations(fetch, db, p.station, p.country, p.border)
    q = EventQuery(db, stations, t0, t1, p)
    pager = EventPager(q, fetch(*event_plan_sql(q)), limit=page_rows)
    if pager.stored > max_rows(fmt):
        raise click.ClickException(too_large_message(fmt, pager.stored))
    progress = Progress(pager.stored, quiet)

    def chunks(send: Callable[[Sequence[Row]], None]) -> None:
        while (next_query := pager.next()) is not None:
            rows = pager.feed(fetch(*next_query))
            if rows:
                send(rows)
            progress.show(pager.rows, pager.pages)

    try:
        n = _write(out, fmt, lang, f"blo events {t0.isoformat()} – {t1.isoformat()}",
                   EVENT_COLUMNS, chunks)
    except BaseException as e:
        progress.end()
        _audit(settings, "events", filters, pager.rows, False,
               f"export events {fmt} {lang} failed after {pager.rows} rows: {e}", started)
        raise
    progress.show(n, pager.pages, force=True)
    progress.end()
    _audit(settings, "events", filters, n, True,
           f"export events {fmt} {lang}: {n} rows, {pager.pages} pages", started)
    if not quiet:
        click.echo(f"exported {n} rows in {pager.pages} pages to {out}", err=True)


def _bounds(t0: datetime | None, t1: datetime | None, settings: Settings
            ) -> tuple[datetime, datetime]:
    end = t1 or datetime.now(UTC).replace(microsecond=0)
    start = t0 or end - timedelta(days=1)
    days = settings.api.max_range_days
    if end - start > timedelta(days=days):
        raise click.UsageError(f"--from/--to: at most {days} days per export "
                               "(BLO_API_MAX_RANGE_DAYS)")
    return start, end


def _stations(fetch: Fetch, db: str, station: str | None, country: str | None,
              border: str | None) -> tuple[str, ...]:
    """The posts to read: every registered one, narrowed by the filters."""
    from blo.api.queries import stations_sql

    out = []
    for r in fetch(stations_sql(db), {}):
        sid, c, b = str(r[0]), str(r[2]), str(r[4])
        if station and sid != station:
            continue
        if country and c != country:
            continue
        if border and b != ("" if border == INTERIOR else border):
            continue
        out.append(sid)
    return tuple(out) or ("",)
