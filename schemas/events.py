"""Event models of schema_version 1: the envelope and one model per ``event_type``.

Every model is strict (``extra="forbid"``, integers must be integers), frozen, and carries
only coded values, counts and short labels. Detentions are non-nominal: there is no field a
name could go into. Cross-field rules (sums, periods, liaison sender) raise the error type
``rule``, whose context names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from schemas.base import StrictModel, rule_error
from schemas.fields import (
    Amount,
    Count,
    CountryCode,
    JsonInt,
    Label,
    Lax,
    NationalityCode,
    PositiveCount,
    Revision,
    SequenceNumber,
    StationId,
    Timestamp,
    Uuid,
)
from schemas.vocab import (
    AgeBand,
    Concealment,
    Confidence,
    Conveyance,
    DetectionMethod,
    Direction,
    DocumentCheck,
    Drug,
    Impact,
    IncidentType,
    InspectionOutcome,
    InspectionReason,
    InspectionTarget,
    LiaisonKind,
    LiaisonPriority,
    Mode,
    Offence,
    SeizureUnit,
    Subject,
    VehicleClass,
)

SCHEMA_VERSION = 1


class EventEnvelope(StrictModel):
    """Fields common to every event."""

    event_id: Uuid
    """Unique id of the event. Stations derive it as uuid5(EVENT_NAMESPACE,
    '<station_id>:<source_seq>') so a resent event keeps its id."""
    schema_version: Annotated[Literal[1], JsonInt]
    """Version of the event schema; 1."""
    event_type: str
    """Kind of event; selects the type-specific fields."""
    station_id: StationId
    """Reporting station (BLO or post), as in the station registry."""
    occurred_at: Timestamp
    """When the event happened (event time), RFC 3339 with UTC offset."""
    reported_at: Timestamp
    """When the station sent the event, RFC 3339 with UTC offset."""
    source_seq: SequenceNumber
    """Per-station counter, increasing with each new event; never reused."""
    revision: Revision | None = None
    """Correction number: absent (or 0) for the event as first sent; 1, 2, ... for each
    correction of it, sent with the same ``event_id``. The highest revision wins."""
    correction_reason: Label | None = None
    """Why this revision was sent (e.g. 'laboratory weight'); required with a revision,
    forbidden without one."""

    @field_validator("revision", mode="before")
    @classmethod
    def _original_has_no_revision(cls, value: object) -> object:
        # 0 is the original: stored and hashed exactly as an event without the field
        return None if value == 0 and type(value) is int else value

    @model_validator(mode="after")
    def _check_revision(self) -> Self:
        if self.revision is None:
            if self.correction_reason is not None:
                raise rule_error("correction_reason", "only a revision (revision >= 1) "
                                 "carries a correction_reason")
        elif self.correction_reason is None:
            raise rule_error("correction_reason", "a revision (revision >= 1) needs a "
                             "correction_reason")
        return self


class CrossingEvent(EventEnvelope):
    """People, a vehicle or a cargo consignment passing the post."""

    event_type: Literal["crossing"]
    """Always 'crossing'."""
    direction: Annotated[Direction, Lax]
    """Into ('inbound') or out of ('outbound') the station's country."""
    subject: Annotated[Subject, Lax]
    """What crossed."""
    mode: Annotated[Mode, Lax]
    """Transport mode."""
    persons: Count
    """Number of persons crossing (drivers and passengers included)."""
    vehicles: Count
    """Number of vehicles (cars, buses, trucks, trains, containers) crossing."""
    vehicle_class: Annotated[VehicleClass, Lax] | None = None
    """Class of the vehicles, if any."""
    document_check: Annotated[DocumentCheck, Lax]
    """Outcome of the travel-document check."""

    @model_validator(mode="after")
    def _check_counts(self) -> CrossingEvent:
        if self.persons == 0 and self.vehicles == 0:
            raise rule_error("persons", "a crossing needs persons >= 1 or vehicles >= 1")
        if self.mode == Mode.PEDESTRIAN and self.vehicles:
            raise rule_error("vehicles", "a pedestrian crossing has vehicles = 0")
        return self


