"""Import commands: ``blo import-csv`` and the record of its runs, ``blo imports``."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from blo.cli import main, settings_of
from blo.cli.data import _drain, _left_behind, _publish_chunked, _publisher, _station_time_order

if TYPE_CHECKING:
    from blo.importer import ImportMapping, StationRecordDict
    from blo.importer.revise import FileFacts, ReplacedPeriod, RevisionPlan
    from blo.importer.runs import Outcome, RejectedRow
    from blo.importer.stations import StationProblem
    from blo.settings import Settings


@main.command("import-csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", required=True, help="Mapping YAML file, or the name of a shipped "
              "mapping: bts_border_crossing, bts_san_ysidro, bts_ports_with_coords, "
              "cbp_drug_seizures (format: docs/import-csv.md).")
@click.option("--register-stations/--no-register-stations", default=True, show_default=True,
              help="Publish station records derived by the mapping for unknown stations.")
@click.option("--buffer", default=None, help="On-disk buffer path.")
@click.option("--timeout", default=300.0, show_default=True)
@click.option("--order", type=click.Choice(["event-time", "file"]), default="event-time",
              show_default=True,
              help="event-time: publish each station's reports in event-time order, whatever "
                   "the file's order, so event-time windows see an in-order history (the file "
                   "is held in memory); file: publish as read (large files; the file is read "
                   "twice; then run `blo windows rebuild` over the imported range).")
@click.option("--replaces", "replaces", default=None, callback=lambda ctx, param, value:
              _replaced_period(value), metavar="PERIOD",
              help="The file is the whole truth for these station-local months of its "
                   "stations: stored count reports of them (of the mapping's measures) that "
                   "the file does not hold are voided. YYYY-MM, YYYY-MM..YYYY-MM, YYYY or "
                   "YYYY..YYYY (docs/import-csv.md, Revised files).")
@click.option("--dry-run", is_flag=True,
              help="Map and check everything, publish nothing; the run is recorded.")
@click.pass_context
def import_csv(ctx: click.Context, file: str, mapping: str, register_stations: bool,
               buffer: str | None, timeout: float, order: str, replaces: ReplacedPeriod | None,
               dry_run: bool) -> None:
    """Publish a periodic-statistics CSV as count reports, through the same path as stations.

    Every row is mapped and every derived station record is checked against the registry's
    schema before anything is published: one the registry would refuse stops the import
    (exit 1, each listed with its line and field; nothing published). By default each
    station's reports are published in event-time order (a backfill in any file order then
    yields the same window rows as sorted input; docs/windows.md). Each run (file and
    mapping with their SHA-256, counts, outcome) and each rejected row is recorded: `blo
    imports list`, `blo imports show RUN_ID`.

    A file imported again (a revised edition) is compared with what is stored: unchanged
    reports are not published, changed ones are published as revisions, and with
    --replaces PERIOD stored reports of the period the file no longer holds are voided.
    """
    from blo.importer import ImportFileError, MappingError, parse_mapping
    from blo.importer.mapping import read_mapping_text
    from blo.importer.runs import new_run_id, sha256_of_file, sha256_of_text
    from blo.importer.store import RecordError, check_recordable

    s = settings_of(ctx)
    started = datetime.now(UTC)
    path = Path(file)
    try:
        text, label = read_mapping_text(mapping)
        m = parse_mapping(text, label)
        file_sha, file_bytes = sha256_of_file(path)
        check_recordable(s)
        run = _Run(s, new_run_id(), started, path, file_sha, file_bytes, label, text,
                   sha256_of_text(text), dry_run)
        _import(s, run, m, register_stations, buffer, timeout, order, replaces)
    except (MappingError, ImportFileError, OSError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except RecordError as e:
        click.echo(f"error: {e}; nothing was published", err=True)
        sys.exit(2)


def _replaced_period(value: str | None) -> ReplacedPeriod | None:
    from blo.importer.revise import parse_period

    if value is None:
        return None
    try:
        return parse_period(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--replaces'") from None


class _Run:
    """What a run records about itself, and the recording."""

    def __init__(self, s: Settings, run_id: str, started: datetime, path: Path, file_sha: str,
                 file_bytes: int, label: str, text: str, mapping_sha: str,
                 dry_run: bool) -> None:
        self.s, self.run_id, self.started, self.path = s, run_id, started, path
        self.file_sha, self.file_bytes = file_sha, file_bytes
        self.label, self.text, self.mapping_sha, self.dry_run = label, text, mapping_sha, dry_run

    def record(self, outcome: Outcome, rows_read: int, events: int, stations: int,
               rejected: list[RejectedRow]) -> bool:
        """Store the run; False (and the reason on stderr) when that failed."""
        from blo.importer.runs import ImportRun
        from blo.importer.store import RecordError, record_run

        run = ImportRun(
            run_id=self.run_id, started_at=self.started, finished_at=datetime.now(UTC),
            file_name=str(self.path), file_sha256=self.file_sha, file_bytes=self.file_bytes,
            mapping=self.label, mapping_sha256=self.mapping_sha, mapping_text=self.text,
            dry_run=self.dry_run, outcome=outcome, rows_read=rows_read,
            events_published=events, rows_rejected=len(rejected),
            stations_registered=stations)
        try:
            record_run(self.s, run, sorted(rejected, key=lambda r: r.line_no))
        except RecordError as e:
            click.echo(f"error: {e}", err=True)
            return False
        click.echo(f"import run {self.run_id} recorded: blo imports show {self.run_id}")
        return True


def _import(s: Settings, run: _Run, m: ImportMapping, register_stations: bool,
            buffer: str | None, timeout: float, order: str,
            replaces: ReplacedPeriod | None = None) -> None:
    from blo.importer import Mapped, iter_import
    from blo.importer.revise import FileFacts
    from blo.importer.runs import RejectedRow
    from blo.importer.stations import INVALID_STATION_RECORD, check_station, registered_stations
    from blo.importer.stored import StoredReadError
    from blo.kafka_io import ensure_pipeline_topics, produce, read_topic
    from blo.retention_check import ImportRetentionCheck

    ensure_pipeline_topics(s.kafka)
    # registered = accepted by the registry: a refused record on the topic registers nothing
    known = registered_stations(
        value for _, _, _, value in read_topic(s.kafka, s.kafka.topic_stations,
                                               idle_timeout_s=1.5))
    reported_at = datetime.now(UTC)
    retention = ImportRetentionCheck(s.retention, reported_at)
    rejected: list[RejectedRow] = []
    stations: list[StationRecordDict] = []
    invalid: list[StationProblem] = []
    held: list[tuple[str, Any]] = []  # event-time order: every event, published after the check
    rows_ok = events = 0
    facts = FileFacts()  # what the comparison with the stored reports needs
    total_lines = sum(1 for _ in run.path.open("rb"))

    def items(what: str) -> Any:
        with click.progressbar(length=total_lines, label=f"{what} {run.path.name}",
                               file=sys.stderr) as bar:
            done = 0
            for item in iter_import(run.path, m, reported_at=reported_at, known_stations=known):
                yield item
                bar.update(item.line_no - done)
                done = item.line_no
            bar.update(total_lines - done)

    # 1. map every row and judge every derived station record: nothing is published yet
    for item in items("checking"):
        if isinstance(item, Mapped):
            rows_ok += 1
            events += len(item.events)
            retention.add(item.events)
            facts.add(item.events)
            if item.station is not None and register_stations:
                problem = check_station(item.station, item.line_no)
                if problem is None:
                    stations.append(item.station)
                else:
                    invalid.append(problem)
            if order == "event-time":
                held.extend((f"line {item.line_no}", ev) for ev in item.events)
        else:
            rejected.append(RejectedRow(line_no=item.line_no, reason=item.reason_code,
                                        message=item.message))
    rows_read = rows_ok + len(rejected)
    reasons = Counter(r.reason for r in rejected)
    examples: dict[str, str] = {}
    for r in rejected:
        examples.setdefault(r.reason, f"line {r.line_no}: {r.message}")

    def report(verb: str, n_events: int, n_stations: int) -> None:
        click.echo(f"rows {verb}: {rows_ok} ({n_events} events); stations registered: "
                   f"{n_stations}; rows rejected: {len(rejected)}")
        for code, n in reasons.most_common():
            click.echo(f"  rejected {n:>6}  {code}  e.g. {examples[code]}")

    if invalid:
        click.echo(f"error: {len(invalid)} station record(s) derived by mapping {run.label} "
                   "are refused by the station registry's schema; nothing was published:",
                   err=True)
        for p in invalid:
            click.echo(f"  {p.describe()}", err=True)
        click.echo("fix the mapping's `stations` fields (docs/import-csv.md) and import again",
                   err=True)
        refusals = [RejectedRow(line_no=p.line_no, reason=INVALID_STATION_RECORD,
                                message=p.describe().split(": ", 1)[1]) for p in invalid]
        report("mapped", events, 0)
        run.record("refused", rows_read, 0, 0, rejected + refusals)
        sys.exit(1)
    # 1b. compare with what is stored of the file's stations: nothing is published yet
    if replaces is not None and not facts.overlaps(replaces):
        click.echo(f"error: --replaces {replaces}: the file holds no report of that period "
                   "(it would only void); nothing was published", err=True)
        run.record("refused", rows_read, 0, 0, rejected)
        sys.exit(1)
    try:
        plan = _revision_plan(s, run, m, facts, replaces, reported_at)
    except StoredReadError as e:
        click.echo(f"error: {e}; nothing was published", err=True)
        run.record("refused", rows_read, 0, 0, rejected)
        sys.exit(2)

    def judged(pairs: Any) -> Any:
        for label, ev in pairs:
            out = plan.judge(ev)
            if out is not None:
                yield label, out

    if run.dry_run:
        if order != "event-time":  # nothing held: judge a second reading of the file
            for _ in judged((None, ev) for item in items("comparing")
                            if isinstance(item, Mapped) for ev in item.events):
                pass
        else:
            for _ in judged(held):
                pass
        report("mapped (dry run, nothing published)", events, 0)
        click.echo(f"  would register {len(stations)} station(s)")
        _report_revision(plan, replaces, "dry run, nothing published: ")
        for warning in retention.warnings():
            click.echo(warning, err=True)
        sys.exit(0 if run.record("dry_run", rows_read, 0, 0, rejected) else 1)

    # 2. publish: the station records first (acknowledged before any event: no hold needed)
    if stations:
        produce(s.kafka, s.kafka.topic_stations,
                [(st["station_id"].encode(), orjson.dumps(st)) for st in stations])
    problems: list[str] = []
    accepted = 0
    with _publisher(s, buffer, "import") as pub:
        if order == "event-time":
            held.sort(key=_station_time_order)  # stable: file order among equal times
            held = list(judged(held))
            click.echo(f"publishing {len(held)} events in event-time order per station",
                       err=True)
            accepted, problems = _publish_chunked(pub, held)
        else:
            pending: list[tuple[str, Any]] = []
            for item in items("publishing"):
                if isinstance(item, Mapped):
                    pending.extend(judged((f"line {item.line_no}", ev) for ev in item.events))
                    if len(pending) >= 2000:
                        sent, refused = _publish_chunked(pub, pending)
                        accepted += sent
                        problems.extend(refused)
                        pending.clear()
            sent, refused = _publish_chunked(pub, pending)
            accepted += sent
            problems.extend(refused)
        if plan.voids:  # after the file's own events: other ids, so any order is right
            sent, refused = _publish_chunked(
                pub, ((f"void of {v['event_id']}", v) for v in plan.voids))
            accepted += sent
            problems.extend(refused)
        _drain(pub, timeout)
    report("published", events, len(stations))
    _report_revision(plan, replaces, "")
    for msg in problems:
        click.echo(f"  not published: {msg}", err=True)
    for warning in retention.warnings():
        click.echo(warning, err=True)
    left = _left_behind(pub, timeout)
    recorded = run.record("buffered" if left else "published", rows_read, accepted,
                          len(stations), rejected)
    if left:
        sys.exit(left)
    if problems or not recorded:
        sys.exit(1)


def _revision_plan(s: Settings, run: _Run, m: ImportMapping, facts: FileFacts,
                   replaces: ReplacedPeriod | None, reported_at: datetime) -> RevisionPlan:
    """What is stored of the file's stations over its span (and the replaced period),
    read in bounded chunks, and the decisions it makes. :class:`blo.importer.stored.
    StoredReadError` when it cannot be read."""
    from blo.importer.revise import (
        RevisionPlan,
        StoredIndex,
        lookup_chunks,
        revision_reason,
        scope_measures,
        void_reason,
    )
    from blo.importer.stored import read_index

    chunks = lookup_chunks(facts, replaces)
    index = StoredIndex(facts.ids, scope_measures(m, facts.measures))
    with click.progressbar(length=len(chunks), label="comparing with stored reports",
                           file=sys.stderr) as bar:
        read_index(s, chunks, index, lambda _rows: bar.update(1))
    return RevisionPlan(index, facts, revision_reason(run.path.name, run.file_sha),
                        void_reason(run.path.name), reported_at, replaces)


def _report_revision(plan: RevisionPlan, replaces: ReplacedPeriod | None, prefix: str) -> None:
    c = plan.counts
    click.echo(prefix + c.line() + (f" (--replaces {replaces})" if replaces is not None else ""))
    if c.absent:
        click.echo(f"  {c.absent} stored reports are not in this file; pass --replaces PERIOD "
                   "to void them (PERIOD: YYYY-MM..YYYY-MM, docs/import-csv.md)")


@main.group()
def imports() -> None:
    """The record of `blo import-csv` runs and the rows they rejected."""


@imports.command("list")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def imports_list(ctx: click.Context, limit: int) -> None:
    """Import runs, newest first."""
    from blo.cli.ops import _print_rows
    from blo.importer.store import list_runs

    rows = list_runs(settings_of(ctx), limit)
    _print_rows(rows, ("run", "started", "finished", "file", "mapping", "outcome", "dry_run",
                       "rows", "events", "rejected", "stations"), "table")


@imports.command("show")
@click.argument("run_id")
@click.option("--limit", default=1000, show_default=True, help="Rejected rows shown at most.")
@click.pass_context
def imports_show(ctx: click.Context, run_id: str, limit: int) -> None:
    """One import run: what was imported, its counts, and the rows it rejected."""
    from blo.cli.ops import _print_rows
    from blo.importer.store import rejection_counts, run_rejections, show_run

    s = settings_of(ctx)
    run = show_run(s, run_id)
    if run is None:
        click.echo(f"error: no import run {run_id} (blo imports list)", err=True)
        sys.exit(1)
    text = run.pop("mapping_text")
    width = max(len(k) for k in run)
    for k, v in run.items():
        click.echo(f"{k.ljust(width)}  {v}")
    click.echo(f"{'mapping text'.ljust(width)}  {len(text)} characters (the YAML as used)")
    counts = rejection_counts(s, run_id)
    if counts:
        click.echo("rejected rows by reason: "
                   + ", ".join(f"{reason} {n}" for reason, n in counts))
    click.echo("")
    rows = run_rejections(s, run_id, limit)
    _print_rows(rows, ("line", "reason", "message"), "table")
    total = sum(int(n) for _, n in counts)
    if total > len(rows):
        click.echo(f"(first {len(rows)} of {total} rejected rows; --limit)")
