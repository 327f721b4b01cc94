"""Re-importing a revised file: what is stored decides what is published. Pure.

The ids of imported events are deterministic (station + coded ``source_seq``), so a revised
copy of a file yields, row for row, the ids already stored. Against what is stored of the
file's stations over the file's period (:class:`StoredIndex`, fed the rows of
:func:`sinks.read_model.events.stored_reports_of`), each event of the file is

* **unchanged** — its content (the canonical JSON without ``reported_at``, ``revision`` and
  ``correction_reason``) equals the stored one: not published;
* **revised** — stored with another content (or voided since): published with ``revision``
  = stored revision + 1 and a ``correction_reason`` naming the file;
* **new** — not stored: published as a first import does (no revision).

Stored live count reports of the file's stations and measures (:func:`scope_measures`) that
the file does not produce are *absent*: with a replaced period (``--replaces``,
:func:`parse_period`) those whose whole report period lies in it are voided
(:func:`void_event`); without one they are only counted. Stations with no row in the file
are never looked at.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, NotRequired, TypedDict, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import ValidationError

from blo.importer.mapping import ImportMapping
from blo.importer.records import CountReportDict
from schemas.events import CountReportEvent
from schemas.identity import canonical_json, utc_text

IGNORED_KEYS = ("reported_at", "revision", "correction_reason")
"""What a revised file may change without the event counting as changed."""

LABEL_LIMIT = 128  # schemas.fields.Label
DAY = 86_400


# -- the replaced period ------------------------------------------------------------------

PERIOD_FORM = ("YYYY-MM, YYYY-MM..YYYY-MM, YYYY or YYYY..YYYY "
               "(station-local calendar months, both ends included; e.g. 2018-01..2018-12)")
_END = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


@dataclass(frozen=True, slots=True)
class ReplacedPeriod:
    """Station-local calendar months ``first`` to ``last`` (both included), as (year, month).
    A report lies in it when its whole period does, on the station's wall clock."""

    first: tuple[int, int]
    last: tuple[int, int]

    @property
    def start(self) -> datetime:
        """Local midnight of the first day (naive: every station's own wall clock)."""
        return datetime(self.first[0], self.first[1], 1)

    @property
    def end(self) -> datetime:
        """Local midnight after the last month (exclusive, naive)."""
        y, m = self.last
        return datetime(y + m // 12, m % 12 + 1, 1)

    def utc_bounds(self) -> tuple[int, int]:
        """Epoch seconds [lo, hi) holding the period in every time zone (a day either side)."""
        lo = int(self.start.replace(tzinfo=UTC).timestamp()) - DAY
        hi = int(self.end.replace(tzinfo=UTC).timestamp()) + DAY
        return lo, hi

    def holds(self, start_s: int, end_s: int, tz: str) -> bool:
        """Whether the report period [start_s, end_s) (epoch seconds) lies in the period on
        the wall clock of ``tz`` (UTC when ``tz`` is not a known zone)."""
        zone = _zone(tz)
        start = datetime.fromtimestamp(start_s, zone).replace(tzinfo=None)
        end = datetime.fromtimestamp(end_s, zone).replace(tzinfo=None)
        return self.start <= start and end <= self.end

    def __str__(self) -> str:
        a, b = (f"{y:04d}-{m:02d}" for y, m in (self.first, self.last))
        return a if a == b else f"{a}..{b}"


def parse_period(text: str) -> ReplacedPeriod:
    """``2018-03``, ``2018-01..2018-12``, ``2018`` (its twelve months), ``2018..2019``, or
    a mix (``2018..2019-06``). ``ValueError`` naming the expected form otherwise."""
    parts = text.strip().split("..")
    if len(parts) > 2:
        raise ValueError(f"{text!r}: expected {PERIOD_FORM}")
    ends: list[tuple[int, int]] = []
    for i, part in enumerate(parts if len(parts) == 2 else parts * 2):
        m = _END.match(part.strip())
        if m is None:
            raise ValueError(f"{text!r}: expected {PERIOD_FORM}")
        year = int(m.group(1))
        month = int(m.group(2)) if m.group(2) else (1 if i == 0 else 12)
        if not 1 <= month <= 12 or year < 1900:
            raise ValueError(f"{text!r}: no month {year:04d}-{month:02d}; expected {PERIOD_FORM}")
        ends.append((year, month))
    if ends[0] > ends[1]:
        raise ValueError(f"{text!r}: the period ends before it starts; expected {PERIOD_FORM}")
    return ReplacedPeriod(ends[0], ends[1])


@lru_cache(maxsize=512)
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz) if tz else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# -- content --------------------------------------------------------------------------------

