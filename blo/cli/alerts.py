"""``blo alerts``: list alerts (current state) and acknowledge one, or every alert a filter
names (rule, scope, fired between).

Reads go to the ``alerts`` table through :func:`blo.readers.run_query` (directly, or through
the running worker when ClickHouse is embedded). An acknowledgement is never written to
ClickHouse by the CLI: it is an ``a`` record on the alert engine's input topic
(:func:`schemas.alert_input.ack_record`), and the engine writes the acknowledged version
(it owns the version numbers). docs/alerts.md.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import click

from blo.cli import main, settings_of
from blo.cli.ops import _print_rows
from blo.readers import run_query
from blo.settings import Settings
from sinks.read_model import latest
from sinks.sql import check_identifier, is_read_only, quote, quote_string
from sinks.tables import ALERTS

SEVERITIES = ("info", "warning", "critical")
POLL_INTERVAL_S = 0.5

# Times as epoch seconds and the id as text: the same values whichever way the query runs
# (clickhouse-driver, chDB, or the worker's JSON endpoint).
_COLUMNS = ("toString(alert_id), version, state, severity, rule_id, scope_key, station_id, "
            "toUInt32(fired_at), toUInt32(resolved_at), acked, acked_by, toUInt32(acked_at), "
            "ack_comment, message")
_READ = ("alert_id", "version", "state", "severity", "rule_id", "scope_key", "station_id",
         "fired_at", "resolved_at", "acked", "acked_by", "acked_at", "ack_comment", "message")


@dataclass(frozen=True, slots=True)
class AlertLine:
    """The current version of one alert, as the CLI shows it (times: epoch seconds, 0 = none)."""

    alert_id: str
    version: int
    state: str
    severity: str
    rule_id: str
    scope_key: str
    station_id: str
    fired_at: int
    resolved_at: int
    acked: bool
    acked_by: str
    acked_at: int
    ack_comment: str
    message: str

    @classmethod
    def from_row(cls, r: list[Any]) -> AlertLine:
        return cls(str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
                   int(r[7]), int(r[8]), bool(int(r[9])), str(r[10]), int(r[11]), str(r[12]),
                   str(r[13]))

    def document(self) -> dict[str, object]:
        """The JSON object of ``blo alerts list --format json`` (times RFC 3339 or null)."""
        return {"alert_id": self.alert_id, "version": self.version, "state": self.state,
                "severity": self.severity, "rule_id": self.rule_id,
                "scope_key": self.scope_key, "station_id": self.station_id,
                "fired_at": _rfc3339(self.fired_at), "resolved_at": _rfc3339(self.resolved_at),
                "acked": self.acked, "acked_by": self.acked_by,
                "acked_at": _rfc3339(self.acked_at), "ack_comment": self.ack_comment,
                "message": self.message}

    def cells(self) -> list[str]:
        return [self.alert_id, str(self.version), self.state, self.severity, self.rule_id,
                self.scope_key, _plain(self.fired_at), _plain(self.resolved_at),
                f"yes ({_one_line(self.acked_by)})" if self.acked else "no",
                _one_line(self.message)]


_HEADER = ("alert_id", "version", "state", "severity", "rule_id", "scope_key",
           "fired_at (UTC)", "resolved_at (UTC)", "acked", "message")


def _rfc3339(t: int) -> str | None:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _plain(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if t else ""


def _one_line(text: str) -> str:
    # table and TSV output: one alert, one line, whatever a message template produced
    return " ".join(text.split())


def list_sql(database: str, *, open_only: bool = False, rule_id: str | None = None,
             station: str | None = None, severity: str | None = None, limit: int = 100) -> str:
    """The query of ``blo alerts list``: the latest version of each alert (the readers' view,
    :func:`sinks.read_model.latest`), the
    non-key filters in the outer query, newest fired first. Values are quoted literals;
    ``station`` matches the alert's station or either post of a paired alert (``A+B``)."""
    db = check_identifier(database)
    where = []
    if open_only:
        where.append("state = 'firing'")
    if rule_id is not None:
        where.append(f"rule_id = {quote_string(rule_id)}")
    if station is not None:
        s = quote_string(station)
        where.append(f"(station_id = {s} OR has(splitByChar('+', scope_key), {s}))")
    if severity is not None:
        where.append(f"severity = {quote_string(severity)}")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    return (f"SELECT {_COLUMNS} FROM {latest(db, ALERTS, _READ)}{cond} "
            f"ORDER BY fired_at DESC, alert_id LIMIT {int(limit)}")


