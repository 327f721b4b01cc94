"""Stage 5, rows: an accepted event and its station → one ``events`` row. Pure.

The row (a plain tuple in the field order of :class:`schemas.rows.EventRow`, the columns of
``events``; :mod:`schemas.rows` says why not an ``EventRow`` instance) carries what the
post sent, its enrichment from the registry entry valid at ``occurred_at`` (country, agency,
crossing point, border as the sorted country pair, neighbour, paired BLO, coordinates and
time zone; border, neighbour and paired BLO are '' for an interior post; :mod:`streams.stages.enrich` found that entry), the seizure quantity normalised
to kg, and its provenance (body hash, canonical payload, Kafka position). Times are aware
UTC. A unit test checks every event type against the table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import (
    AnyEvent,
    CountReportEvent,
    CrossingEvent,
    DetentionEvent,
    IncidentEvent,
    InspectionEvent,
    SeizureEvent,
)
from schemas.rows import EventRevisionRow, EventRow, Row
from schemas.station import StationRecord
from schemas.units import to_kg_equivalent
from streams.stages.decode import SourcePos


def _utc(dt: datetime) -> datetime:
    """The same instant in UTC; a time already at offset zero is kept as it is."""
    return dt if not dt.utcoffset() else dt.astimezone(UTC)


def _s(v: Any) -> str:
    """Vocabulary member (a ``StrEnum``: ``str()`` is its wire value) or None → column
    value."""
    return "" if v is None else str(v)


# direction, subject, mode, vehicle_class, outcome, persons, vehicles, arrests, drug,
# quantity, quantity_unit, quantity_kg, period_start, period_end, measure, dimension, value,
# unit: of an event type that has none of them (liaison messages: envelope and payload only)
_NO_TYPED = ("", "", "", "", "", None, None, None, "", None, "", None, None, None, "", "", None,
             "")


def _typed_columns(event: AnyEvent, tablet_mass_mg: float) -> tuple[Any, ...]:
    """Columns direction … unit (order as in :class:`EventRow`), by event type."""
    match event:
        case CrossingEvent():
            return (
                _s(event.direction), _s(event.subject), _s(event.mode),
                _s(event.vehicle_class), _s(event.document_check),
                event.persons, event.vehicles, None,
                "", None, "", None, None, None, "", "", None, "",
            )
        case SeizureEvent():
            unit = _s(event.unit)
            quantity = float(event.quantity)
            return (
                "", "", "", "", "",
                None, None, event.persons_arrested,
                _s(event.drug), quantity, unit,
                to_kg_equivalent(quantity, unit, tablet_mass_mg=tablet_mass_mg),
                None, None, "", "", None, "",
            )
        case CountReportEvent():
            return (
                "", "", "", "", "",
                None, None, None,
                "", None, "", None,
                _utc(event.period_start), _utc(event.period_end), event.measure,
                event.dimension or "", float(event.value), event.unit,
            )
        case InspectionEvent():
            return (
                "", "", "", "", _s(event.outcome),
                None, None, None, "", None, "", None, None, None, "", "", None, "",
            )
        case DetentionEvent() | IncidentEvent():
            return (
                "", "", "", "", "",
                event.persons, None, None, "", None, "", None, None, None, "", "", None, "",
            )
        case _:
            return _NO_TYPED


def event_row(
    event: AnyEvent,
    station: StationRecord,
    *,
    body_hash: str,
    payload: str,
    ingested_at: datetime,
    source: SourcePos,
    tablet_mass_mg: float,
) -> Row:
    """Build the ``events`` row of a validated event (a model of :mod:`schemas.events`)."""
    return (
        event.event_id,
        event.event_type,
        event.schema_version,
        event.station_id,
        event.source_seq,
        _utc(event.occurred_at),
        _utc(event.reported_at),
        ingested_at,
        station.country,
        _s(station.agency),
        station.crossing_point,
        station.border,  # '' for an interior post
        station.neighbour_country or "",
        station.paired_blo or "",
        station.lat,
        station.lon,
        station.tz,
        *_typed_columns(event, tablet_mass_mg),
        body_hash,
        payload,
        source.topic,
        source.partition,
        source.offset,
        event.revision or 0,
        1 if event.event_type == "void" else 0,
        event.correction_reason or "",
    )


C_EVENT_ID = EventRow._fields.index("event_id")
C_STATION_ID = EventRow._fields.index("station_id")
C_OCCURRED = EventRow._fields.index("occurred_at")
C_INGESTED = EventRow._fields.index("ingested_at")
C_REVISION = EventRow._fields.index("revision")
C_VOIDED = EventRow._fields.index("voided")
C_REASON = EventRow._fields.index("correction_reason")
_HISTORY = tuple(EventRow._fields.index(c) for c in EventRevisionRow._fields)


def withdrawn_row(stored: Row, *, revision: int, reason: str, ingested_at: datetime) -> Row:
    """The row that takes ``stored`` (an ``events`` row of an earlier revision) out of the
    readers' view of its partition: the same key and partition (so it replaces ``stored``
    there), ``voided`` 1, the withdrawing revision and its reason."""
    out = list(stored)
    out[C_INGESTED] = ingested_at
    out[C_REVISION] = revision
    out[C_VOIDED] = 1
    out[C_REASON] = reason
    return tuple(out)


def revision_row(row: Row) -> Row:
    """The ``event_revisions`` row (:class:`EventRevisionRow` order) of an ``events`` row."""
    return tuple(row[i] for i in _HISTORY)