def content_of_payload(payload: str | bytes) -> bytes:
    """A digest of a stored ``payload`` (canonical JSON) without :data:`IGNORED_KEYS`."""
    data = orjson.loads(payload)
    for key in IGNORED_KEYS:
        data.pop(key, None)
    return hashlib.blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).digest()


def content_of_event(event: CountReportDict) -> bytes:
    """The same digest of an event the importer made: validated as the worker validates
    it, written as it would be stored. ``pydantic.ValidationError`` if the schema refuses
    it (the worker would dead-letter it)."""
    return content_of_payload(canonical_json(CountReportEvent.model_validate(event)))


def scope_measures(mapping: ImportMapping, seen: Iterable[str]) -> frozenset[str]:
    """The measures a revised file speaks for: the mapping's measure codes
    (``source_seq.parts`` on ``field: measure``, the whitelist of what it can produce), else
    the measures the file produced. Stored reports of other measures are never absent."""
    codes = [set(p.codes) for p in mapping.source_seq.parts if p.field == "measure"]
    return frozenset(codes[0]) if codes else frozenset(seen)


def _label(prefix: str, name: str, suffix: str = "") -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "?", name)
    room = LABEL_LIMIT - len(prefix) - len(suffix)
    if len(name) > room:
        name = name[:room - 1] + "…"
    return prefix + name + suffix


def revision_reason(file_name: str, file_sha256: str) -> str:
    """``revised file <name> (sha256 <first 12>)``, within a Label's 128 characters."""
    return _label("revised file ", file_name, f" (sha256 {file_sha256[:12]})")


def void_reason(file_name: str) -> str:
    """``absent from revised file <name>``, within a Label's 128 characters."""
    return _label("absent from revised file ", file_name)


# -- what the file holds ----------------------------------------------------------------

def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


@dataclass
class FileFacts:
    """What the stored lookup needs to know of a file: its event ids, stations, measures,
    span, and events per (station, UTC year) to size the lookup's chunks. Feed it every
    mapped event (:meth:`add`)."""

    ids: set[str] = field(default_factory=set)
    measures: set[str] = field(default_factory=set)
    per_station_year: dict[tuple[str, int], int] = field(default_factory=dict)
    first_start: int | None = None  # epoch s of the earliest period_start
    last_end: int | None = None  # epoch s of the latest period_end

    def add(self, events: Iterable[CountReportDict]) -> None:
        for ev in events:
            self.ids.add(ev["event_id"])
            self.measures.add(ev["measure"])
            start, end = _epoch(ev["period_start"]), _epoch(ev["period_end"])
            key = (ev["station_id"], datetime.fromtimestamp(_epoch(ev["occurred_at"]), UTC).year)
            self.per_station_year[key] = self.per_station_year.get(key, 0) + 1
            if self.first_start is None or start < self.first_start:
                self.first_start = start
            if self.last_end is None or end > self.last_end:
                self.last_end = end

    @property
    def stations(self) -> list[str]:
        return sorted({s for s, _ in self.per_station_year})

    def overlaps(self, period: ReplacedPeriod) -> bool:
        """Whether some report of the file may lie in ``period`` (spans meet, a day's
        leeway for time zones)."""
        if self.first_start is None or self.last_end is None:
            return False
        lo, hi = period.utc_bounds()
        return self.first_start < hi and lo < self.last_end


Chunk = tuple[tuple[str, ...], int, int]
"""(stations, lo, hi): one stored-lookup query, epoch seconds [lo, hi) on UTC years."""


def lookup_chunks(facts: FileFacts, period: ReplacedPeriod | None = None, *,
                  max_events: int = 20_000, max_stations: int = 200) -> list[Chunk]:
    """The queries that read what is stored of the file's stations over the file's span
    (and ``period``): one per UTC year and group of stations, each group expected to hold
    at most ``max_events`` of the file's events (a station with none counts one) and at
    most ``max_stations`` stations, so no answer grows with the file."""
    if facts.first_start is None or facts.last_end is None:
        return []
    lo, hi = facts.first_start, facts.last_end
    if period is not None:
        p_lo, p_hi = period.utc_bounds()
        lo, hi = min(lo, p_lo), max(hi, p_hi)
    stations = facts.stations
    first_year = datetime.fromtimestamp(lo, UTC).year
    last_year = datetime.fromtimestamp(hi - 1, UTC).year
    chunks: list[Chunk] = []
    for year in range(first_year, last_year + 1):
        y_lo, y_hi = _year_start(year), _year_start(year + 1)
        group: list[str] = []
        size = 0
        for st in stations:
            n = max(1, facts.per_station_year.get((st, year), 0))
            if group and (size + n > max_events or len(group) >= max_stations):
                chunks.append((tuple(group), y_lo, y_hi))
                group, size = [], 0
            group.append(st)
            size += n
        if group:
            chunks.append((tuple(group), y_lo, y_hi))
    return chunks