def alert_sql(database: str, alert_id: UUID) -> str:
    """The current version of one alert (``alert_id`` is the sorting key: filter it inside)."""
    db = check_identifier(database)
    return f"SELECT {_COLUMNS} FROM {latest(db, ALERTS, _READ, f'alert_id = {quote(alert_id)}')}"


@dataclass(frozen=True, slots=True)
class AckFilter:
    """Which alerts a bulk acknowledgement names: not yet acknowledged ones, of ``rule``,
    about ``scope`` (the scope key, the station — its own alerts and gaps — or a post of a
    pair), fired in ``[since, until)`` (epoch seconds), only firing ones with ``open_only``."""

    rule: str | None = None
    scope: str | None = None
    since: int | None = None
    until: int | None = None
    open_only: bool = False

    def empty(self) -> bool:
        return self.rule is None and self.scope is None and self.since is None \
            and self.until is None

    def conditions(self) -> list[str]:
        """SQL conditions over the columns of ``alerts`` (values quoted literals)."""
        where = ["acked = 0"]
        if self.open_only:
            where.append("state = 'firing'")
        if self.rule is not None:
            where.append(f"rule_id = {quote_string(self.rule)}")
        if self.scope is not None:
            s = quote_string(self.scope)
            where.append(f"(scope_key = {s} OR station_id = {s} "
                         f"OR has(splitByChar('+', scope_key), {s}))")
        if self.since is not None:
            where.append(f"fired_at >= toDateTime({int(self.since)})")
        if self.until is not None:
            where.append(f"fired_at < toDateTime({int(self.until)})")
        return where

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("rule", self.rule), ("scope", self.scope),
                                          ("since", _opt(self.since)),
                                          ("until", _opt(self.until))) if v is not None]
        return ", ".join(parts + (["open only"] if self.open_only else []))


def _opt(t: int | None) -> str | None:
    return None if t is None else _plain(t) + " UTC"


def bulk_sql(database: str, f: AckFilter) -> str:
    """The alerts ``f`` names (their current version), oldest fired first."""
    db = check_identifier(database)
    return (f"SELECT {_COLUMNS} FROM {latest(db, ALERTS)} "
            f"WHERE {' AND '.join(f.conditions())} ORDER BY fired_at, alert_id")


def acked_count_sql(database: str, who: str, at_s: int) -> str:
    """How many alerts carry the acknowledgement of ``who`` at ``at_s`` (current versions)."""
    db = check_identifier(database)
    return (f"SELECT count() FROM {latest(db, ALERTS)} "
            f"WHERE acked = 1 AND acked_by = {quote_string(who)} "
            f"AND acked_at = toDateTime({int(at_s)})")


def current(settings: Settings, alert_id: UUID) -> AlertLine | None:
    rows = run_query(settings, alert_sql(settings.clickhouse.target().database, alert_id))
    return AlertLine.from_row(rows[0]) if rows else None


@main.group()
def alerts() -> None:
    """Alerts raised by the worker's alert engine (docs/alerts.md): list, acknowledge."""


@alerts.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only alerts still firing.")
@click.option("--rule", "rule_id", metavar="RULE_ID", help="Only this rule's alerts.")
@click.option("--station", metavar="STATION",
              help="Only alerts about this station (including paired alerts naming it).")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              metavar="N", help="At most this many alerts.")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table",
              show_default=True,
              help="json: a list of objects with every ack field, times RFC 3339 or null.")
