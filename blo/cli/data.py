"""Data commands: stations, publish, simulate, dlq, schema (import-csv: blo/cli/imports.py)."""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from blo.cli import main, settings_of
from blo.cli.ops import formula_guard_option
from blo.settings import Settings


def _buffer_path(s: Settings, buffer: str | None, name: str) -> Path:
    return Path(buffer) if buffer else s.data_dir / "sdk" / f"{name}.sqlite"


def _publisher(s: Settings, buffer: str | None, name: str) -> Any:
    from blo.sdk import StationPublisher

    path = _buffer_path(s, buffer, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return StationPublisher(s.kafka, s.kafka.topic_raw, path)


def _publish_chunked(pub: Any, items: Any, chunk: int = 1000) -> tuple[int, list[str]]:
    """Publish (label, event) pairs in durable chunks (one fsync each). An event the SDK
    refuses (no station_id, too large, …) is reported by its label, never aborts the rest."""
    from blo.sdk import PublishError

    sent = 0
    problems: list[str] = []
    batch: list[tuple[str, Any]] = []

    def flush_batch() -> None:
        nonlocal sent
        try:
            pub.publish_many([e for _, e in batch])
            sent += len(batch)
        except PublishError:  # find the culprit(s) one by one
            for label, e in batch:
                try:
                    pub.publish(e)
                    sent += 1
                except PublishError as err:
                    problems.append(f"{label}: {err}")
        batch.clear()

    for label, event in items:
        batch.append((label, event))
        if len(batch) >= chunk:
            flush_batch()
    if batch:
        flush_batch()
    return sent, problems


def _station_time_order(item: tuple[str, Any]) -> tuple[str, datetime]:
    """Sort key of a (label, event) pair: station, then event time (RFC 3339 text or an
    aware datetime)."""
    event = item[1]
    t = event.get("occurred_at")
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)
        except ValueError:
            t = None
    if not isinstance(t, datetime) or t.tzinfo is None:
        t = _NO_TIME  # invalid: the worker dead-letters it anyway
    return (str(event.get("station_id", "")), t)


_NO_TIME = datetime.min.replace(tzinfo=UTC)


EXIT_BUFFERED = 75
"""Exit code (``EX_TEMPFAIL``) of a command that leaves events in its on-disk buffer: they
are safe and go out with ``blo publish --flush-buffer --buffer PATH`` (or any later
publish on that buffer) once the broker answers."""


def _drain(pub: Any, timeout: float) -> None:
    """Wait up to ``timeout`` s for the buffer to reach the broker, showing progress.
    Nothing is lost on timeout: what is left stays in the buffer (:func:`_left_behind`)."""
    total = pub.pending()
    if total == 0:
        return
    deadline = time.monotonic() + timeout
    with click.progressbar(length=total, label="sending", file=sys.stderr) as bar:
        last = total
        while True:
            left = pub.pending()
            bar.update(last - left)
            last = left
            if left == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.2)


def _left_behind(pub: Any, timeout: float) -> int:
    """After ``pub.close()``: 0 if the buffer is empty; else say how many events are still
    buffered, where, why, and the command that sends them, and return EXIT_BUFFERED."""
    left: int = pub.pending()
    if left == 0:
        return 0
    path = Path(pub.buffer_path).resolve()
    why = f" ({pub.last_error})" if pub.last_error else ""
    click.echo(
        f"error: {left} event(s) not acknowledged by the broker within {timeout:g} s{why}; "
        f"they are kept in the buffer {path}", err=True)
    click.echo(f"send them later with: blo publish --flush-buffer --buffer {shlex.quote(str(path))}"
               " (or any later blo publish with that --buffer)", err=True)
    return EXIT_BUFFERED


@dataclass(frozen=True, slots=True)
class CorrectionMode:
    """What ``blo publish --revise N`` / ``--void N`` (with ``--reason``) does to each
    input event."""

    void: bool
    revision: int
    reason: str

    def record(self, event: dict[str, Any]) -> dict[str, object]:
        """The record sent for ``event``; raises :class:`blo.sdk.InvalidEvent`."""
        from blo.sdk import revision_record, void_record

        build = void_record if self.void else revision_record
        return build(event, revision=self.revision, reason=self.reason)