# -- what is stored -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredRow:
    """One row of :func:`sinks.read_model.events.stored_reports_of`: the latest row of an
    event in one month partition, withdrawn ones included (``voided``)."""

    event_id: str
    station_id: str
    event_type: str
    revision: int
    voided: bool
    occurred_at: int  # epoch s
    source_seq: int
    period_start: int | None
    period_end: int | None
    measure: str
    station_tz: str
    payload: str

    @classmethod
    def of(cls, row: list[object] | tuple[object, ...]) -> StoredRow:
        """From the query's columns (:data:`sinks.read_model.events.STORED_REPORT_COLUMNS`
        order), whichever engine answered (the door writes values as JSON)."""
        (eid, sid, etype, rev, voided, occ, seq, p_start, p_end, measure, tz, payload) = row
        return cls(str(eid), str(sid), str(etype), int(str(rev)), int(str(voided)) == 1,
                   int(str(occ)), int(str(seq)),
                   None if p_start is None else int(str(p_start)),
                   None if p_end is None else int(str(p_end)),
                   str(measure), str(tz), str(payload))


@dataclass(slots=True)
class StoredState:
    """What is stored of one id of the file: its highest revision, and the content digest
    of its live row (None: voided or withdrawn everywhere read)."""

    revision: int
    content: bytes | None


@dataclass(frozen=True, slots=True)
class AbsentReport:
    """A live stored count report the file does not produce, in scope."""

    event_id: str
    station_id: str
    occurred_at: int
    source_seq: int
    revision: int
    period_start: int
    period_end: int
    station_tz: str


class StoredIndex:
    """What is stored of the file's ids (:class:`StoredState`), and the live count reports
    of its stations and ``measures`` it does not produce (:class:`AbsentReport`). Holds a
    digest per stored id of the file and a few numbers per absent report: bounded by the
    file, not by the payloads read."""

    def __init__(self, file_ids: set[str], measures: frozenset[str]) -> None:
        self._file_ids = file_ids
        self._measures = measures
        self.known: dict[str, StoredState] = {}
        # per station, the latest end of a live stored report read: a report the file adds
        # before it lands behind the station's stored history (its windows may be closed)
        self.latest_end: dict[str, int] = {}
        self._absent_rev: dict[str, int] = {}
        self._absent_live: dict[str, AbsentReport] = {}

    def add(self, row: StoredRow) -> None:
        """One stored row; the rows of one id (one per month partition it was ever in) may
        come in any order and in different chunks."""
        eid = row.event_id
        if not row.voided and row.period_end is not None:
            self.latest_end[row.station_id] = max(self.latest_end.get(row.station_id, 0),
                                                  row.period_end)
        if eid in self._file_ids:
            state = self.known.get(eid)
            content = None if row.voided else content_of_payload(row.payload)
            if state is None:
                self.known[eid] = StoredState(row.revision, content)
            else:
                state.revision = max(state.revision, row.revision)
                if content is not None:
                    state.content = content
            return
        self._absent_rev[eid] = max(self._absent_rev.get(eid, 0), row.revision)
        if (not row.voided and row.event_type == "count_report" and row.measure in self._measures
                and row.period_start is not None and row.period_end is not None):
            self._absent_live[eid] = AbsentReport(
                eid, row.station_id, row.occurred_at, row.source_seq, row.revision,
                row.period_start, row.period_end, row.station_tz)

    def absent(self) -> Iterator[AbsentReport]:
        """The absent live reports, each with the highest revision read of its id."""
        for eid, r in self._absent_live.items():
            top = self._absent_rev[eid]
            yield r if top == r.revision else AbsentReport(
                r.event_id, r.station_id, r.occurred_at, r.source_seq, top, r.period_start,
                r.period_end, r.station_tz)


# -- the plan -----------------------------------------------------------------------------

Verdict = Literal["new", "unchanged", "revised"]


class RevisedReportDict(CountReportDict):
    revision: NotRequired[int]
    correction_reason: NotRequired[str]


class VoidDict(TypedDict):
    event_id: str
    schema_version: Literal[1]
    event_type: Literal["void"]
    station_id: str
    occurred_at: str
    reported_at: str
    source_seq: int
    revision: int
    correction_reason: str