class InspectionEvent(EventEnvelope):
    """A search of a person, luggage, a vehicle, cargo, a container or mail."""

    event_type: Literal["inspection"]
    """Always 'inspection'."""
    target: Annotated[InspectionTarget, Lax]
    """What was inspected."""
    reason: Annotated[InspectionReason, Lax]
    """Why it was selected for inspection."""
    outcome: Annotated[InspectionOutcome, Lax]
    """Result of the inspection."""
    duration_min: Annotated[float, Field(ge=0, le=10080)] | None = None
    """Time the inspection took, in minutes (at most one week)."""


class SeizureEvent(EventEnvelope):
    """Drugs or precursors seized (one substance per event)."""

    event_type: Literal["seizure"]
    """Always 'seizure'."""
    drug: Annotated[Drug, Lax]
    """Seized substance."""
    quantity: Amount
    """Seized amount, in `unit`."""
    unit: Annotated[SeizureUnit, Lax]
    """Unit of `quantity`: g, kg, l, ml or tablet."""
    purity_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    """Purity in percent (0-100), if tested."""
    concealment: Annotated[Concealment, Lax]
    """Where the goods were hidden."""
    detection_method: Annotated[DetectionMethod, Lax]
    """How the goods were found."""
    conveyance: Annotated[Conveyance, Lax] | None = None
    """Means of transport the goods travelled with."""
    producing_country: CountryCode | None = None
    """Country where the substance was produced, if known (ISO 3166-1 alpha-2)."""
    departure_country: CountryCode | None = None
    """Country the consignment started from, if known."""
    transit_countries: Annotated[tuple[CountryCode, ...], Lax, Field(max_length=30)] = ()
    """Countries crossed on the way, in route order."""
    destination_country: CountryCode | None = None
    """Intended destination country, if known."""
    persons_arrested: Count = 0
    """Persons arrested in connection with this seizure."""


class NationalityCount(StrictModel):
    """Number of detained persons of one nationality."""

    country: NationalityCode
    """Nationality (ISO 3166-1 alpha-2), or 'XX' for stateless or unknown."""
    count: PositiveCount
    """Persons of this nationality."""


class SexCounts(StrictModel):
    """Detained persons by sex."""

    male: Count = 0
    """Male persons."""
    female: Count = 0
    """Female persons."""
    unknown: Count = 0
    """Persons whose sex was not recorded."""


class DetentionEvent(EventEnvelope):
    """Persons detained, as counts only: never names or other personal identifiers."""

    event_type: Literal["detention"]
    """Always 'detention'."""
    persons: PositiveCount
    """Number of persons detained."""
    nationalities: Annotated[tuple[NationalityCount, ...], Lax, Field(max_length=50)] = ()
    """Breakdown by nationality; when given, the counts add up to `persons`."""
    sex: SexCounts | None = None
    """Breakdown by sex; when given, the counts add up to `persons`."""
    age_bands: dict[Annotated[AgeBand, Lax], Count] | None = None
    """Breakdown by age band; when given, the counts add up to `persons`."""
    offence: Annotated[Offence, Lax]
    """Offence the persons were detained for."""

    @model_validator(mode="after")
    def _check_breakdowns(self) -> DetentionEvent:
        n = self.persons
        if self.nationalities:
            if len({x.country for x in self.nationalities}) != len(self.nationalities):
                raise rule_error("nationalities", "each country may appear only once")
            if sum(x.count for x in self.nationalities) != n:
                raise rule_error("nationalities", f"the counts must add up to persons ({n})")
        if self.sex is not None and self.sex.male + self.sex.female + self.sex.unknown != n:
            raise rule_error("sex", f"male + female + unknown must equal persons ({n})")
        if self.age_bands is not None and sum(self.age_bands.values()) != n:
            raise rule_error("age_bands", f"the counts must add up to persons ({n})")
        return self


class IncidentEvent(EventEnvelope):
    """A EUROSUR-style incident: unauthorised crossing, cross-border crime or crisis."""

    event_type: Literal["incident"]
    """Always 'incident'."""
    incident_type: Annotated[IncidentType, Lax]
    """Category of the incident."""
    impact: Annotated[Impact, Lax]
    """Impact level on border security."""
    confidence: Annotated[Confidence, Lax]
    """Confidence of the reporting officer in the report."""
    persons: Count | None = None
    """Persons involved, if known."""


