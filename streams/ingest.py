"""The ingest step: raw records → ``events`` rows + dead letters. No Kafka, no ClickHouse.

:class:`IngestProcessor` keeps three pieces of state, all rebuilt after a restart:

* the station registry (fed by the registry reader),
* records held because their station is not registered yet (bounded in count and time;
  their Kafka offsets are not acknowledged while held, so a crash loses nothing),
* a bounded cache of ``event_id → body hash`` used to detect id conflicts; misses are
  resolved by ``lookup_hashes`` (the stored rows in ClickHouse), so a conflict is detected
  across restarts too.

A record is *done* when every one of its elements became a row or a dead letter; the caller
acknowledges done records only after the sink wrote those rows (commit after write).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from blo.settings import IngestSettings
from schemas.countries import same_or_neighbouring
from schemas.identity import canonical_json_and_hash
from schemas.parse import EventRejected, Path, parse_event
from schemas.station import Registry, StationRecord
from sinks.base import Row
from streams.dead_letters import WITHHELD_NOTE, DeadLetter, describe_element, withhold
from streams.decode import SourcePos, decode_record
from streams.enrich import event_row

LookupHashes = Callable[[Sequence[str], Sequence[UUID]], Awaitable[dict[UUID, str]]]


@dataclass(slots=True)
class RawRecord:
    """One Kafka record. ``handle`` is opaque to this module (the Faust event to ack)."""

    value: bytes | None
    source: SourcePos
    handle: Any = None
    held_since: datetime | None = None
    n_events: int = 1


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    max_record_bytes: int
    max_future_skew: timedelta
    hold_for: timedelta
    hold_max_events: int
    tablet_mass_mg: float
    conflict_cache_size: int

    @classmethod
    def from_settings(cls, ing: IngestSettings) -> IngestPolicy:
        return cls(
            max_record_bytes=ing.max_record_bytes,
            max_future_skew=timedelta(seconds=ing.max_future_skew_s),
            hold_for=timedelta(seconds=ing.hold_unknown_station_s),
            hold_max_events=ing.hold_max_events,
            tablet_mass_mg=ing.tablet_mass_mg,
            conflict_cache_size=ing.conflict_cache_size,
        )


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


@dataclass(slots=True)
class _Candidate:
    event: Any
    station: StationRecord
    record: RawRecord
    index: int
    hash: str
    payload: str


class IngestProcessor:
    def __init__(self, registry: Registry, policy: IngestPolicy) -> None:
        self.registry = registry
        self.policy = policy
        self._held: list[RawRecord] = []
        self._held_events = 0
        self._hashes: OrderedDict[UUID, str] = OrderedDict()

    # -- holds -------------------------------------------------------------------------
    @property
    def held_events(self) -> int:
        return self._held_events

    def due_holds(self, now: datetime) -> list[RawRecord]:
        """Held records to process again: their station is now known, or the hold expired."""
        due, keep = [], []
        for rec in self._held:
            expired = rec.held_since is not None and now - rec.held_since >= self.policy.hold_for
            if expired or self._stations_known(rec):
                due.append(rec)
            else:
                keep.append(rec)
        self._held = keep
        self._held_events = sum(r.n_events for r in keep)
        return due

    def release_all_holds(self) -> list[RawRecord]:
        """On shutdown: held records stay unacknowledged and will be redelivered."""
        held, self._held, self._held_events = self._held, [], 0
        return held

    def _stations_known(self, rec: RawRecord) -> bool:
        decoded = decode_record(rec.value, self.policy.max_record_bytes)
        if not isinstance(decoded, list):
            return True
        return all(
            self.registry.known(o.get("station_id", "")) for o in decoded if isinstance(o, dict)
        )

    # -- the step ----------------------------------------------------------------------
    async def process(
        self, records: Iterable[RawRecord], now: datetime, lookup_hashes: LookupHashes
    ) -> BatchOutcome:
        out = BatchOutcome()
        candidates: list[_Candidate] = []
        for rec in records:
            self._validate_record(rec, now, out, candidates)
        await self._check_conflicts(candidates, now, out, lookup_hashes)
        return out

    def _validate_record(
        self, rec: RawRecord, now: datetime, out: BatchOutcome, candidates: list[_Candidate]
    ) -> None:
        p = self.policy
        decoded = decode_record(rec.value, p.max_record_bytes)
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
        rec.n_events = len(decoded)
        parsed: list[tuple[int, Any]] = []
        unknown = False
        for i, obj in enumerate(decoded):
            try:
                event = parse_event(obj, now=now, max_future_skew=p.max_future_skew)
            except EventRejected as rej:
                self._dead(out, rec, i, obj, now,
                           tuple(pr.code for pr in rej.reasons),
                           tuple(f"{pr.field}: {pr.message}" if pr.field else pr.message
                                 for pr in rej.reasons), rej.withheld)
                continue
            if not self.registry.known(event.station_id):
                unknown = True
            parsed.append((i, event))
        out.events_seen += len(decoded)
        if unknown and self._try_hold(rec, now, out):
            # the whole record waits; its valid elements are re-validated on release
            out.events_seen -= len(decoded)
            out.dead_letters = [d for d in out.dead_letters if d.source is not rec.source]
            return
        for i, event in parsed:
            station = self._station_for(event)
            if station is None:
                self._dead(out, rec, i, decoded[i], now, ("unknown_station",),
                           ((f"station_id: {event.station_id!r} is not in the station registry "
                            f"(held {p.hold_for.total_seconds():.0f} s; register it with "
                            "`blo stations load`, then `blo dlq replay`)"),))
                continue
            problem = self._rule_problem(event, station)
            if problem:
                self._dead(out, rec, i, decoded[i], now, ("rule_violation",), (problem,))
                continue
            payload, digest = canonical_json_and_hash(event)
            candidates.append(_Candidate(event, station, rec, i, digest, payload))
        out.done.append(rec)

    def _try_hold(self, rec: RawRecord, now: datetime, out: BatchOutcome) -> bool:
        p = self.policy
        if rec.held_since is not None and now - rec.held_since >= p.hold_for:
            return False
        if rec.held_since is None:
            if self._held_events + rec.n_events > p.hold_max_events:
                return False
            rec.held_since = now
        self._held.append(rec)
        self._held_events += rec.n_events
        out.held.append(rec)
        return True

    def _station_for(self, event: Any) -> StationRecord | None:
        st = self.registry.lookup(event.station_id, event.occurred_at)
        if st is None and self.registry.known(event.station_id):
            # the event predates the first registry entry: enrich with the earliest one
            st = self.registry.earliest(event.station_id)
        return st

    def _rule_problem(self, event: Any, station: StationRecord) -> str:
        if event.event_type != "liaison_message":
            return ""
        peer = self._station_for_id(event.to_blo, event.occurred_at)
        if peer is None:
            return f"to_blo: {event.to_blo!r} is not in the station registry"
        if not same_or_neighbouring(station.country, peer.country):
            return (
                f"to_blo: liaison messages go between posts of the same or neighbouring "
                f"countries; {station.station_id} is in {station.country} and "
                f"{peer.station_id} in {peer.country}"
            )
        return ""

    def _station_for_id(self, station_id: str, at: datetime) -> StationRecord | None:
        st = self.registry.lookup(station_id, at)
        if st is None and self.registry.known(station_id):
            st = self.registry.earliest(station_id)
        return st

    def _dead(self, out: BatchOutcome, rec: RawRecord, index: int, obj: object, now: datetime,
              reasons: tuple[str, ...], details: tuple[str, ...],
              withheld: tuple[Path, ...] = ()) -> None:
        sid, etype, eid = describe_element(obj)
        value = rec.value or b""
        if withheld:  # fields where personal data would be: their values are never kept
            payload, details = withhold(obj, withheld), (*details, WITHHELD_NOTE)
        elif index < 0 or (rec.n_events == 1 and value.lstrip()[:1] == b"{"):
            payload = value  # the record as sent
        else:
            payload = orjson.dumps(obj)  # one element of a batched record
        out.dead_letters.append(
            DeadLetter(reasons=reasons, details=details, payload=payload, source=rec.source,
                       element_index=index, failed_at=now, station_id=sid, event_type=etype,
                       event_id=eid)
        )

    async def _check_conflicts(self, candidates: list[_Candidate], now: datetime,
                               out: BatchOutcome, lookup_hashes: LookupHashes) -> None:
        if not candidates:
            return
        cache = self._hashes
        misses = [c.event.event_id for c in candidates if c.event.event_id not in cache]
        if misses:
            stations = sorted({c.event.station_id for c in candidates})
            stored = await lookup_hashes(stations, misses)
            for eid, h in stored.items():
                self._remember(eid, h)
        tablet = self.policy.tablet_mass_mg
        for c in candidates:
            ev = c.event
            known = cache.get(ev.event_id)
            if known is not None and known != c.hash:
                self._dead(out, c.record, c.index, orjson.loads(c.payload), now,
                           ("id_conflict",),
                           ((f"event_id: {ev.event_id} was already received with a different "
                            f"body (stored body hash {known}, this one {c.hash}); an event id "
                            "is never reused for other content"),))
                continue
            self._remember(ev.event_id, c.hash)
            row = event_row(ev, c.station, body_hash=c.hash, payload=c.payload,
                            ingested_at=now, source=c.record.source, tablet_mass_mg=tablet)
            out.event_rows.append(row)
            if known is None:
                out.new_rows.append(row)
            out.accepted_by_type[ev.event_type] = out.accepted_by_type.get(ev.event_type, 0) + 1
            prev = out.newest_by_station.get(ev.station_id)
            if prev is None or ev.occurred_at > prev:
                out.newest_by_station[ev.station_id] = ev.occurred_at

    def forget_cache(self) -> None:
        """Drop the conflict cache (ids are looked up in ClickHouse again)."""
        self._hashes.clear()

    def _remember(self, event_id: UUID, h: str) -> None:
        cache = self._hashes
        cache[event_id] = h
        cache.move_to_end(event_id)
        if len(cache) > self.policy.conflict_cache_size:
            cache.popitem(last=False)
