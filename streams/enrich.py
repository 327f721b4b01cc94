"""Validated event + station registry entry → one ``events`` row. Pure.

Enrichment adds what the post does not send: country, agency, crossing point, border
(sorted country pair), neighbour, paired BLO, coordinates and time zone from the registry
entry valid at the event's ``occurred_at``; seizure quantities are normalised to kg.
The tuple follows :data:`sinks.tables.EVENTS` column order exactly (a unit test checks).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.station import StationRecord
from schemas.units import to_kg_equivalent
from sinks.base import Row
from streams.decode import SourcePos


def _utc(dt: datetime) -> datetime:
    """The same instant in UTC; a time already at offset zero is kept as it is."""
    return dt if not dt.utcoffset() else dt.astimezone(UTC)


def _s(v: Any) -> str:
    """Vocabulary member (a ``StrEnum``: ``str()`` is its wire value) or None → column
    value."""
    return "" if v is None else str(v)


def _typed_columns(event: Any, tablet_mass_mg: float) -> tuple[Any, ...]:
    """Columns direction … unit, by event type (order as in EVENTS)."""
    et = event.event_type
    # direction, subject, mode, vehicle_class, outcome, persons, vehicles, arrests,
    # drug, quantity, quantity_unit, quantity_kg, period_start, period_end, measure,
    # dimension, value, unit
    if et == "crossing":
        return (
            _s(event.direction), _s(event.subject), _s(event.mode),
            _s(event.vehicle_class), _s(event.document_check),
            event.persons, event.vehicles, None,
            "", None, "", None, None, None, "", "", None, "",
        )
    if et == "seizure":
        unit = _s(event.unit)
        return (
            "", "", "", "", "",
            None, None, event.persons_arrested,
            _s(event.drug), float(event.quantity), unit,
            to_kg_equivalent(float(event.quantity), unit, tablet_mass_mg=tablet_mass_mg),
            None, None, "", "", None, "",
        )
    if et == "count_report":
        return (
            "", "", "", "", "",
            None, None, None,
            "", None, "", None,
            _utc(event.period_start), _utc(event.period_end), event.measure,
            event.dimension or "", float(event.value), event.unit,
        )
    if et == "inspection":
        return (
            "", "", "", "", _s(event.outcome),
            None, None, None, "", None, "", None, None, None, "", "", None, "",
        )
    if et in ("detention", "incident"):
        persons = getattr(event, "persons", None)
        return (
            "", "", "", "", "",
            persons, None, None, "", None, "", None, None, None, "", "", None, "",
        )
    # liaison_message and future types: envelope + payload only
    return ("", "", "", "", "", None, None, None, "", None, "", None, None, None, "", "", None, "")


def event_row(
    event: Any,
    station: StationRecord,
    *,
    body_hash: str,
    payload: str,
    ingested_at: datetime,
    source: SourcePos,
    tablet_mass_mg: float,
) -> Row:
    """Build the ``events`` row. ``event`` is a validated model from :mod:`schemas.events`."""
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
        station.border,
        station.neighbour_country,
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
    )