class LiaisonMessageEvent(EventEnvelope):
    """A message from this BLO to another BLO of the same or a neighbouring country."""

    event_type: Literal["liaison_message"]
    """Always 'liaison_message'."""
    from_blo: StationId
    """Sending BLO; must equal `station_id`."""
    to_blo: StationId
    """Receiving BLO; must differ from `from_blo`."""
    kind: Annotated[LiaisonKind, Lax]
    """Purpose of the message."""
    priority: Annotated[LiaisonPriority, Lax]
    """Handling priority."""
    refs: Annotated[tuple[Uuid, ...], Lax, Field(max_length=100)] = ()
    """Ids of the events the message is about."""
    ack_deadline: Timestamp | None = None
    """Time by which the receiver should acknowledge; after `occurred_at`."""

    @model_validator(mode="after")
    def _check_parties(self) -> LiaisonMessageEvent:
        if self.from_blo != self.station_id:
            raise rule_error("from_blo", f"must equal station_id ({self.station_id!r})")
        if self.to_blo == self.from_blo:
            raise rule_error("to_blo", "a BLO cannot send a liaison message to itself")
        if self.ack_deadline is not None and self.ack_deadline <= self.occurred_at:
            raise rule_error("ack_deadline", "must be later than occurred_at")
        return self


class CountReportEvent(EventEnvelope):
    """A station's total of one measure over a period (e.g. daily crossings by class)."""

    event_type: Literal["count_report"]
    """Always 'count_report'."""
    period_start: Timestamp
    """Start of the counted period (inclusive)."""
    period_end: Timestamp
    """End of the counted period (exclusive); later than `period_start`."""
    measure: Label
    """What was counted, e.g. 'persons', 'trucks', 'Personal Vehicle Passengers'."""
    dimension: Label | None = None
    """Optional breakdown key, e.g. 'inbound' or 'vehicle_class=truck'."""
    value: Amount
    """The total; may be fractional (e.g. kilograms)."""
    unit: Label
    """Unit of `value`, e.g. 'persons', 'vehicles', 'kg'."""

    @model_validator(mode="after")
    def _check_period(self) -> CountReportEvent:
        if self.period_end <= self.period_start:
            raise rule_error("period_end", "must be later than period_start")
        if not self.period_start <= self.occurred_at <= self.period_end:
            raise rule_error("occurred_at", "must lie within [period_start, period_end]")
        return self


class VoidEvent(EventEnvelope):
    """Withdraws an event entered by mistake: sent with the voided event's ``event_id``,
    ``station_id``, ``occurred_at`` and ``source_seq``, a ``revision`` higher than any sent
    for it, and the reason. The voided event leaves every statistic; its history stays."""

    event_type: Literal["void"]
    """Always 'void'."""
    revision: Revision
    """Higher than every revision of the voided event sent before (1 voids the original)."""
    correction_reason: Label
    """Why the event is voided (e.g. 'entered twice')."""

    @field_validator("revision", mode="before")
    @classmethod
    def _original_has_no_revision(cls, value: object) -> object:
        return value  # a void is always a revision: 0 is refused as below 1


AnyEvent = (
    CrossingEvent
    | InspectionEvent
    | SeizureEvent
    | DetentionEvent
    | IncidentEvent
    | LiaisonMessageEvent
    | CountReportEvent
    | VoidEvent
)

Event = Annotated[AnyEvent, Field(discriminator="event_type")]
"""Any event of schema_version 1, discriminated on ``event_type``."""

EVENT_MODELS: Mapping[str, type[AnyEvent]] = MappingProxyType(
    {
        "crossing": CrossingEvent,
        "inspection": InspectionEvent,
        "seizure": SeizureEvent,
        "detention": DetentionEvent,
        "incident": IncidentEvent,
        "liaison_message": LiaisonMessageEvent,
        "count_report": CountReportEvent,
        "void": VoidEvent,
    }
)
"""Model class per ``event_type``."""
