"""The ingest step: raw records → ``events`` rows + dead letters. No Kafka, no ClickHouse.

:class:`IngestProcessor` runs the stages of :mod:`streams.stages` (decode → validate →
enrich → resolve conflicts → rows) over a batch of records, in two synchronous halves with
the one lookup the stages need between them::

    plan = processor.prepare(records, now)           # decode, validate, enrich
    found = lookup_hashes(plan.stations, plan.missing)   # the caller's I/O, if plan.missing
    outcome = processor.finish(plan, found)          # resolve conflicts, rows

(:meth:`streams.runtime.IngestRuntime` does exactly that, the lookup through its sink.) It
keeps three
pieces of state, all rebuilt after a restart:

* the station registry (fed by the registry reader),
* records held because their station is not registered yet (bounded in time, in events
  in all and in events per station, so one unregistered station cannot take the hold budget
  of the others; their Kafka offsets are not acknowledged while held, so a crash loses
  nothing),
* a bounded cache of ``event_id → body hash`` used to detect id conflicts; misses are
  resolved by the stored rows in ClickHouse, so a conflict is detected across restarts too.

A record is *done* when every one of its elements became a row or a dead letter; the caller
acknowledges done records only after the sink wrote those rows (commit after write).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

import orjson

from blo.settings import IngestSettings
from schemas.events import AnyEvent
from schemas.rows import Row
from schemas.station import Registry
from streams.dead_letters import WITHHELD_NOTE, DeadLetter, describe_element, withhold
from streams.stages.conflicts import BodyHashes, Candidate, Verdict, candidate
from streams.stages.decode import RawRecord, decode_record
from streams.stages.enrich import enrich
from streams.stages.rows import (
    C_EVENT_ID,
    C_INGESTED,
    C_OCCURRED,
    C_REASON,
    C_REVISION,
    C_STATION_ID,
    C_VOIDED,
    event_row,
    revision_row,
    withdrawn_row,
)
from streams.stages.validate import Rejected, validate, validate_all

__all__ = ["BatchOutcome", "Correction", "IngestPlan", "IngestPolicy", "IngestProcessor",
           "RawRecord"]



@dataclass(frozen=True, slots=True)
class IngestPolicy:
    max_record_bytes: int
    max_future_skew: timedelta
    hold_for: timedelta
    hold_max_events: int
    hold_max_events_per_station: int
    tablet_mass_mg: float
    conflict_cache_size: int

    @classmethod
    def from_settings(cls, ing: IngestSettings) -> IngestPolicy:
        return cls(
            max_record_bytes=ing.max_record_bytes,
            max_future_skew=timedelta(seconds=ing.max_future_skew_s),
            hold_for=timedelta(seconds=ing.hold_unknown_station_s),
            hold_max_events=ing.hold_max_events,
            hold_max_events_per_station=ing.hold_max_events_per_station,
            tablet_mass_mg=ing.tablet_mass_mg,
            conflict_cache_size=ing.conflict_cache_size,
        )


@dataclass(frozen=True, slots=True)
class Correction:
    """An accepted revision or void of a stored event (docs/corrections.md): the ``events``
    rows it replaces (live in the readers' view until now: one per month partition,
    normally one; none if the event was not stored) and the row of the revision (None for
    a void). The windows recompute every window either touches."""

    event_id: UUID
    station_id: str
    old_rows: tuple[Row, ...]
    new_row: Row | None


@dataclass(slots=True)
class BatchOutcome:
    event_rows: list[Row] = field(default_factory=list)
    # the rows of events never stored nor seen before (a subset of event_rows): what the
    # windows count, so a redelivered event is not counted twice
    new_rows: list[Row] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    done: list[RawRecord] = field(default_factory=list)
    held: list[RawRecord] = field(default_factory=list)
    accepted_by_type: dict[str, int] = field(default_factory=dict)
    newest_by_station: dict[str, datetime] = field(default_factory=dict)
    events_seen: int = 0
    # corrections: what the windows recompute, the history rows (event_revisions), and the
    # revisions skipped because a higher one is stored
    corrections: list[Correction] = field(default_factory=list)
    revision_rows: list[Row] = field(default_factory=list)
    superseded: int = 0


@dataclass(slots=True)
class IngestPlan:
    """A batch half done (:meth:`IngestProcessor.prepare`): the outcome so far, the events
    waiting for the conflict check, and what to look up before
    :meth:`IngestProcessor.finish`: the stored body hashes of ``missing`` (event ids) among
    the rows of ``stations``. Nothing to look up when ``missing`` is empty."""

    now: datetime
    outcome: BatchOutcome
    candidates: list[Candidate]
    missing: list[UUID]
    stations: list[str]
    revised: list[UUID] = field(default_factory=list)
    """Ids of revisions and voids: look up their live rows too (:func:`sinks.read_model.
    events.live_rows_of`) under ``revised_stations``."""
    revised_stations: list[str] = field(default_factory=list)


class IngestProcessor:
    def __init__(self, registry: Registry, policy: IngestPolicy) -> None:
        self.registry = registry
        self.policy = policy
        self._held: list[tuple[RawRecord, str]] = []  # with the unknown station it waits for
        self._held_events = 0
        self._held_by_station: Counter[str] = Counter()
        self._hashes = BodyHashes(policy.conflict_cache_size)

    # -- holds -------------------------------------------------------------------------
    @property
    def held_events(self) -> int:
        return self._held_events

    def due_holds(self, now: datetime) -> list[RawRecord]:
        """Held records to process again: their station is now known, or the hold expired."""
        due, keep = [], []
        for rec, sid in self._held:
            expired = rec.held_since is not None and now - rec.held_since >= self.policy.hold_for
            if expired or self._stations_known(rec):
                due.append(rec)
            else:
                keep.append((rec, sid))
        self._held = keep
        self._held_events = sum(r.n_events for r, _ in keep)
        self._held_by_station = Counter()
        for r, sid in keep:
            self._held_by_station[sid] += r.n_events
        return due

    def release_all_holds(self) -> list[RawRecord]:
        """On shutdown: held records stay unacknowledged and will be redelivered."""
        held, self._held, self._held_events = self._held, [], 0
        self._held_by_station = Counter()
        return [rec for rec, _ in held]

    def _stations_known(self, rec: RawRecord) -> bool:
        decoded = decode_record(rec.value, self.policy.max_record_bytes)
        if not isinstance(decoded, list):
            return True
        return all(
            self.registry.known(o.get("station_id", "")) for o in decoded if isinstance(o, dict)
        )

    # -- the step ----------------------------------------------------------------------
    def prepare(self, records: Iterable[RawRecord], now: datetime) -> IngestPlan:
        """Decode, validate and enrich ``records``; hold those of unknown stations."""
        out = BatchOutcome()
        candidates: list[Candidate] = []
        for rec in records:
            self._prepare_record(rec, now, out, candidates)
        missing = self._hashes.missing(candidates)
        stations = sorted({c.event.station_id for c in candidates}) if missing else []
        revised = [c for c in candidates if c.event.revision]
        return IngestPlan(now, out, candidates, missing, stations,
                          list(dict.fromkeys(c.event.event_id for c in revised)),
                          sorted({c.event.station_id for c in revised}))

    def finish(self, plan: IngestPlan, found: Mapping[UUID, str],
               live: Mapping[UUID, Sequence[Row]] | None = None) -> BatchOutcome:
        """Resolve conflicts and build the rows. ``found``: the lookup's answers for
        ``plan.missing`` (an id not stored is simply absent); ``live``: the live stored rows
        of ``plan.revised`` (:func:`sinks.read_model.events.live_rows_of`, read back as
        :class:`schemas.rows.EventRow` tuples with aware UTC times)."""
        out, now = plan.outcome, plan.now
        if not plan.candidates:
            return out
        accepted, conflicts = self._hashes.resolve(plan.candidates, found)
        for c, rejected in conflicts:
            self._dead(out, c.record, rejected, now)
        tablet = self.policy.tablet_mass_mg
        by_type, newest = out.accepted_by_type, out.newest_by_station
        rows: list[Row] = []
        new_rows: list[Row] = []
        # live rows of the ids written by this batch (by the id's integer: cheaper to hash
        # than the UUID)
        in_batch: dict[int, list[Row]] = {}
        for c in accepted:
            ev = c.event
            if c.verdict == Verdict.STALE:
                out.superseded += 1
                continue
            row = event_row(ev, c.station, body_hash=c.hash, payload=c.payload,
                            ingested_at=now, source=c.record.source, tablet_mass_mg=tablet)
            if ev.revision:
                key = ev.event_id.int
                prior = in_batch.get(key)
                if prior is None:
                    prior = list((live or {}).get(ev.event_id, ()))
                live_row = self._revise(out, rows, row, prior, now)
                in_batch[key] = [] if live_row is None else [live_row]
            else:
                rows.append(row)
                in_batch[ev.event_id.int] = [row]
            if c.new:
                new_rows.append(row)
            by_type[ev.event_type] = by_type.get(ev.event_type, 0) + 1
            prev = newest.get(ev.station_id)
            if prev is None or ev.occurred_at > prev:
                newest[ev.station_id] = ev.occurred_at
        out.event_rows, out.new_rows = rows, new_rows
        return out

    def _revise(self, out: BatchOutcome, rows: list[Row], row: Row, prior: list[Row],
                now: datetime) -> Row | None:
        """A revision or void (``row``) of an event whose live rows were ``prior``: withdraw
        those it does not replace in their own partition, write the revision (a void only
        when nothing was live to withdraw: it then records that the id is voided), keep
        the history, and tell the windows. Returns the live row written (None for a void)."""
        revision, reason = row[C_REVISION], row[C_REASON]
        older = [p for p in prior if p[C_REVISION] < revision]
        void = bool(row[C_VOIDED])
        month = _month(row)
        # Stamped after what it replaces, to the second ClickHouse keeps: the table's
        # merges keep the row of the latest ingested_at (readers take the highest
        # revision), so a revision written at or before its predecessor's stamp (another
        # worker's clock, a clock stepped back) would be merged away for good.
        stamp = now
        if older:
            last = max(p[C_INGESTED] for p in older)
            if now.replace(microsecond=0) <= last:
                stamp = last.replace(microsecond=0) + timedelta(seconds=1)
                row = (*row[:C_INGESTED], stamp, *row[C_INGESTED + 1:])
        withdrawn = [withdrawn_row(p, revision=revision, reason=reason, ingested_at=stamp)
                     for p in older if void or _month(p) != month]
        rows.extend(withdrawn)
        written = not void or not older
        if written:
            rows.append(row)
        out.revision_rows.extend(revision_row(p) for p in older)
        out.revision_rows.append(revision_row(row))
        if older or not void:
            # A revision is recounted, not added: its windows may be long closed (a report
            # added by a revised file). A redelivered one is recounted again: the first pass
            # may have been cut short by a crash (windows already right emit nothing).
            out.corrections.append(Correction(row[C_EVENT_ID], row[C_STATION_ID],
                                              tuple(older), None if void else row))
        return None if void else row

    def _prepare_record(self, rec: RawRecord, now: datetime, out: BatchOutcome,
                        candidates: list[Candidate]) -> None:
        p = self.policy
        value = rec.value
        fast = validate_all(value, now=now, max_future_skew=p.max_future_skew) \
            if value is not None and len(value) <= p.max_record_bytes else None
        if fast is not None:  # every element valid: validated from the bytes in one pass
            self._accept_record(rec, now, out, candidates, list(enumerate(fast)), None)
            return
        decoded = decode_record(value, p.max_record_bytes)
        if not isinstance(decoded, list):
            out.events_seen += 1
            out.dead_letters.append(
                DeadLetter(
                    reasons=(decoded.code,), details=(decoded.message,),
                    payload=rec.value or b"", source=rec.source, element_index=-1, failed_at=now,
                )
            )
            out.done.append(rec)
            return
        valid: list[tuple[int, AnyEvent]] = []
        for i, element in enumerate(decoded):
            event = validate(i, element, now=now, max_future_skew=p.max_future_skew)
            if isinstance(event, Rejected):
                self._dead(out, rec, event, now)
                continue
            valid.append((i, event))
        rec.n_events = len(decoded)
        self._accept_record(rec, now, out, candidates, valid, decoded)

    def _accept_record(self, rec: RawRecord, now: datetime, out: BatchOutcome,
                       candidates: list[Candidate], valid: list[tuple[int, AnyEvent]],
                       decoded: list[object] | None) -> None:
        """The rest of a decoded record's step: its ``valid`` elements (index, event) are
        enriched into candidates, or the whole record is held for its unknown station.
        ``decoded``: the record's decoded elements, None when none was needed yet (every
        element valid: decoded here only if enriching rejects one)."""
        p = self.policy
        if decoded is not None:
            n_events = len(decoded)
        else:
            n_events = rec.n_events = len(valid)
        registry = self.registry
        unknown = next((e.station_id for _, e in valid if not registry.known(e.station_id)),
                       None)  # the first unregistered station of the record
        out.events_seen += n_events
        if unknown is not None and self._try_hold(rec, unknown, now, out):
            # the whole record waits; its valid elements are validated again on release
            out.events_seen -= n_events
            out.dead_letters = [d for d in out.dead_letters if d.source is not rec.source]
            return
        for i, event in valid:
            station = enrich(i, None, event, registry, p.hold_for)
            if isinstance(station, Rejected):
                if decoded is None:  # the fast path's record, decoded for its dead letter
                    again = decode_record(rec.value, p.max_record_bytes)
                    decoded = again if isinstance(again, list) else []
                element = decoded[i] if i < len(decoded) else None
                self._dead(out, rec, replace(station, element=element), now)
                continue
            candidates.append(candidate(event, station, rec, i))
        out.done.append(rec)

    def _try_hold(self, rec: RawRecord, station_id: str, now: datetime,
                  out: BatchOutcome) -> bool:
        """Hold ``rec`` (waiting for ``station_id``) if its hold has not expired and, for a
        new hold, both budgets have room: all stations' and this station's own."""
        p = self.policy
        if rec.held_since is not None and now - rec.held_since >= p.hold_for:
            return False
        if rec.held_since is None:
            if self._held_events + rec.n_events > p.hold_max_events or \
                    self._held_by_station[station_id] + rec.n_events \
                    > p.hold_max_events_per_station:
                return False
            rec.held_since = now
        self._held.append((rec, station_id))
        self._held_events += rec.n_events
        self._held_by_station[station_id] += rec.n_events
        out.held.append(rec)
        return True

    def _dead(self, out: BatchOutcome, rec: RawRecord, rej: Rejected, now: datetime) -> None:
        obj, index, details = rej.element, rej.index, rej.details
        sid, etype, eid = describe_element(obj)
        value = rec.value or b""
        if rej.withheld:  # fields where personal data would be: their values are never kept
            payload, details = withhold(obj, rej.withheld), (*details, WITHHELD_NOTE)
        elif index < 0 or (rec.n_events == 1 and value.lstrip()[:1] == b"{"):
            payload = value  # the record as sent
        else:
            payload = orjson.dumps(obj)  # one element of a batched record
        out.dead_letters.append(
            DeadLetter(reasons=rej.reasons, details=details, payload=payload, source=rec.source,
                       element_index=index, failed_at=now, station_id=sid, event_type=etype,
                       event_id=eid)
        )

    def forget_cache(self) -> None:
        """Drop the conflict cache (ids are looked up in ClickHouse again)."""
        self._hashes.clear()


def _month(row: Row) -> int:
    """The month partition of an ``events`` row (``toYYYYMM(occurred_at)``, UTC)."""
    t: datetime = row[C_OCCURRED]
    return t.year * 100 + t.month