@click.pass_context
def alerts_list(ctx: click.Context, open_only: bool, rule_id: str | None, station: str | None,
                severity: str | None, limit: int, fmt: str) -> None:
    """The current state of each alert (its latest version), newest fired first.

    Columns: alert_id, version, state (firing | resolved), severity, rule_id, scope_key,
    fired_at, resolved_at (blank while firing), acked (and by whom), message. Times are UTC.
    Prints "no alerts" on stderr (and `[]` with --format json) when none match.
    """
    s = settings_of(ctx)
    sql = list_sql(s.clickhouse.target().database, open_only=open_only, rule_id=rule_id,
                   station=station, severity=severity, limit=limit)
    if not is_read_only(sql):  # a filter value looking like a table function or holding ';'
        raise click.UsageError("a filter value contains text the query guard refuses "
                               "(';' or a table function call)")
    lines = [AlertLine.from_row(r) for r in run_query(s, sql)]
    if fmt == "json":
        click.echo(json.dumps([a.document() for a in lines], ensure_ascii=False))
    elif lines:
        _print_rows([a.cells() for a in lines], _HEADER if fmt == "table" else None, fmt)
    if not lines:
        filters = [f"{k} {v}" for k, v in (("rule", rule_id), ("station", station),
                                            ("severity", severity)) if v is not None]
        what = "no open alerts" if open_only else "no alerts"
        click.echo(what + (f" ({', '.join(filters)})" if filters else ""), err=True)


