"""Stage 2, validate: one decoded element → a validated event, or why it is rejected. Pure.

The event's own rules (its type and schema version, every field, the rules across fields,
the clock) are the schema's: :func:`schemas.parse.parse_event` checks them. What the
registry must say about an event (its station, a liaison message's peer) is checked while
enriching (:mod:`streams.stages.enrich`).

:class:`Rejected` is what any stage returns for an element it refuses; the processor
(:mod:`streams.ingest`) turns it into a dead letter with the record's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.events import AnyEvent
from schemas.parse import EventRejected, Path, parse_event, parse_valid_json


@dataclass(frozen=True, slots=True)
class Rejected:
    """One element refused by a stage: its index in the record (-1: the whole record), the
    decoded element, the dead-letter reason codes with one detail line each, and the paths
    of values that must not be kept (:attr:`schemas.parse.EventRejected.withheld`)."""

    index: int
    element: object
    reasons: tuple[str, ...]
    details: tuple[str, ...]
    withheld: tuple[Path, ...] = ()


def validate(index: int, element: object, *, now: datetime, max_future_skew: timedelta
             ) -> AnyEvent | Rejected:
    """Element ``index`` of a record as an event, or :class:`Rejected` with every problem."""
    try:
        return parse_event(element, now=now, max_future_skew=max_future_skew)
    except EventRejected as rej:
        return Rejected(
            index, element, tuple(p.code for p in rej.reasons),
            tuple(f"{p.field}: {p.message}" if p.field else p.message for p in rej.reasons),
            rej.withheld,
        )


def validate_all(value: bytes, *, now: datetime, max_future_skew: timedelta
                 ) -> list[AnyEvent] | None:
    """Every event of a record, validated straight from its bytes, when all of them are
    valid (the fast path, :func:`schemas.parse.parse_valid_json`); None when any is not (or
    the record is not JSON): then decode it and :func:`validate` each element, which alone
    says why."""
    return parse_valid_json(value, now=now, max_future_skew=max_future_skew)