def correction_mode(revise: int | None, void: int | None, reason: str | None
                    ) -> CorrectionMode | None:
    """The ``--revise``/``--void``/``--reason`` options of ``blo publish``, checked:
    at most one of the first two, and ``--reason`` (not blank, at most 128 characters)
    with either and only with either; ``click.UsageError`` otherwise."""
    if revise is not None and void is not None:
        raise click.UsageError("--revise and --void exclude each other: an event is either "
                               "corrected or withdrawn")
    if revise is None and void is None:
        if reason is not None:
            raise click.UsageError("--reason goes with --revise N or --void N")
        return None
    option = "--revise" if revise is not None else "--void"
    if reason is None or not reason.strip():
        raise click.UsageError(f"{option} needs --reason TEXT (why; it is kept with the "
                               "event's history)")
    if len(reason) > 128:
        raise click.UsageError(f"--reason is {len(reason)} characters; at most 128")
    if any(ord(c) < 32 or ord(c) == 127 for c in reason):
        raise click.UsageError("--reason must be one line of text (no control characters)")
    revision = revise if revise is not None else void
    assert revision is not None
    return CorrectionMode(void is not None, revision, reason)


@main.group()
def stations() -> None:
    """Station registry."""


@stations.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def stations_load(ctx: click.Context, file: str) -> None:
    """Load station records (YAML, JSON or CSV) into the registry topic.

    Every record is checked against the registry's schema first: if any is refused, each
    is listed with its line (CSV) or entry (YAML/JSON) and field, nothing is published, and
    the exit code is 1. Running workers pick the records up without a restart; a later
    `valid_from` adds history (events are enriched with the entry valid at their
    occurred_at).
    """
    from blo.kafka_io import ensure_pipeline_topics, produce
    from schemas.station import StationFileError, load_station_file

    s = settings_of(ctx)
    try:
        records = load_station_file(Path(file))
    except StationFileError as e:
        click.echo(f"error: {file}: refused by the station registry's schema; nothing was "
                   "published:", err=True)
        for problem in e.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    ensure_pipeline_topics(s.kafka)
    n = produce(s.kafka, s.kafka.topic_stations,
                ((r.station_id.encode(), r.model_dump_json().encode()) for r in records))
    click.echo(f"loaded {n} station record(s) from {file} into {s.kafka.topic_stations}")


@stations.command("list")
@click.option("--country", default=None, metavar="CC",
              help="Only this country's stations (ISO code, e.g. KZ).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True,
              help="json: JSON Lines, one object per station with every registry field; "
                   "csv: the same fields, a header row.")
@click.option("--wide", is_flag=True, help="table: never cut a cell to fit the terminal.")
@formula_guard_option("csv")
@click.pass_context
def stations_list(ctx: click.Context, country: str | None, fmt: str, wide: bool,
                  guard: bool) -> None:
    """The station registry as the worker sees it: each station's record in force now.

    Read from ClickHouse's stations table (what the worker wrote from the registry topic;
    the readers' view, latest valid_from not in the future), the way `blo query` and `blo
    stats` read, through the running worker when ClickHouse is embedded. border is the
    sorted country pair (KG-TJ), or 'interior' for a post with no land neighbour.
    """
    from blo.cli.ops import print_rows
    from blo.readers import STATION_LIST_COLUMNS, run_query, stations_sql

    if country is not None:
        country = country.strip().upper()
        if len(country) != 2 or not country.isalpha() or not country.isascii():
            raise click.BadParameter(f"{country!r} is not a country code (e.g. KZ)",
                                     param_hint="--country")
    s = settings_of(ctx)
    rows = [station_document(r)
            for r in run_query(s, stations_sql(s.clickhouse.target().database, country))]
    if fmt != "table":
        print_rows(STATION_LIST_COLUMNS, rows, fmt, guard=guard)
        return
    at = {c: i for i, c in enumerate(STATION_LIST_COLUMNS)}
    print_rows(("station", "name", "country", "agency", "border", "tz", "active",
                "valid_from"),
               [[r[at["station_id"]], r[at["name"]], r[at["country"]], r[at["agency"]],
                 r[at["border"]], r[at["tz"]], "yes" if r[at["active"]] else "no",
                 r[at["valid_from"]]] for r in rows], "table", wide=wide)
    if not rows:
        click.echo("no stations" + (f" of {country}" if country else "")
                   + " in the stations table (is the worker running, with stations loaded?)",
                   err=True)


