"""``blo alerts``: list alerts (current state: exact counts, filters, sorting, grouping),
acknowledge one or every alert a filter names (rule, scope, fired between), and mute a rule
or a scope for a time (``mute``, ``mutes``, ``unmute``).

Reads go to the ``alerts`` table through :func:`blo.readers.run_query` (directly, or through
the running worker when ClickHouse is embedded). An acknowledgement is never written to
ClickHouse by the CLI: it is an ``a`` record on the alert engine's input topic
(:func:`schemas.alert_input.ack_record`), and the engine writes the acknowledged version
(it owns the version numbers); so is a mute (an ``m`` record). docs/alerts.md.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import click

from blo.api import shape
from blo.api.queries import (
    ALERT_COLUMNS,
    AlertFilter,
    alert_counts_sql,
    alert_group_total_sql,
    alert_groups_sql,
    alert_page_sql,
    alert_source,
    filter_conditions,
    mutes_sql,
    stations_sql,
)
from blo.api.scope import Scope
from blo.cli import main, settings_of
from blo.cli.alert_input import (
    NO_WORKER_HINT,
    by_option,
    not_written,
    poll,
    send,
    wait_options,
)
from blo.cli.ops import _print_rows, formula_guard_option
from blo.cli.tables import escape
from blo.readers import run_query
from blo.settings import Settings
from schemas.alert_input import MuteRequest, mute_record
from sinks.read_model import latest
from sinks.sql import check_identifier, is_read_only, quote, quote_string, render
from sinks.tables import ALERT_MUTES, ALERTS
from streams.alerts import durations
from streams.alerts.mutes import MAX_TEXT_CHARS, Mute, request_problems, scope_of
from streams.alerts.rows import parse_messages
from streams.alerts.rules import LANGUAGES

SEVERITIES = ("info", "warning", "critical")

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
    muted: Mute | None = None  # the active mute muting it (lists only)
    messages: tuple[tuple[str, str], ...] = ()  # (language, message) (lists only)
    rule_names: tuple[tuple[str, str], ...] = ()  # (language, rule name) (lists only)
    rule_name: str = ""  # in the chosen language (lists only)

    @classmethod
    def from_row(cls, r: list[Any]) -> AlertLine:
        return cls(str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
                   int(r[7]), int(r[8]), bool(int(r[9])), str(r[10]), int(r[11]), str(r[12]),
                   str(r[13]))

    @classmethod
    def from_page(cls, r: list[Any], mutes: dict[str, Mute]) -> AlertLine:
        """A row of :func:`blo.api.queries.alert_page_sql` (its columns, then the id of
        its mute)."""
        a = dict(zip(ALERT_COLUMNS, r, strict=False))
        return cls(str(a["alert_id"]), int(a["version"]), str(a["state"]),
                   str(a["severity"]), str(a["rule_id"]), str(a["scope_key"]),
                   str(a["station_id"]), int(a["fired_at"]), int(a["resolved_at"]),
                   bool(int(a["acked"])), str(a["acked_by"]), int(a["acked_at"]),
                   str(a["ack_comment"]), str(a["message"]),
                   mutes.get(str(r[len(ALERT_COLUMNS)])),
                   tuple(sorted(parse_messages(a.get("messages")).items())),
                   tuple(sorted(shape.rule_names(a["rule_name"], a.get("messages")).items())),
                   str(a["rule_name"]))

    def in_language(self, language: str) -> AlertLine:
        """This alert with its message and rule name in ``language`` (English when it has
        none)."""
        text = dict(self.messages).get(language) or self.message
        name = dict(self.rule_names).get(language) or self.rule_name
        return dataclasses.replace(self, message=text, rule_name=name)

    def document(self) -> dict[str, object]:
        """The JSON object of ``blo alerts list --format json`` (times RFC 3339 or null)."""
        return {"alert_id": self.alert_id, "version": self.version, "state": self.state,
                "severity": self.severity, "rule_id": self.rule_id,
                "rule_name": self.rule_name, "rule_names": dict(self.rule_names),
                "scope_key": self.scope_key, "station_id": self.station_id,
                "fired_at": _rfc3339(self.fired_at), "resolved_at": _rfc3339(self.resolved_at),
                "acked": self.acked, "acked_by": self.acked_by,
                "acked_at": _rfc3339(self.acked_at), "ack_comment": self.ack_comment,
                "message": self.message,
                "messages": {"en": self.message, **dict(self.messages)},
                "muted": None if self.muted is None else {
                    "mute_id": self.muted.mute_id, "reason": self.muted.reason,
                    "created_by": self.muted.created_by,
                    "ends_at": _rfc3339(self.muted.ends_at)}}

    def cells(self) -> list[str]:
        return [self.alert_id, str(self.version), self.state, self.severity, self.rule_id,
                self.scope_key, _plain(self.fired_at), _plain(self.resolved_at),
                f"yes ({_one_line(self.acked_by)})" if self.acked else "no",
                "" if self.muted is None else f"yes ({_one_line(self.muted.reason)[:40]})",
                _one_line(self.message)]


_HEADER = ("alert_id", "version", "state", "severity", "rule_id", "scope_key",
           "fired_at (UTC)", "resolved_at (UTC)", "acked", "muted", "message")
_GROUP_HEADER = ("rule_id", "scope_key", "alerts", "firing", "worst", "first_fired (UTC)",
                 "latest_fired (UTC)", "acked", "muted")


def _rfc3339(t: int) -> str | None:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _plain(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if t else ""


def _short(text: str, what: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise click.BadParameter(f"{what}: at most {MAX_TEXT_CHARS} characters "
                                 f"({len(text)} given)")
    return text


def _one_line(text: str) -> str:
    # table and TSV output: one alert, one line, whatever a message template produced
    return " ".join(text.split())


@dataclass(frozen=True)
class Listing:
    """What ``blo alerts list`` read: the exact counts, the page (alerts or groups)."""

    counts: dict[str, Any]
    total: int
    lines: list[AlertLine]
    groups: list[dict[str, Any]]


def _time_of(iso: str | None) -> str:
    return "" if iso is None else iso.replace("T", " ").rstrip("Z")


def read_listing(settings: Settings, f: AlertFilter, *, sort: str, limit: int,
                 group: bool) -> Listing:
    """The alerts ``f`` keeps (every alert: the CLI reads as the whole region): their exact
    counts and the first page, in ``sort`` order, or of their groups (``group``). The same
    SQL as the API (:func:`blo.api.queries.alert_source`), values rendered as literals."""
    db = check_identifier(settings.clickhouse.target().database)
    registry = shape.registry(run_query(settings, stations_sql(db)))
    places = {i.station_id: (i.country, i.border) for i in registry.infos}
    now = time.time()
    mutes = {m.mute_id: m for m in map(Mute.from_row, run_query(settings, mutes_sql(db)))
             if m.active(now)}
    src, params = alert_source(db, Scope(all=True), None, f, list(mutes.values()), places)
    counts = shape.alert_counts(run_query(settings, render(alert_counts_sql(src), params)))
    if group:
        rows = run_query(settings, render(alert_groups_sql(src, sort, limit, 0), params))
        total = run_query(settings, render(alert_group_total_sql(src), params))
        return Listing(counts, int(total[0][0]) if total else 0, [], shape.alert_groups(rows))
    rows = run_query(settings, render(alert_page_sql(src, sort, limit, 0), params))
    return Listing(counts, counts["alerts"], [AlertLine.from_page(r, mutes) for r in rows], [])


def summary(listing: Listing, shown: int, group: bool) -> str:
    """``showing 100 of 2346 alerts: critical 8, warning 42, info 2296; 2000 firing
    (12 muted), 346 resolved; 5 acknowledged`` (groups: ``of 31 groups (2346 alerts: …)``)."""
    c = listing.counts
    sev = ", ".join(f"{k} {c['by_severity'].get(k, 0)}" for k in shape.SEVERITIES)
    firing = c["by_state"].get("firing", 0)
    muted = c["open_muted"]["total"]
    detail = (f"{sev}; {firing} firing" + (f" ({muted} muted)" if muted else "")
              + f", {c['by_state'].get('resolved', 0)} resolved; "
              f"{c['by_ack']['acked']} acknowledged")
    if group:
        return f"showing {shown} of {listing.total} groups ({c['alerts']} alerts: {detail})"
    return f"showing {shown} of {listing.total} alerts: {detail}"


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
    severities: tuple[str, ...] = ()
    station: str | None = None
    country: str | None = None
    places: tuple[tuple[str, str, str], ...] = ()
    """(station, country, border) of the registry: which stations ``country`` names."""

    def empty(self) -> bool:
        return self.rule is None and self.scope is None and self.since is None \
            and self.until is None and not self.severities and self.station is None \
            and self.country is None

    def conditions(self) -> list[str]:
        """SQL conditions over the columns of ``alerts`` (values quoted literals); severity,
        station and country as ``blo alerts list`` (and the API) filter them."""
        where = ["acked = 0"]
        params: dict[str, Any] = {}
        listed = filter_conditions(AlertFilter(severities=self.severities,
                                               station=self.station, country=self.country),
                                   {s: (c, b) for s, c, b in self.places}, params)
        where += [render(c, params) for c in listed]
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
                                          ("severity", ",".join(self.severities) or None),
                                          ("station", self.station),
                                          ("country", self.country),
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


def _severities(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                ) -> tuple[str, ...]:
    out: list[str] = []
    for v in value:
        for part in (p.strip() for p in v.split(",")):
            if part not in SEVERITIES:
                raise click.BadParameter(f"{part!r}: one of {', '.join(SEVERITIES)}")
            if part not in out:
                out.append(part)
    return tuple(out)


@alerts.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only alerts still firing.")
@click.option("--state", type=click.Choice(["firing", "resolved"]), help="Only this state.")
@click.option("--rule", "rule_id", metavar="RULE_ID", help="Only this rule's alerts.")
@click.option("--station", metavar="STATION",
              help="Only alerts about this station (including paired alerts naming it).")
@click.option("--country", metavar="CC", help="Only alerts about this country: its posts "
              "(pairs with one of them), its roll-up and its borders'.")
@click.option("--severity", "severities", multiple=True, callback=_severities,
              metavar="SEVERITY", help="Only these severities (info, warning, critical; "
              "repeat or separate with commas).")
@click.option("--acked/--unacked", "acked", default=None,
              help="Only acknowledged / only not yet acknowledged alerts.")
@click.option("--muted/--unmuted", "muted", default=None,
              help="Only alerts an active mute covers / only those none covers.")
@click.option("--sort", type=click.Choice(["severity", "time"]), default="severity",
              show_default=True, help="severity: unmuted first, worst first, then newest "
              "fired; time: newest fired first.")
@click.option("--group", is_flag=True,
              help="One line per rule and scope key (a station for its gaps): count, "
                   "firing, worst severity, first and latest firing.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              metavar="N", help="At most this many alerts (or groups).")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table",
              show_default=True,
              help="json: a list of objects with every ack field, times RFC 3339 or null.")
@click.option("--lang", "language", type=click.Choice(list(LANGUAGES)), default="en",
              show_default=True,
              help="The language of the message column (the rules file's templates; an "
                   "alert without one in it is shown in English).")
@formula_guard_option("tsv")
@click.pass_context
def alerts_list(ctx: click.Context, open_only: bool, state: str | None, rule_id: str | None,
                station: str | None, country: str | None, severities: tuple[str, ...],
                acked: bool | None, muted: bool | None, sort: str, group: bool, limit: int,
                fmt: str, language: str, guard: bool) -> None:
    """The current state of each alert (its latest version), worst first then newest
    (--sort time: newest fired first), with exact counts.

    Columns: alert_id, version, state (firing | resolved), severity, rule_id, scope_key,
    fired_at, resolved_at (blank while firing), acked (and by whom), muted (and why),
    message. Times are UTC. Then "showing N of M alerts" with the counts of all M by
    severity, state and acknowledgement (on stdout after a table, on stderr with tsv and
    json). Prints "no alerts" on stderr (and `[]` with --format json) when none match.
    """
    if open_only and state == "resolved":
        raise click.UsageError("--open contradicts --state resolved")
    s = settings_of(ctx)
    f = AlertFilter(state="firing" if open_only else state, severities=severities,
                    rule=rule_id, country=country, station=station, acked=acked, muted=muted)
    listing = read_listing(s, f, sort=sort, limit=limit, group=group)
    listing = dataclasses.replace(
        listing, lines=[a.in_language(language) for a in listing.lines])
    shown = len(listing.groups) if group else len(listing.lines)
    if fmt == "json":
        docs = listing.groups if group else [a.document() for a in listing.lines]
        click.echo(json.dumps(docs, ensure_ascii=False))
    elif shown and group:
        _print_rows([[g["rule_id"], g["scope_key"], g["count"], g["firing"],
                      g["worst_severity"], _time_of(g["first_fired_at"]),
                      _time_of(g["latest_fired_at"]), g["acked"], g["muted"]]
                     for g in listing.groups], _GROUP_HEADER if fmt == "table" else None, fmt,
                    guard=guard)
    elif shown:
        _print_rows([a.cells() for a in listing.lines], _HEADER if fmt == "table" else None,
                    fmt, guard=guard)
    if not shown:
        filters = [f"{k} {v}" for k, v in (
            ("rule", rule_id), ("station", station), ("country", country),
            ("severity", ",".join(severities) or None), ("state", state),
            ("acknowledged", None if acked is None else str(acked).lower()),
            ("muted", None if muted is None else str(muted).lower())) if v is not None]
        what = "no open alerts" if open_only else "no alerts"
        click.echo(what + (f" ({', '.join(filters)})" if filters else ""), err=True)
        return
    click.echo(summary(listing, shown, group), err=fmt != "table")


def _uuid(ctx: click.Context, param: click.Parameter, value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an alert id (a UUID, as `blo alerts list` "
                                 "shows it)") from None


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
@click.option("--severity", "severities", multiple=True, callback=_severities,
              metavar="SEVERITY", help="Bulk: only these severities (as `alerts list`).")
@click.option("--station", metavar="STATION",
              help="Bulk: alerts about this station (as `alerts list`: pairs naming it too).")
@click.option("--country", metavar="CC",
              help="Bulk: alerts about this country (as `alerts list`).")
@click.option("--unacked", "unacked", is_flag=True,
              help="Bulk: only not yet acknowledged alerts (always so; for symmetry with "
                   "`alerts list`).")
@click.option("--dry-run", is_flag=True, help="Bulk: say how many match, acknowledge none.")
@click.option("--yes", is_flag=True, help="Bulk: do not ask for confirmation.")
@by_option("acknowledges", "Who acknowledges (duty officer, team, ...). Required.",
           required=True)
@click.option("--comment", default="", callback=lambda ctx, param, v: _short(v, "--comment"),
              help=f"Why, or what is being done (at most {MAX_TEXT_CHARS} characters).")
@wait_options("the worker has written the acknowledged version(s)")
@click.pass_context
def alerts_ack(ctx: click.Context, alert_id: UUID | None, rule_id: str | None,
               scope: str | None, since: int | None, until: int | None, open_only: bool,
               severities: tuple[str, ...], station: str | None, country: str | None,
               unacked: bool, dry_run: bool, yes: bool, who: str, comment: str, wait: bool,
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
    f = AckFilter(rule_id, scope, since, until, open_only, severities, station, country)
    if alert_id is None:
        if f.empty():
            raise click.UsageError("name an ALERT_ID, or a filter: --rule, --scope, --since, "
                                   "--until, --severity, --station, --country")
        if country is not None:
            f = dataclasses.replace(f, places=_places(s))
        if since is not None and until is not None and since >= until:
            raise click.UsageError("--since must be before --until")
        _bulk_ack(s, f, who, comment, dry_run=dry_run, yes=yes, wait=wait, timeout=timeout)
        return
    if not f.empty() or open_only or dry_run or unacked:
        raise click.UsageError("give ALERT_ID or filters, not both")
    _ack_one(s, alert_id, who, comment, wait, timeout)


def _places(s: Settings) -> tuple[tuple[str, str, str], ...]:
    """(station, country, border) of every station of the registry."""
    db = check_identifier(s.clickhouse.target().database)
    registry = shape.registry(run_query(s, stations_sql(db)))
    return tuple((i.station_id, i.country, i.border) for i in registry.infos)


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
    send(s, [ack_record(a.alert_id, who, comment, at_s) for a in lines])
    if not wait:
        click.echo(f"{len(lines)} acknowledgements sent to {s.kafka.topic_alert_input}")
        return
    count = acked_count_sql(db, who, at_s)
    written, done = poll(lambda: int(run_query(s, count)[0][0]), lambda n: n >= len(lines),
                         timeout)
    if written:
        click.echo(f"acknowledged {done} alerts")
        return
    click.echo(f"{len(lines)} acknowledgements sent, {done} written within {timeout:g}s "
               f"({NO_WORKER_HINT} an alert resolved long ago is no longer held by the "
               "engine)", err=True)
    sys.exit(1)


def _ack_one(s: Settings, alert_id: UUID, who: str, comment: str, wait: bool,
             timeout: float) -> None:
    from schemas.alert_input import ack_record

    before = current(s, alert_id)
    if before is None:
        click.echo(f"error: no alert {alert_id}", err=True)
        sys.exit(2)
    if before.acked:
        click.echo(f"note: {alert_id} was already acknowledged by {escape(before.acked_by)} at "
                   f"{_plain(before.acked_at)} UTC; sending a new acknowledgement", err=True)
    topic = s.kafka.topic_alert_input
    at_s = time.time()
    send(s, [ack_record(alert_id, who, comment, at_s)])
    if not wait:
        click.echo(f"acknowledgement sent to {topic}")
        return

    def ours(now: AlertLine | None) -> bool:
        # a later version carrying exactly this acknowledgement (a resolve written in
        # between carries an earlier acknowledgement along, with its own who/when)
        return (now is not None and now.version > before.version and now.acked
                and now.acked_by == who and now.acked_at == int(at_s))

    written, now = poll(lambda: current(s, alert_id), ours, timeout)
    if not written or now is None:
        not_written("acknowledgement sent", "written", timeout)
    click.echo(f"acknowledged {alert_id}: version {now.version} ({now.state})")


# -- mutes ------------------------------------------------------------------------------------
def mute_sql(database: str, mute_id: str) -> str:
    """The current version of one mute (``mute_id`` is the sorting key: filter it inside)."""
    db = check_identifier(database)
    where = f"mute_id = {quote_string(mute_id)}"
    return f"SELECT * FROM {latest(db, ALERT_MUTES, (), where)}"


def current_mute(settings: Settings, mute_id: str) -> Mute | None:
    rows = run_query(settings, mute_sql(settings.clickhouse.target().database, mute_id))
    return Mute.from_row(rows[0]) if rows else None


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return durations.parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _wait_for(s: Settings, mute_id: str, version: int, timeout: float) -> Mute | None:
    """The mute once its version ``version`` (or a later one) is stored; None if not within
    ``timeout`` seconds."""
    written, m = poll(lambda: current_mute(s, mute_id),
                      lambda m: m is not None and m.version >= version, timeout)
    return m if written else None


def _describe(m: Mute) -> str:
    return (f"rule {m.rule_id or '(any)'}, scope {m.scope_key or '(everywhere)'}, until "
            f"{_plain(m.ends_at)} UTC")


@alerts.command("mute")
@click.option("--rule", "rule_id", metavar="RULE_ID", help="Mute this rule's alerts.")
@click.option("--scope", metavar="KEY", help="Mute alerts within this country (KZ), border "
              "(KG-KZ) or station: its posts' alerts, pairs wholly inside it, its roll-up.")
@click.option("--for", "for_s", required=True, callback=_duration, metavar="DURATION",
              help="How long: 30m, 6h, 2d, 1h30m (at most 30 days).")
@click.option("--reason", required=True, help="Why (shown with every muted alert).")
@by_option("mutes", "Who mutes (default: the OS user).", required=False)
@wait_options("the worker has stored the mute")
@click.pass_context
def alerts_mute(ctx: click.Context, rule_id: str | None, scope: str | None, for_s: int,
                reason: str, who: str, wait: bool, timeout: float) -> None:
    """Mute a rule, a scope or both for a time, with a reason (Alertmanager's silences).

    Muted alerts still fire and are stored and listed (with the mute), but the webhook is
    not called for them and they are counted apart from the open ones. The mute expires by
    itself (`blo alerts unmute` ends it earlier). The worker's alert engine stores it: the
    command sends it to the engine's input topic and waits until it is in the table.

    Exit codes: 0 stored (or sent, with --no-wait); 1 not stored within --timeout; 2 a bad
    mute, an unknown station, or unreachable ClickHouse/Kafka.
    """
    s = settings_of(ctx)
    problems = request_problems(rule_id or "", scope or "", for_s, reason)
    if problems:
        raise click.UsageError("; ".join(problems))
    if scope and scope_of(scope) == "station":
        db = check_identifier(s.clickhouse.target().database)
        if not run_query(s, f"SELECT 1 FROM {db}.stations WHERE station_id = "
                            f"{quote_string(scope)} LIMIT 1"):
            click.echo(f"error: no station {scope} in the registry", err=True)
            sys.exit(2)
    req = MuteRequest(str(uuid.uuid4()), "create", rule_id or "", scope or "", for_s, reason,
                      who, time.time())
    send(s, [mute_record(req)])
    if not wait:
        click.echo(f"mute {req.mute_id} sent to {s.kafka.topic_alert_input}")
        return
    m = _wait_for(s, req.mute_id, 1, timeout)
    if m is None:
        not_written(f"mute {req.mute_id} sent", "stored", timeout)
    click.echo(f"muted {m.mute_id}: {_describe(m)} ({durations.human(for_s)}): "
               f"{escape(m.reason)}")


@alerts.command("mutes")
@click.option("--active", "active_only", is_flag=True, help="Only the active mutes.")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table",
              show_default=True, help="json: a list of objects, times RFC 3339 or null.")
@formula_guard_option("tsv")
@click.pass_context
def alerts_mutes(ctx: click.Context, active_only: bool, fmt: str, guard: bool) -> None:
    """The mutes, active ones first (ending last first), then the expired and ended ones.

    Columns: mute_id, status (active | expired | unmuted), rule_id, scope_key, created
    (UTC) and by whom, ends (UTC), time left, reason.
    """
    s = settings_of(ctx)
    now = time.time()
    got = [Mute.from_row(r) for r in run_query(s, mutes_sql(
        check_identifier(s.clickhouse.target().database)))]
    got = [m for m in got if not active_only or m.active(now)]
    got.sort(key=lambda m: (not m.active(now), -m.ends_at, m.mute_id))
    if fmt == "json":
        click.echo(json.dumps([shape.mute_object(m, now) for m in got], ensure_ascii=False))
    elif got:
        _print_rows([[m.mute_id, m.status(now), m.rule_id or "*", m.scope_key or "*",
                      f"{_plain(m.created_at)} ({_one_line(m.created_by)})",
                      _plain(m.ends_at),
                      durations.human(m.ends_at - now) if m.active(now) else "",
                      _one_line(m.reason)] for m in got],
                    ("mute_id", "status", "rule_id", "scope", "created (UTC)", "ends (UTC)",
                     "left", "reason") if fmt == "table" else None, fmt, guard=guard)
    if not got:
        click.echo("no active mutes" if active_only else "no mutes", err=True)


@alerts.command("unmute")
@click.argument("mute_id")
@by_option("ends the mute", "Who ends the mute (default: the OS user).", required=False)
@wait_options("the worker has stored the ended mute")
@click.pass_context
def alerts_unmute(ctx: click.Context, mute_id: str, who: str, wait: bool,
                  timeout: float) -> None:
    """End the mute MUTE_ID now (it stays listed, as unmuted, with who ended it).

    Exit codes: 0 ended (or sent, with --no-wait; or it had already ended); 1 not stored
    within --timeout; 2 unknown mute, or unreachable ClickHouse/Kafka.
    """
    try:
        mid = str(uuid.UUID(mute_id))
    except ValueError:
        raise click.BadParameter(f"{mute_id!r} is not a mute id (a UUID, as `blo alerts "
                                 "mutes` shows it)", param_hint="MUTE_ID") from None
    s = settings_of(ctx)
    before = current_mute(s, mid)
    if before is None:
        click.echo(f"error: no mute {mid}", err=True)
        sys.exit(2)
    now = time.time()
    if not before.active(now):
        click.echo(f"mute {mid} already ended at {_plain(before.ends_at)} UTC "
                   f"({before.status(now)})", err=True)
        return
    send(s, [mute_record(MuteRequest(mid, "expire", "", "", 0, "", who, now))])
    if not wait:
        click.echo(f"unmute of {mid} sent to {s.kafka.topic_alert_input}")
        return
    if _wait_for(s, mid, before.version + 1, timeout) is None:
        not_written("unmute sent", "stored", timeout)
    click.echo(f"unmuted {mid} ({before.rule_id or '*'} / {before.scope_key or '*'})")
