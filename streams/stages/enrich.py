"""Stage 3, enrich: a validated event → the station registry entry that describes it. Pure.

The entry is the one valid at the event's ``occurred_at`` (an event older than the station's
first entry takes the earliest); its fields (country, agency, crossing point, border,
neighbour, paired BLO, coordinates, time zone) go into the row (:mod:`streams.stages.rows`).
What only the registry can judge is judged here: an event of a station not in the registry,
and a liaison message to a post that is not, or not in the same or a neighbouring country,
are rejected. The liaison rule is about countries, not sites: an interior post (no
``neighbour_country``: an airport, an inland office; its border is '') may message posts of
its own country and of the countries bordering it, like any post of that country, and no
others. (Holding a record whose station is not registered *yet* is the processor's
decision, before this stage: :meth:`streams.ingest.IngestProcessor.prepare`.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.countries import same_or_neighbouring
from schemas.events import AnyEvent, LiaisonMessageEvent
from schemas.station import Registry, StationRecord
from streams.stages.validate import Rejected


def station_at(registry: Registry, station_id: str, at: datetime) -> StationRecord | None:
    """The registry entry of ``station_id`` valid at ``at``; the earliest one if ``at``
    predates it; None for a station the registry does not know."""
    st = registry.lookup(station_id, at)
    if st is None and registry.known(station_id):
        st = registry.earliest(station_id)
    return st


def enrich(index: int, element: object, event: AnyEvent, registry: Registry,
           held_for: timedelta) -> StationRecord | Rejected:
    """The station entry of ``event`` (element ``index`` of its record), or why the
    registry rejects it. ``held_for``: how long an unknown station's record was held."""
    station = station_at(registry, event.station_id, event.occurred_at)
    if station is None:
        return Rejected(index, element, ("unknown_station",), (
            (f"station_id: {event.station_id!r} is not in the station registry "
            f"(held {held_for.total_seconds():.0f} s; register it with "
            "`blo stations load`, then `blo dlq replay`)"),))
    match event:
        case LiaisonMessageEvent():
            problem = _liaison_problem(event, station, registry)
            if problem:
                return Rejected(index, element, ("rule_violation",), (problem,))
        case _:
            pass
    return station


def _liaison_problem(event: LiaisonMessageEvent, station: StationRecord,
                     registry: Registry) -> str:
    peer = station_at(registry, event.to_blo, event.occurred_at)
    if peer is None:
        return f"to_blo: {event.to_blo!r} is not in the station registry"
    if not same_or_neighbouring(station.country, peer.country):
        return (
            f"to_blo: liaison messages go between posts of the same or neighbouring "
            f"countries; {station.station_id} is in {station.country} and "
            f"{peer.station_id} in {peer.country}"
        )
    return ""
