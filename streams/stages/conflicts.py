"""Stage 4, resolve conflicts: an event id is never reused for another body. Pure.

Each accepted-so-far event becomes a :class:`Candidate` with the canonical JSON of its body
and that body's hash (:func:`schemas.identity.canonical_json_and_hash`). :class:`BodyHashes`
keeps a bounded cache of ``event_id → body hash``; the ids it misses are looked up in the
stored rows by the caller, *between* stages (:meth:`BodyHashes.missing`, then
:meth:`BodyHashes.resolve` with what was found), so no stage does I/O and a conflict is
caught across restarts too. An id seen with the same body is a redelivery: accepted again
(its row collapses with the stored one) but not *new*, so the windows do not count it
twice; an id seen with another body is rejected as ``id_conflict``.

Corrections (docs/corrections.md): an event may be sent again with the same id and a higher
``revision`` (or voided by a ``void`` of a higher revision). What is stored of an id is then
its highest revision (:class:`Stored`); a higher revision *revises* it, a lower one is
*stale* (superseded: skipped), the same one is a redelivery or, with another body, an
``id_conflict`` as before.
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
    verdict: str = ""


def candidate(event: AnyEvent, station: StationRecord, record: RawRecord, index: int
              ) -> Candidate:
    payload, digest = canonical_json_and_hash(event)
    return Candidate(event, station, record, index, digest, payload)


@dataclass(frozen=True, slots=True)
class Stored:
    """What is stored of an event id: its highest revision, whether that revision voids it,
    and that revision's body hash."""

    revision: int
    voided: bool
    hash: str


def parse_stored(text: str) -> Stored:
    """The lookup's answer for one id (:func:`sinks.read_model.events.stored_body_hashes_sql`):
    the bare body hash of an event never corrected, ``<revision>/<voided>/<hash>``
    otherwise."""
    if "/" not in text:
        return Stored(0, False, text)
    rev, voided, digest = text.split("/", 2)
    return Stored(int(rev), voided == "1", digest)


class Verdict:
    """What :meth:`BodyHashes.resolve` decided for one candidate (``Candidate.verdict``)."""

    NEW = "new"  # never stored nor seen: counted as a new event
    SAME = "same"  # a redelivery of the stored (highest) revision
    REVISES = "revises"  # a higher revision (or a void) of a stored event
    STALE = "stale"  # a lower revision than the stored one: superseded, not written


class BodyHashes:
    """A bounded cache of ``event_id → what is stored`` (least recently seen dropped
    first). Keyed by the id's 128-bit integer: a ``UUID`` hashes in Python code, several
    times per event here, its integer in C."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._hashes: OrderedDict[int, Stored] = OrderedDict()

    def missing(self, candidates: Sequence[Candidate]) -> list[UUID]:
        """The ids of ``candidates`` the cache does not hold (look these up)."""
        cache = self._hashes
        return [c.event.event_id for c in candidates if c.event.event_id.int not in cache]

    def resolve(self, candidates: Sequence[Candidate], stored: Mapping[UUID, str]
                ) -> tuple[list[Candidate], list[tuple[Candidate, Rejected]]]:
        """``stored``: the lookup's answers for :meth:`missing`. Returns the accepted
        candidates (``new`` and ``verdict`` set; stale revisions included, to be skipped)
        and the conflicting ones, in order; remembers what every accepted one stored.

        The highest revision of an id wins: a higher one revises (or voids) what is
        stored, a lower one is stale, the same one is a redelivery if its body is the same
        and an ``id_conflict`` otherwise."""
        # the answers are consulted as such, not only through the cache: a batch may hold
        # more stored ids than the cache keeps
        answers = {eid.int: parse_stored(h) for eid, h in stored.items()}
        cache = self._hashes
        remember = self._remember
        accepted: list[Candidate] = []
        conflicts: list[tuple[Candidate, Rejected]] = []
        for c in candidates:
            ev = c.event
            eid = ev.event_id
            key = eid.int
            rev = ev.revision or 0
            known = cache.get(key)
            if known is None:
                known = answers.get(key)
            if known is None:
                c.verdict = Verdict.NEW
            elif rev > known.revision:
                c.verdict = Verdict.REVISES
            elif rev < known.revision:
                c.verdict = Verdict.STALE
                remember(key, known)
                accepted.append(c)
                continue
            elif known.hash != c.hash:
                remember(key, known)
                what = "revision" if rev else "event_id"
                conflicts.append((c, Rejected(c.index, orjson.loads(c.payload), ("id_conflict",), (
                    (f"{what}: {eid} revision {rev} was already received with a different "
                     f"body (stored body hash {known.hash}, this one {c.hash}); send a "
                     "correction with a higher revision instead"),))))
                continue
            else:
                c.verdict = Verdict.SAME
            remember(key, Stored(rev, ev.event_type == "void", c.hash))
            # a revision is never counted as new, even of an id never stored (its original
            # lost, or a report added by a revised file): the windows recount it instead
            c.new = c.verdict == Verdict.NEW and not rev
            accepted.append(c)
        return accepted, conflicts

    def known(self, event_id: UUID) -> Stored | None:
        """What the cache holds of ``event_id`` (None: not cached)."""
        return self._hashes.get(event_id.int)

    def clear(self) -> None:
        self._hashes.clear()

    def _remember(self, key: int, state: Stored) -> None:
        cache = self._hashes
        cache[key] = state
        cache.move_to_end(key)
        if len(cache) > self.size:
            cache.popitem(last=False)
