"""Stage 4, resolve conflicts: an event id is never reused for another body. Pure.

Each accepted-so-far event becomes a :class:`Candidate` with the canonical JSON of its body
and that body's hash (:func:`schemas.identity.canonical_json_and_hash`). :class:`BodyHashes`
keeps a bounded cache of ``event_id → body hash``; the ids it misses are looked up in the
stored rows by the caller, *between* stages (:meth:`BodyHashes.missing`, then
:meth:`BodyHashes.resolve` with what was found), so no stage does I/O and a conflict is
caught across restarts too. An id seen with the same body is a redelivery: accepted again
(its row collapses with the stored one) but not *new*, so the windows do not count it
twice; an id seen with another body is rejected as ``id_conflict``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import orjson

from schemas.events import AnyEvent
from schemas.identity import canonical_json_and_hash
from schemas.station import StationRecord
from streams.stages.decode import RawRecord
from streams.stages.validate import Rejected


@dataclass(slots=True)
class Candidate:
    """A validated, enriched event waiting for the conflict check. ``new`` is set by
    :meth:`BodyHashes.resolve`: never stored nor seen before."""

    event: AnyEvent
    station: StationRecord
    record: RawRecord
    index: int
    hash: str
    payload: str
    new: bool = False


def candidate(event: AnyEvent, station: StationRecord, record: RawRecord, index: int
              ) -> Candidate:
    payload, digest = canonical_json_and_hash(event)
    return Candidate(event, station, record, index, digest, payload)


class BodyHashes:
    """A bounded cache of ``event_id → body hash`` (least recently seen dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._hashes: OrderedDict[UUID, str] = OrderedDict()

    def missing(self, candidates: Sequence[Candidate]) -> list[UUID]:
        """The ids of ``candidates`` the cache does not hold (look these up)."""
        cache = self._hashes
        return [c.event.event_id for c in candidates if c.event.event_id not in cache]

    def resolve(self, candidates: Sequence[Candidate], stored: Mapping[UUID, str]
                ) -> tuple[list[Candidate], list[tuple[Candidate, Rejected]]]:
        """``stored``: the body hashes found for :meth:`missing`. Returns the accepted
        candidates (``new`` set) and the conflicting ones, in order; remembers the hash of
        every accepted one."""
        for eid, h in stored.items():
            self._remember(eid, h)
        cache = self._hashes
        accepted: list[Candidate] = []
        conflicts: list[tuple[Candidate, Rejected]] = []
        for c in candidates:
            eid = c.event.event_id
            known = cache.get(eid)
            if known is not None and known != c.hash:
                conflicts.append((c, Rejected(c.index, orjson.loads(c.payload), ("id_conflict",), (
                    (f"event_id: {eid} was already received with a different body (stored "
                    f"body hash {known}, this one {c.hash}); an event id is never reused for "
                    "other content"),))))
                continue
            self._remember(eid, c.hash)
            c.new = known is None
            accepted.append(c)
        return accepted, conflicts

    def clear(self) -> None:
        self._hashes.clear()

    def _remember(self, event_id: UUID, h: str) -> None:
        cache = self._hashes
        cache[event_id] = h
        cache.move_to_end(event_id)
        if len(cache) > self.size:
            cache.popitem(last=False)
