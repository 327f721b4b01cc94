"""``blo report bulletin``: a bulletin of a scope and period as HTML, PDF or its figures as
JSON (:mod:`blo.analytics.bulletin`), read through :func:`blo.readers.run_query` (the
server directly, or the running worker when ClickHouse is embedded), read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from blo.analytics.bulletin import FORMATS, LANGS, BulletinError, make, render
from blo.analytics.periods import PERIOD_HELP, Period, PeriodError
from blo.cli import main, settings_of
from blo.readers import run_query
from sinks.sql import render as render_sql


@main.group()
def report() -> None:
    """Analytical products: periodic bulletins and their stored editions
    (docs/bulletins.md)."""


def _period(ctx: click.Context, param: click.Parameter, value: str) -> Period:
    try:
        return Period.parse(value)
    except PeriodError as e:
        raise click.BadParameter(str(e)) from None


def _scope(ctx: click.Context, param: click.Parameter, value: str) -> str:
    v = value.strip()
    if v.lower() == "region":
        return "region"
    if len(v) == 2 and v.isalpha():
        return v.upper()
    raise click.BadParameter(f"{value!r}: a country code (KZ, KG, TJ, TM, UZ, US, …) "
                             "or 'region'")


@report.command("bulletin")
@click.option("--scope", required=True, callback=_scope, metavar="COUNTRY|region",
              help="A country the registry has (KZ, KG, TJ, TM, UZ; US for imported "
                   "BTS/CBP data), or 'region' for every post.")
@click.option("--period", required=True, callback=_period, metavar="PERIOD",
              help=f"The reporting period: {PERIOD_HELP}; each post's own local months.")
@click.option("--lang", type=click.Choice(list(LANGS)), default="ru", show_default=True,
              help="The document's language.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="html",
              show_default=True,
              help="html: one self-contained page; pdf: a PDF (needs --out unless stdout "
                   "is not a terminal); json: the figures only.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: standard output).")
@click.pass_context
def bulletin(ctx: click.Context, scope: str, period: Period, lang: str, fmt: str,
             out: Path | None) -> None:
    """A bulletin: headline figures with change against the previous period and the same
    period a year before, seizures by drug and by post, crossings and refusals,
    detentions (counts only), alerts, a map, a route chart and a method note stating the
    data version it was cut from. The same command on the same data gives the same bytes.

    Exit codes: 0 written; 2 bad settings, ClickHouse unreachable or a scope with no
    posts.
    """
    s = settings_of(ctx)
    db = s.clickhouse.target().database

    def read(sql: str, params: dict[str, Any]) -> list[list[Any]]:
        return run_query(s, render_sql(sql, params))

    if fmt == "pdf" and out is None and sys.stdout.isatty():
        raise click.UsageError("a PDF goes to a file: give --out FILE (or redirect stdout)")
    try:
        b = make(read, db, scope, period)
    except BulletinError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    data = render(b, lang, fmt)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)
    click.echo(f"bulletin {scope} {period.name} ({lang}, {fmt}): data version "
               f"{b.version.digest}" + (f" -> {out}" if out else ""), err=True)


# -- editions: the bulletins kept in ClickHouse (docs/bulletins.md, "Scheduled bulletins") -
@report.group("editions")
def editions() -> None:
    """Bulletin editions kept in ClickHouse (table bulletin_editions): the bulletin of a
    scope, month and language, stored with the data version it was cut from. A worker makes
    them when a month closes (BLO_BULLETINS_SCHEDULE); these commands list, fetch and make
    them by hand."""


def _scopes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
            ) -> tuple[str, ...]:
    return tuple(_scope(ctx, param, v) for v in value)


def _month(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    p = _period(ctx, param, value)
    if len(p.months()) != 1:
        raise click.BadParameter(f"{value!r}: editions are of one month (YYYY-MM)")
    return p.name


@editions.command("list")
@click.option("--scope", "scopes", multiple=True, callback=_scopes, metavar="COUNTRY|region",
              help="Only these scopes (repeatable; default: all).")
@click.option("--period", callback=_month, default=None, metavar="YYYY-MM",
              help="Only this month.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="table: aligned columns; json: one array.")
@click.pass_context
def editions_list(ctx: click.Context, scopes: tuple[str, ...], period: str | None,
                  fmt: str) -> None:
    """The editions stored (newest month first): scope, month, language, data version,
    when and by whom made, posts, events, PDF and HTML sizes. Read-only.

    Exit codes: 0 listed; 2 bad settings or ClickHouse unreachable.
    """
    from blo.analytics.bulletin.editions import editions_from_rows, list_query
    from blo.cli.tables import json_text, render_table, terminal_width

    s = settings_of(ctx)
    q = list_query(s.clickhouse.target().database, scopes or None, period)
    found = editions_from_rows(run_query(s, render_sql(q.sql, q.params)))
    if fmt == "json":
        click.echo(json_text([e.as_json() for e in found]))
        return
    header = ["scope", "period", "lang", "data_version", "made_at", "made_by", "posts",
              "events", "pdf_bytes", "html_bytes"]
    rows = [[e.scope, e.period, e.lang, e.data_version, e.as_json()["made_at"], e.made_by,
             e.posts, e.events, e.pdf_size, e.html_size] for e in found]
    for line in render_table(header, rows, terminal_width()):
        click.echo(line)
    click.echo(f"{len(found)} edition(s)", err=True)


@editions.command("get")
@click.option("--scope", required=True, callback=_scope, metavar="COUNTRY|region")
@click.option("--period", required=True, callback=_month, metavar="YYYY-MM")
@click.option("--lang", type=click.Choice(list(LANGS)), default="ru", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["pdf", "html"]), default="pdf",
              show_default=True)
@click.option("--version", "version", default=None, metavar="DATA_VERSION",
              help="This data version's edition (default: the latest made).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (default: standard output).")
@click.pass_context
def editions_get(ctx: click.Context, scope: str, period: str, lang: str, fmt: str,
                 version: str | None, out: Path | None) -> None:
    """One stored edition's PDF or HTML, as it was made. Read-only.

    Exit codes: 0 written; 2 bad settings, ClickHouse unreachable or no such edition.
    """
    from blo.analytics.bulletin.editions import document_bytes, document_query

    s = settings_of(ctx)
    if fmt == "pdf" and out is None and sys.stdout.isatty():
        raise click.UsageError("a PDF goes to a file: give --out FILE (or redirect stdout)")
    q = document_query(s.clickhouse.target().database, scope, period, lang, fmt, version)
    rows = run_query(s, render_sql(q.sql, q.params))
    if not rows:
        click.echo(f"error: no edition of {scope} {period} ({lang})"
                   + (f" with data version {version}" if version else "")
                   + ": `blo report editions list` shows those stored", err=True)
        sys.exit(2)
    ver, stored = rows[0]
    data = document_bytes(fmt, str(stored))
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)
    click.echo(f"edition {scope} {period} ({lang}, {fmt}): data version {ver}"
               + (f" -> {out}" if out else ""), err=True)


@editions.command("make")
@click.option("--scope", "scopes", multiple=True, callback=_scopes, metavar="COUNTRY|region",
              help="Only these scopes (repeatable; default: region and every country with "
                   "posts).")
@click.option("--months", type=click.IntRange(1, 1200), default=None,
              help="How many of each scope's newest months to look at (default: "
                   "BLO_BULLETINS_MONTHS).")
@click.option("--lang", "langs", type=click.Choice(list(LANGS)), multiple=True,
              help="Only these languages (repeatable; default: ru and en).")
@click.pass_context
def editions_make(ctx: click.Context, scopes: tuple[str, ...], months: int | None,
                  langs: tuple[str, ...]) -> None:
    """Make and store what the schedule would: for every closed month (each post of the
    scope done with it) among the newest ones, the editions whose data version is not
    stored yet — a month corrected since its edition gets a new one, the first stays.
    Needs a ClickHouse server, or a chDB directory no worker holds (a running worker makes
    them itself).

    Exit codes: 0 done (also when nothing was due); 2 bad settings, ClickHouse unreachable,
    or a worker holds the chDB directory.
    """
    from blo import door
    from blo.analytics.bulletin.editions import SCHEDULED_LANGS, make_editions
    from blo.db import open_database
    from sinks.tables import BULLETIN_EDITIONS

    s = settings_of(ctx)
    target = s.clickhouse.target()
    if target.kind == "chdb" and door.read_key(target) is not None:
        click.echo("error: a worker holds this chDB directory: it makes the editions itself "
                   "(BLO_BULLETINS_SCHEDULE); stop it to make them by hand", err=True)
        sys.exit(2)
    db = open_database(s.clickhouse)
    try:
        rows = make_editions(lambda sql, params: db.query(sql, params), db.database,
                             months or s.bulletins.months, "cli",
                             langs=langs or SCHEDULED_LANGS, scopes=scopes or None)
        for row in rows:  # one at a time: a PDF can be large
            db.insert(BULLETIN_EDITIONS.name, BULLETIN_EDITIONS.column_names, [row])
            click.echo(f"edition {row[0]} {row[1]} ({row[2]}): data version {row[3]}",
                       err=True)
    except BulletinError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    finally:
        db.close()
    click.echo(f"{len(rows)} edition(s) made", err=True)
