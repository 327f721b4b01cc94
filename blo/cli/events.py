"""``blo events history EVENT_ID``: every stored revision of an event, what each changed.

Reads the readers' view of ``event_revisions`` (an event ever corrected or voided) or,
failing that, of ``events`` (one never corrected) through :func:`blo.readers.run_query`
(directly, or through the running worker when ClickHouse is embedded). The queries and the
diffing are :mod:`blo.event_history` (shared with ``GET /api/v1/events/{id}/history``).
"""

from __future__ import annotations

import json
import sys
from uuid import UUID

import click

from blo.cli import main, settings_of
from blo.cli.tables import escape
from blo.event_history import histories, history_queries, table_lines
from blo.readers import run_query
from sinks.sql import render


def _event_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an event id (a UUID)") from None


@main.group()
def events() -> None:
    """Stored events: the history of corrections and voids (docs/corrections.md)."""


@events.command("history")
@click.argument("event_id", callback=_event_id)
@click.option("--station", default=None, metavar="STATION",
              help="Only this station's event (reads by the primary key; needed when two "
                   "stations used the same event id).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True,
              help="json: one object: event_id, station_id, current_revision, voided, "
                   "source, revisions [{revision, kind, reason, event_type, occurred_at, "
                   "reported_at, ingested_at, body_hash, changes [{field, old, new}], "
                   "event}].")
@click.pass_context
def events_history(ctx: click.Context, event_id: str, station: str | None, fmt: str) -> None:
    """Every revision of EVENT_ID: number, kind (original / revision / void), reason,
    occurred_at, reported_at, ingested_at (UTC), body hash, and the fields that changed
    from the previous revision (field: old → new; "(absent)" for a field not sent).

    Exit codes: 0 shown; 1 no such event (or two stations use the id: name one with
    --station); 2 bad settings or ClickHouse unreachable.
    """
    s = settings_of(ctx)
    db = s.clickhouse.target().database
    q_rev, q_live = history_queries(db, event_id, None if station is None else (station,))
    rows_rev = run_query(s, render(*q_rev))
    rows_live = [] if rows_rev else run_query(s, render(*q_live))
    found = histories(rows_rev, rows_live)
    if not found:
        where = f" of station {station}" if station else ""
        click.echo(f"error: no event {event_id}{where} is stored (neither in events nor in "
                   "event_revisions)", err=True)
        sys.exit(1)
    if len(found) > 1:
        names = ", ".join(h.station_id for h in found)
        click.echo(f"error: event id {event_id} is used by {len(found)} stations ({names}): "
                   "name one with --station", err=True)
        sys.exit(1)
    h = found[0]
    if fmt == "json":
        click.echo(json.dumps(h.document(), ensure_ascii=False))
        return
    for line in table_lines(h):
        # as every table of the CLI: stored text (a reason, a changed field) can neither
        # break a line nor reorder the terminal (C1 and bidirectional controls pass the
        # schema's labels)
        click.echo(escape(line))