def station_document(row: list[Any]) -> list[Any]:
    """A row of :data:`blo.readers.STATION_LIST_COLUMNS` as the registry states it: empty
    optional fields null, the flags booleans, valid_from RFC 3339, border 'interior' for
    an interior post."""
    from blo.readers import STATION_LIST_COLUMNS

    doc = dict(zip(STATION_LIST_COLUMNS, row, strict=True))
    for name in ("neighbour_country", "paired_blo", "coord_source"):
        doc[name] = doc[name] or None
    doc["border"] = doc["border"] or "interior"
    doc["coord_approximate"] = bool(doc["coord_approximate"])
    doc["active"] = bool(doc["active"])
    doc["valid_from"] = _utc(doc["valid_from"], "T")
    return list(doc.values())


@main.command()
@click.argument("file", default="-", type=click.File("r"))
@click.option("--buffer", default=None, help="On-disk buffer (default: $BLO_DATA_DIR/sdk/publish.sqlite).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for delivery.")
@click.option("--flush-buffer", is_flag=True,
              help="Read no input: send what the buffer still holds (events an earlier run "
                   "could not deliver) and wait up to --timeout for the broker.")
@click.option("--revise", type=click.IntRange(min=1), default=None, metavar="N",
              help="Send every input event as revision N of itself (the corrected event, "
                   "whole; same event_id). Needs --reason.")
@click.option("--void", "void_at", type=click.IntRange(min=1), default=None, metavar="N",
              help="Void every input event at revision N (higher than any sent for it). "
                   "Needs --reason.")
@click.option("--reason", default=None, metavar="TEXT",
              help="Why (correction_reason, 1-128 characters): with --revise or --void.")
@click.pass_context
def publish(ctx: click.Context, file: TextIO, buffer: str | None, timeout: float,
            flush_buffer: bool, revise: int | None, void_at: int | None,
            reason: str | None) -> None:
    """Publish JSON Lines events (FILE or - for stdin) as a station would.

    Events are buffered on disk first, so nothing is lost if the broker is unreachable;
    event_id is derived from (station_id, source_seq) when absent. Events an earlier run
    left in the buffer are sent first.

    Corrections (docs/corrections.md): --revise N --reason TEXT sends each event as
    revision N of itself; --void N --reason TEXT withdraws each event (a void with its
    event_id, station_id, occurred_at and source_seq). Both are checked against the schema
    first; an event that fails is skipped and listed.

    Exit codes: 0 every event acknowledged by the broker; 75 (EX_TEMPFAIL) events remain
    in the buffer after --timeout (the message says how many, where, and the command that
    sends them: blo publish --flush-buffer --buffer PATH); 1 input lines or events skipped
    (when nothing remains buffered); 2 bad settings.
    """
    from blo.sdk import PublishError, iter_jsonl

    correction = correction_mode(revise, void_at, reason)
    s = settings_of(ctx)
    if flush_buffer:
        if file.name != "<stdin>":
            raise click.UsageError("--flush-buffer reads no input: give no FILE")
        if correction is not None:
            raise click.UsageError("--flush-buffer reads no input: --revise/--void have "
                                   "nothing to correct")
        path = _buffer_path(s, buffer, "publish")
        if not path.is_file():
            click.echo(f"nothing to send: no buffer file at {path}", err=True)
            return
    unreadable: list[str] = []
    uncorrectable: list[str] = []  # --revise/--void: refused by the schema before buffering

    def events() -> Any:
        if flush_buffer:
            return
        for n, item in enumerate(iter_jsonl(file), start=1):
            if not isinstance(item, dict):
                unreadable.append(str(item))
            elif correction is None:
                yield f"line {n}", item
            else:
                try:
                    yield f"line {n}", correction.record(item)
                except PublishError as e:
                    uncorrectable.append(f"line {n}: {e}")

    pub = _publisher(s, buffer, "publish")
    try:
        before = pub.pending()
        accepted, refused = _publish_chunked(pub, events())
        _drain(pub, timeout)
    finally:
        pub.close(timeout=0.0)
    refused = uncorrectable + refused
    for msg in unreadable + refused:
        click.echo(f"skipped {msg}", err=True)
    left = pub.pending()
    earlier = f" (and {before} left in the buffer by an earlier run)" if before else ""
    if flush_buffer:
        click.echo(f"sent {pub.sent_events} buffered event(s); {left} still buffered")
    elif left:
        click.echo(f"buffered {accepted} event(s){earlier}: {pub.sent_events} sent to the "
                   f"broker, {left} still buffered; skipped {len(unreadable)} unreadable "
                   f"line(s) and {len(refused)} event(s) the SDK refused")
    else:
        click.echo(f"published {accepted} event(s){earlier}; skipped {len(unreadable)} "
                   f"unreadable line(s) and {len(refused)} event(s) the SDK refused")
    code = _left_behind(pub, timeout)
    if code:
        sys.exit(code)
    if unreadable or refused:
        sys.exit(1)