def judge(event: CountReportDict, stored: StoredState | None, reason: str
          ) -> tuple[Verdict, RevisedReportDict | None]:
    """What to publish of one event of the file: ``("new", event)`` when not stored,
    ``("unchanged", None)`` when its content is the stored live one, else
    ``("revised", event with revision = stored + 1 and reason)``."""
    if stored is None:
        return "new", cast(RevisedReportDict, event)
    if stored.content is not None:
        try:
            if stored.content == content_of_event(event):
                return "unchanged", None
        except ValidationError:
            pass  # not what was stored: published, and the worker judges it
    out = cast(RevisedReportDict, dict(event))
    out["revision"] = stored.revision + 1
    out["correction_reason"] = reason
    return "revised", out


def void_event(report: AbsentReport, reason: str, reported_at: datetime) -> VoidDict:
    """The ``void`` of an absent report: its id, station, time and number, the next
    revision."""
    return {
        "event_id": report.event_id,
        "schema_version": 1,
        "event_type": "void",
        "station_id": report.station_id,
        "occurred_at": utc_text(datetime.fromtimestamp(report.occurred_at, UTC)),
        "reported_at": utc_text(reported_at),
        "source_seq": report.source_seq,
        "revision": report.revision + 1,
        "correction_reason": reason,
    }


@dataclass
class RevisionCounts:
    """Events of the file per verdict, stored reports voided, and stored reports of the
    file's span absent from it (not voided)."""

    new: int = 0
    added_behind: int = 0  # of the new ones: behind their station's stored reports (rev 1)
    unchanged: int = 0
    revised: int = 0
    voided: int = 0
    absent: int = 0

    def line(self) -> str:
        behind = (f"; {self.added_behind} of the new are behind their post's stored reports "
                  "and go out as revision 1 (their closed windows are recounted)"
                  if self.added_behind else "")
        return (f"events new: {self.new}, revised: {self.revised}, unchanged: "
                f"{self.unchanged} (not published), voided: {self.voided}{behind}")


class RevisionPlan:
    """The decisions of one import against what is stored: :meth:`judge` each event of
    the file (counts as it goes), :attr:`voids` what the replaced period loses."""

    def __init__(self, index: StoredIndex, facts: FileFacts, reason: str, void_why: str,
                 reported_at: datetime, period: ReplacedPeriod | None) -> None:
        self.index = index
        self.reason = reason
        self.period = period
        self.counts = RevisionCounts()
        self.voids: list[VoidDict] = []
        self.unvoided: list[AbsentReport] = []  # absent, in the file's span, kept
        for report in index.absent():
            if period is not None:
                if period.holds(report.period_start, report.period_end, report.station_tz):
                    self.voids.append(void_event(report, void_why, reported_at))
            elif (facts.first_start is not None and facts.last_end is not None
                  and facts.first_start <= report.period_start
                  and report.period_end <= facts.last_end):
                self.unvoided.append(report)
        self.voids.sort(key=lambda v: (v["station_id"], v["occurred_at"], v["source_seq"]))
        self.counts.voided = len(self.voids)
        self.counts.absent = len(self.unvoided)

    def judge(self, event: CountReportDict) -> RevisedReportDict | None:
        """The event to publish for ``event`` (None: unchanged); counted. A new report the
        file adds behind its station's stored history goes out as revision 1 (reason: the
        file): the worker then recounts its windows, which may be long closed, instead of
        leaving it to the late-events ledger."""
        verdict, out = judge(event, self.index.known.get(event["event_id"]), self.reason)
        if verdict == "new":
            self.counts.new += 1
            latest = self.index.latest_end.get(event["station_id"])
            if latest is not None and out is not None and \
                    _epoch_of(event["period_end"]) <= latest:
                out = cast(RevisedReportDict, dict(out))
                out["revision"] = 1
                out["correction_reason"] = self.reason
                self.counts.added_behind += 1
        elif verdict == "unchanged":
            self.counts.unchanged += 1
        else:
            self.counts.revised += 1
        return out


def empty_plan(reason: str, reported_at: datetime) -> RevisionPlan:
    """A plan with nothing stored: every event new (a first import)."""
    return RevisionPlan(StoredIndex(set(), frozenset()), FileFacts(), reason, reason,
                        reported_at, None)


__all__ = [
    "PERIOD_FORM", "AbsentReport", "FileFacts", "ReplacedPeriod", "RevisionCounts",
    "RevisionPlan", "StoredIndex", "StoredRow", "StoredState", "VoidDict", "content_of_event",
    "content_of_payload", "judge", "lookup_chunks", "parse_period", "revision_reason",
    "scope_measures", "void_event", "void_reason",
]


def _epoch_of(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())
