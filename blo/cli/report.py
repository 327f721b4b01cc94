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
    """Analytical products: periodic bulletins (docs/bulletins.md)."""


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