@main.command()
@click.option("--stations", "n_stations", default=10, show_default=True)
@click.option("--rate", default=None, type=float,
              help="Events per second at all posts, on a weekly average: sets --scale.")
@click.option("--scale", default=None, type=float,
              help="Routine traffic (crossings, inspections, liaison) relative to real "
                   "posts [default: 1, or from --rate]. Seizures, detentions and incidents "
                   "keep their real rates.")
@click.option("--duration", default=None, type=float, help="Seconds (default: until Ctrl-C).")
@click.option("--seed", default=7, show_default=True)
@click.option("--register/--no-register", default=True, show_default=True,
              help="Publish the simulated posts' station records first.")
@click.option("--buffer", default=None)
@click.option("--scenario", default=None, metavar="NAME",
              help="Inject a scripted scenario into the traffic (--list-scenarios).")
@click.option("--at", "at_s", default=60.0, show_default=True,
              help="Seconds after the start when the scenario begins.")
@click.option("--list-scenarios", is_flag=True, help="List the scenarios and exit.")
@click.pass_context
def simulate(ctx: click.Context, n_stations: int, rate: float | None, scale: float | None,
             duration: float | None, seed: int, register: bool, buffer: str | None,
             scenario: str | None, at_s: float, list_scenarios: bool) -> None:
    """Realistic synthetic traffic from N posts (the real BLO sites first), in real time.

    Rates per post by local hour and weekday (docs/simulator.md); --scale (or --rate)
    multiplies the routine traffic only. --scenario NAME adds a scripted event (a heroin
    run, a silent post, a refusal surge) and prints the alerts it should raise.
    """
    from datetime import timedelta

    from blo.kafka_io import ensure_pipeline_topics, produce
    from blo.sim.scenarios import SCENARIOS, Plan, ScenarioError
    from blo.simulate import TrafficGenerator, simulation_stations

    if list_scenarios:
        for sc in SCENARIOS.values():
            click.echo(f"{sc.name:<14} {sc.summary}")
        return
    if scenario is not None and scenario not in SCENARIOS:
        raise click.BadParameter(f"unknown scenario {scenario!r}; one of: "
                                 f"{', '.join(SCENARIOS)}", param_hint="--scenario")
    if rate is not None and scale is not None:
        raise click.UsageError("give --rate or --scale, not both")
    posts = simulation_stations(n_stations)
    start = datetime.now(UTC)
    plan = Plan()
    gen = TrafficGenerator(posts, rate, scale=scale, seed=seed, start=start)
    if scenario is not None:
        at = start + timedelta(seconds=at_s)
        try:
            plan = SCENARIOS[scenario].plan({p.station_id: p for p in posts}, at, gen.scale)
        except ScenarioError as e:
            raise click.UsageError(str(e)) from e
        gen = TrafficGenerator(posts, scale=gen.scale, seed=seed, start=start, plan=plan)
    s = settings_of(ctx)
    if register:
        ensure_pipeline_topics(s.kafka)
        produce(s.kafka, s.kafka.topic_stations,
                ((p.station_id.encode(), p.model_dump_json().encode()) for p in posts))
    click.echo(f"simulating {len(posts)} posts: routine traffic x{gen.scale:.3g} of real "
               f"posts (about {gen.rate:.3g} events/s on a weekly average); seizures, "
               "detentions and incidents at real rates (Ctrl-C to stop)", err=True)
    if scenario is not None:
        click.echo(f"scenario {scenario} from {start + timedelta(seconds=at_s):%H:%M:%S} "
                   "UTC; expected alerts:", err=True)
        for x in plan.expected:
            when = "after the window ending" if x.closes_window else "at"
            click.echo(f"  {x.rule_id} {x.scope_key} ({when} {x.ready_at:%H:%M:%S} UTC)",
                       err=True)
        for note in plan.notes:
            click.echo(f"  note: {note}", err=True)
    began = time.monotonic()
    sent = 0
    pub = None
    try:
        with _publisher(s, buffer, "simulate") as pub:
            while duration is None or time.monotonic() - began < duration:
                now = start + timedelta(seconds=time.monotonic() - began)
                due = list(gen.until(now))
                if due:  # one durable write per tick, event time = wall time
                    pub.publish_many(due)
                    sent += len(due)
                time.sleep(0.05)
            _drain(pub, 60)
    except KeyboardInterrupt:
        pass
    click.echo(f"simulated {sent} events", err=True)
    if pub is not None and _left_behind(pub, 60):
        sys.exit(EXIT_BUFFERED)