def _uuid(ctx: click.Context, param: click.Parameter, value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an alert id (a UUID, as `blo alerts list` "
                                 "shows it)") from None


def _who(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must name who acknowledges (not blank)")
    return value.strip()


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time (2018-01-01 or "
                                 "2026-12-06T10:00:00Z; UTC unless it says)") from None
    return int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp())


@alerts.command("ack")
@click.argument("alert_id", metavar="[ALERT_ID]", required=False, callback=_uuid)
@click.option("--rule", "rule_id", metavar="RULE_ID",
              help="Bulk: the alerts of this rule.")
@click.option("--scope", metavar="KEY",
              help="Bulk: alerts about this scope key (station, country, border, pair, all); "
                   "a station also names its gap alerts and the pairs it is in.")
@click.option("--since", callback=_time, metavar="TIME",
              help="Bulk: alerts fired at or after TIME (ISO 8601, UTC unless it says).")
@click.option("--until", callback=_time, metavar="TIME", help="Bulk: fired before TIME.")
@click.option("--open", "open_only", is_flag=True, help="Bulk: only alerts still firing.")
@click.option("--dry-run", is_flag=True, help="Bulk: say how many match, acknowledge none.")
@click.option("--yes", is_flag=True, help="Bulk: do not ask for confirmation.")
@click.option("--by", "who", required=True, callback=_who,
              help="Who acknowledges (duty officer, team, ...). Required.")
@click.option("--comment", default="", help="Why, or what is being done.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the worker has written the acknowledged version(s).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0),
              metavar="SECONDS", help="How long --wait waits.")
@click.pass_context
def alerts_ack(ctx: click.Context, alert_id: UUID | None, rule_id: str | None,
               scope: str | None, since: int | None, until: int | None, open_only: bool,
               dry_run: bool, yes: bool, who: str, comment: str, wait: bool,
               timeout: float) -> None:
    """Acknowledge ALERT_ID — or every not yet acknowledged alert a filter names
    (--rule, --scope, --since, --until, --open) — as who, now, with an optional comment.

    The acknowledgement goes to the alert engine's input topic (BLO_KAFKA_TOPIC_ALERT_INPUT);
    the worker's engine writes it as a new version of the alert (acked, acked_by, acked_at,
    ack_comment; the state is unchanged). Acknowledging again writes another version. A
    bulk acknowledgement says how many alerts match and asks before sending one record per
    alert (--yes: don't ask; --dry-run: only count).

    Exit codes: 0 done (or sent, with --no-wait; or nothing matched); 1 sent but not all
    written within --timeout, or not confirmed; 2 unknown alert or unreachable
    ClickHouse/Kafka.
    """
    s = settings_of(ctx)
    f = AckFilter(rule_id, scope, since, until, open_only)
    if alert_id is None:
        if f.empty():
            raise click.UsageError("name an ALERT_ID, or a filter: --rule, --scope, --since, "
                                   "--until")
        if since is not None and until is not None and since >= until:
            raise click.UsageError("--since must be before --until")
        _bulk_ack(s, f, who, comment, dry_run=dry_run, yes=yes, wait=wait, timeout=timeout)
        return
    if not f.empty() or open_only or dry_run:
        raise click.UsageError("give ALERT_ID or filters, not both")
    _ack_one(s, alert_id, who, comment, wait, timeout)


def _send(s: Settings, records: list[tuple[bytes, bytes]]) -> None:
    """Produce acknowledgement records to the engine's input topic (exit 2 if Kafka fails)."""
    from kafka.errors import KafkaError

    from blo.kafka_io import ensure_topics, produce

    topic = s.kafka.topic_alert_input
    try:
        ensure_topics(s.kafka, {topic: 1})  # one partition: one engine sees everything
        produce(s.kafka, topic, records)
    except KafkaError as e:
        click.echo(f"error: cannot send the acknowledgement to {topic}: {e}", err=True)
        sys.exit(2)


def _bulk_ack(s: Settings, f: AckFilter, who: str, comment: str, *, dry_run: bool,
              yes: bool, wait: bool, timeout: float) -> None:
    from schemas.alert_input import ack_record

    db = s.clickhouse.target().database
    sql = bulk_sql(db, f)
    if not is_read_only(sql):
        raise click.UsageError("a filter value contains text the query guard refuses "
                               "(';' or a table function call)")
    lines = [AlertLine.from_row(r) for r in run_query(s, sql)]
    firing = sum(a.state == "firing" for a in lines)
    click.echo(f"{len(lines)} alerts match ({f.describe()}; not yet acknowledged): "
               f"{firing} firing, {len(lines) - firing} resolved")
    if not lines or dry_run:
        return
    if not yes and not click.confirm(f"acknowledge {len(lines)} alerts as {who!r}?"):
        click.echo("nothing acknowledged", err=True)
        sys.exit(1)
    at_s = int(time.time())
    _send(s, [ack_record(a.alert_id, who, comment, at_s) for a in lines])
    if not wait:
        click.echo(f"{len(lines)} acknowledgements sent to {s.kafka.topic_alert_input}")
        return
    count = acked_count_sql(db, who, at_s)
    deadline = time.monotonic() + timeout
    done = 0
    while True:
        done = int(run_query(s, count)[0][0])
        if done >= len(lines):
            click.echo(f"acknowledged {done} alerts")
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    click.echo(f"{len(lines)} acknowledgements sent, {done} written within {timeout:g}s (is a "
               "worker running with BLO_ALERTS_ENABLED=true? an alert resolved long ago is "
               "no longer held by the engine)", err=True)
    sys.exit(1)


def _ack_one(s: Settings, alert_id: UUID, who: str, comment: str, wait: bool,
             timeout: float) -> None:
    from schemas.alert_input import ack_record

    before = current(s, alert_id)
    if before is None:
        click.echo(f"error: no alert {alert_id}", err=True)
        sys.exit(2)
    if before.acked:
        click.echo(f"note: {alert_id} was already acknowledged by {before.acked_by} at "
                   f"{_plain(before.acked_at)} UTC; sending a new acknowledgement", err=True)
    topic = s.kafka.topic_alert_input
    at_s = time.time()
    _send(s, [ack_record(alert_id, who, comment, at_s)])
    if not wait:
        click.echo(f"acknowledgement sent to {topic}")
        return
    deadline = time.monotonic() + timeout
    while True:
        now = current(s, alert_id)
        # ours: a later version carrying exactly this acknowledgement (a resolve written in
        # between carries an earlier acknowledgement along, with its own who/when)
        if (now is not None and now.version > before.version and now.acked
                and now.acked_by == who and now.acked_at == int(at_s)):
            click.echo(f"acknowledged {alert_id}: version {now.version} ({now.state})")
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    click.echo(f"acknowledgement sent, but no worker has written it within {timeout:g}s "
               "(is a worker running with BLO_ALERTS_ENABLED=true?)", err=True)
    sys.exit(1)
