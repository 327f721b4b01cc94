"""What the importer produces: plain dicts (typed) inside Mapped / Rejected items.

They have the shapes of ``schemas.events`` (``count_report``, schema_version 1) and
``schemas.station.StationRecord``; the pipeline validates them again on ingest. Instants
are RFC 3339 strings in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict


class CountReportDict(TypedDict):
    event_id: str
    schema_version: Literal[1]
    event_type: Literal["count_report"]
    station_id: str
    occurred_at: str  # = period_start
    reported_at: str
    source_seq: int
    period_start: str
    period_end: str  # exclusive
    measure: str
    dimension: NotRequired[str]  # absent when the mapping gives none (or it is empty)
    value: float
    unit: str


class StationRecordDict(TypedDict):
    station_id: str
    name: str
    country: str
    agency: str | None
    crossing_point: str | None
    neighbour_country: str | None
    paired_blo: str | None
    lat: float | None
    lon: float | None
    tz: str
    coord_source: str | None
    coord_approximate: bool
    valid_from: str
    active: bool


@dataclass(frozen=True, slots=True)
class Mapped:
    """An accepted row: its events (all of them), and a station record when the row is the
    first mapped one of a station the registry does not know."""

    line_no: int  # physical line where the record starts, 1-based, header included
    events: list[CountReportDict]
    station: StationRecordDict | None  # set on the station's first mapped row only


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused row: a stable ``reason_code`` (see docs/import-csv.md) and why."""

    line_no: int
    reason_code: str
    message: str


ImportItem = Mapped | Rejected