@main.group()
def dlq() -> None:
    """Dead letters: inspect and replay."""


@dlq.command("list")
@click.option("--reason", default=None, help="Only this reason code.")
@click.option("--station", default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--wide", is_flag=True, help="Never cut a cell (details) to fit the terminal.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON Lines: one object per dead letter, raw values (details whole, "
                   "reasons as a list, failed_at RFC 3339), without the payload.")
@click.pass_context
def dlq_list(ctx: click.Context, reason: str | None, station: str | None, limit: int,
             wide: bool, as_json: bool) -> None:
    """Dead letters, newest first (readers' view of the dlq table).

    The table fits the terminal (details cut with an ellipsis; --wide: whole); newlines,
    control and bidirectional characters in any cell are shown escaped (\\n, \\x00,
    \\u202e).
    """
    from blo.cli.ops import print_rows
    from blo.readers import run_query
    from sinks.sql import quote

    s = settings_of(ctx)
    where = ["1"]
    if reason:
        where.append(f"reason = {quote(reason)}")
    if station:
        where.append(f"station_id = {quote(station)}")
    sql = (f"SELECT {', '.join(DLQ_LIST_COLUMNS)} "
           f"FROM {s.clickhouse.target().database}.dlq FINAL WHERE {' AND '.join(where)} "
           f"ORDER BY failed_at DESC LIMIT {int(limit)}")
    rows = run_query(s, sql)
    if as_json:
        print_rows(list(DLQ_LIST_COLUMNS), [dlq_document(r) for r in rows], "json")
        return
    table = {c: i for i, c in enumerate(DLQ_LIST_COLUMNS)}
    print_rows(("failed_at", "reason", "station", "type", "part", "offset", "elem", "bytes",
                "details"),
               [[_utc(r[table["failed_at"]], " ")] + [r[table[c]] for c in _DLQ_TABLE[1:]]
                for r in rows], "table", wide=wide)


DLQ_LIST_COLUMNS = ("dlq_id", "failed_at", "reason", "reasons", "details", "station_id",
                    "event_type", "event_id", "kafka_topic", "kafka_partition",
                    "kafka_offset", "element_index", "payload_size", "payload_sha256",
                    "payload_truncated", "payload_encoding")
"""The columns of ``blo dlq list --json`` (the dlq table's, but the payload: `blo query`
reads it, e.g. ``SELECT payload FROM blo.dlq WHERE dlq_id = '…'``)."""
_DLQ_TABLE = ("failed_at", "reason", "station_id", "event_type", "kafka_partition",
              "kafka_offset", "element_index", "payload_size", "details")


def _utc(value: object, sep: str) -> str:
    """A DateTime('UTC') value as the door (text) or the driver (datetime) gives it, as
    ``YYYY-MM-DD hh:mm:ss`` (``sep`` " ") or RFC 3339 (``sep`` "T", with a Z)."""
    if isinstance(value, datetime):
        t = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    else:
        t = datetime.fromisoformat(str(value).replace("Z", ""))
        t = t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)
    return t.isoformat(sep) + ("Z" if sep == "T" else "")


def dlq_document(row: list[Any]) -> list[Any]:
    """A row of :data:`DLQ_LIST_COLUMNS` with JSON's types: failed_at RFC 3339, reasons a
    list, payload_truncated a boolean; the rest as stored."""
    doc = dict(zip(DLQ_LIST_COLUMNS, row, strict=True))
    doc["failed_at"] = _utc(doc["failed_at"], "T")
    doc["reasons"] = list(doc["reasons"])
    doc["payload_truncated"] = bool(doc["payload_truncated"])
    return list(doc.values())


@dlq.command("replay")
@click.option("--reason", default=None,
              help="Only dead letters with this primary reason (e.g. unknown_station).")
@click.option("--all", "replay_all", is_flag=True,
              help="Every reason. Letters whose cause is in the payload itself (not_json, "
                   "invalid, id_conflict …) will fail again and be dead-lettered again.")
@click.option("--station", "stations", multiple=True,
              help="Only dead letters of this station (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be re-published.")
@click.pass_context
def dlq_replay(ctx: click.Context, reason: str | None, replay_all: bool,
               stations: tuple[str, ...], dry_run: bool) -> None:
    """Re-publish dead letters (read from the DLQ topic) to the raw topic once the cause is
    fixed — typically `--reason unknown_station --station ID` after `blo stations load`.

    Exactly once: each payload is re-published once, and events already stored (same id
    and body in `events`) are skipped, so a second replay publishes nothing again
    (blo/replay.py). Truncated or non-UTF-8 payloads cannot be replayed and are reported.
    """
    if not reason and not replay_all:
        raise click.UsageError("choose what to replay: --reason REASON (e.g. unknown_station) "
                               "or --all")
    from blo.kafka_io import produce, read_topic
    from blo.readers import run_query
    from blo.replay import STORED, drop_stored, plan_replay, stored_hashes_queries

    s = settings_of(ctx)
    plan = plan_replay((value for _, _, _, value in read_topic(s.kafka, s.kafka.topic_dlq)
                        if value is not None), reason, stations)
    stored: dict[str, set[str]] = {}
    for sql in stored_hashes_queries(s.clickhouse.target().database, plan):
        for event_id, h in run_query(s, sql):
            stored.setdefault(event_id, set()).add(h)
    drop_stored(plan, stored)
    todo = [(letter.key, letter.payload) for letter in plan.todo]
    if dry_run:
        click.echo(f"would re-publish {len(todo)} dead letter(s) to {s.kafka.topic_raw}")
    else:
        n = produce(s.kafka, s.kafka.topic_raw, todo)
        click.echo(f"re-published {n} dead letter(s) to {s.kafka.topic_raw}")
    for why, n in plan.skipped.items():
        click.echo(f"  {'skipped' if why == STORED else 'not replayable'}: {n} ({why})")


@main.group()
def schema() -> None:
    """Event schemas for station developers."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
def schema_export(directory: str) -> None:
    """Write the JSON Schema of every event type (and the station record) to DIRECTORY,
    and of the alert messages on the alerts topic and webhook (alert.schema.json)."""
    import json

    from schemas.export import export_json_schemas
    from streams.alerts import alert_json_schema

    paths = export_json_schemas(Path(directory))
    alert = Path(directory) / "alert.schema.json"
    alert.write_text(json.dumps(alert_json_schema(), indent=2, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    for p in [*paths, alert]:
        click.echo(str(p))
