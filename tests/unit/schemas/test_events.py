"""Every validation rule of the event models: good input accepted, bad input rejected with
code ``invalid`` on the right field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from schemas.events import (
    CountReportEvent,
    CrossingEvent,
    DetentionEvent,
    LiaisonMessageEvent,
    SeizureEvent,
)
from schemas.vocab import AgeBand, Direction, Drug, VehicleClass
from tests.unit.schemas.factories import (
    DROP,
    EVENT_TYPE_NAMES,
    make_event,
    parse,
    problems,
)


@pytest.mark.parametrize("event_type", EVENT_TYPE_NAMES)
def test_factory_events_are_valid(event_type: str) -> None:
    event = parse(make_event(event_type))
    assert event.event_type == event_type
    assert event.schema_version == 1


def test_values_become_typed() -> None:
    event = parse(make_event("crossing"))
    assert isinstance(event, CrossingEvent)
    assert event.direction is Direction.INBOUND
    assert event.vehicle_class is VehicleClass.PERSONAL_VEHICLE
    assert isinstance(event.event_id, UUID)
    assert event.occurred_at == datetime(2024, 5, 1, 3, 30, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=5)


def test_models_are_frozen() -> None:
    event = parse(make_event("crossing"))
    assert isinstance(event, CrossingEvent)
    with pytest.raises(ValueError):
        event.persons = 4


def test_python_callers_may_pass_datetimes_and_enums() -> None:
    data: dict[str, Any] = make_event("crossing")
    data["occurred_at"] = datetime(2024, 5, 1, 3, 30, tzinfo=UTC)
    data["direction"] = Direction.OUTBOUND
    event = CrossingEvent.model_validate(data)
    assert event.direction is Direction.OUTBOUND


ENVELOPE_BAD: list[tuple[str, dict[str, Any], str]] = [
    ("missing event_id", {"event_id": DROP}, "event_id"),
    ("bad uuid", {"event_id": "not-a-uuid"}, "event_id"),
    ("uuid as number", {"event_id": 12}, "event_id"),
    ("station id with space", {"station_id": "KZ KORDAI"}, "station_id"),
    ("station id too short", {"station_id": "K"}, "station_id"),
    ("station id leading dash", {"station_id": "-KZ"}, "station_id"),
    ("station id too long", {"station_id": "K" * 65}, "station_id"),
    ("naive occurred_at", {"occurred_at": "2024-05-01T08:30:00"}, "occurred_at"),
    ("date only", {"occurred_at": "2024-05-01"}, "occurred_at"),
    ("unix seconds", {"occurred_at": 1714534200}, "occurred_at"),
    ("unix seconds as text", {"occurred_at": "1714534200"}, "occurred_at"),
    ("impossible date", {"occurred_at": "2024-02-30T08:30:00Z"}, "occurred_at"),
    ("naive reported_at", {"reported_at": "2024-05-01 08:30:04"}, "reported_at"),
    ("negative seq", {"source_seq": -1}, "source_seq"),
    ("seq as text", {"source_seq": "7"}, "source_seq"),
    ("seq as float", {"source_seq": 7.0}, "source_seq"),
    ("seq beyond uint64", {"source_seq": 2**64}, "source_seq"),
    ("unknown field", {"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("label", "overrides", "field"), ENVELOPE_BAD, ids=lambda x: str(x))
def test_envelope_rules(label: str, overrides: dict[str, Any], field: str) -> None:
    assert ("invalid", field) in problems(make_event("crossing", **overrides)), label


@pytest.mark.parametrize(
    "stamp",
    ["2024-05-01T03:30:00Z", "2024-05-01t03:30:00z", "2024-05-01 08:30:00+05:00",
     "2024-05-01T08:30:00.123456789+05:00", "2024-04-30T22:30:00-05:00"],
)
def test_rfc3339_forms_accepted(stamp: str) -> None:
    assert parse(make_event("crossing", occurred_at=stamp)).occurred_at.tzinfo is not None


BAD: list[tuple[str, dict[str, Any], str]] = [
    # crossing
    ("crossing", {"direction": "in"}, "direction"),
    ("crossing", {"mode": "sea"}, "mode"),
    ("crossing", {"subject": "animal"}, "subject"),
    ("crossing", {"persons": -1}, "persons"),
    ("crossing", {"persons": True}, "persons"),
    ("crossing", {"persons": "3"}, "persons"),
    ("crossing", {"persons": 2.5}, "persons"),
    ("crossing", {"vehicles": -2}, "vehicles"),
    ("crossing", {"vehicles": 2**32}, "vehicles"),
    ("crossing", {"vehicle_class": "tank"}, "vehicle_class"),
    ("crossing", {"document_check": DROP}, "document_check"),
    ("crossing", {"persons": 0, "vehicles": 0}, "persons"),
    ("crossing", {"mode": "pedestrian", "vehicles": 1}, "vehicles"),
    # inspection
    ("inspection", {"target": "dog"}, "target"),
    ("inspection", {"reason": "hunch"}, "reason"),
    ("inspection", {"outcome": "maybe"}, "outcome"),
    ("inspection", {"duration_min": -1}, "duration_min"),
    ("inspection", {"duration_min": 20000}, "duration_min"),
    # seizure
    ("seizure", {"drug": "sugar"}, "drug"),
    ("seizure", {"quantity": -0.5}, "quantity"),
    ("seizure", {"quantity": float("nan")}, "quantity"),
    ("seizure", {"quantity": float("inf")}, "quantity"),
    ("seizure", {"quantity": "12"}, "quantity"),
    ("seizure", {"unit": "lb"}, "unit"),
    ("seizure", {"purity_pct": 101}, "purity_pct"),
    ("seizure", {"concealment": "hat"}, "concealment"),
    ("seizure", {"detection_method": "luck"}, "detection_method"),
    ("seizure", {"conveyance": "camel"}, "conveyance"),
    ("seizure", {"producing_country": "ZZ"}, "producing_country"),
    ("seizure", {"departure_country": "tj"}, "departure_country"),
    ("seizure", {"destination_country": "RUS"}, "destination_country"),
    ("seizure", {"transit_countries": ["UZ", "XX"]}, "transit_countries.1"),
    ("seizure", {"transit_countries": "UZ"}, "transit_countries"),
    ("seizure", {"persons_arrested": -1}, "persons_arrested"),
    # detention
    ("detention", {"persons": 0}, "persons"),
    ("detention", {"name": "Ivan Ivanov"}, "name"),
    ("detention", {"names": ["A", "B"]}, "names"),
    ("detention", {"passport_no": "N123"}, "passport_no"),
    ("detention", {"nationalities": [{"country": "TJ", "count": 3, "name": "A"}]},
     "nationalities.0.name"),
    ("detention", {"sex": {"male": 3, "name": "A"}}, "sex.name"),
    ("detention", {"nationalities": [{"country": "TJ", "count": 2}]}, "nationalities"),
    ("detention", {"nationalities": [{"country": "TJ", "count": 2}, {"country": "TJ", "count": 1}]},
     "nationalities"),
    ("detention", {"nationalities": [{"country": "TJ", "count": 0}, {"country": "AF", "count": 3}]},
     "nationalities.0.count"),
    ("detention", {"nationalities": [{"country": "Tajik", "count": 3}]}, "nationalities.0.country"),
    ("detention", {"sex": {"male": 1, "female": 1}}, "sex"),
    ("detention", {"sex": {"male": -1, "female": 4}}, "sex.male"),
    ("detention", {"age_bands": {"18_24": 1}}, "age_bands"),
    ("detention", {"age_bands": {}}, "age_bands"),
    ("detention", {"age_bands": {"18-29": 3}}, "age_bands.[key]"),  # the key is input: not shown
    ("detention", {"offence": "jaywalking"}, "offence"),
    # incident
    ("incident", {"incident_type": "party"}, "incident_type"),
    ("incident", {"impact": "extreme"}, "impact"),
    ("incident", {"confidence": "certain"}, "confidence"),
    ("incident", {"persons": -3}, "persons"),
    # liaison
    ("liaison_message", {"from_blo": "TJ-ISHKASHIM"}, "from_blo"),
    ("liaison_message", {"to_blo": "KZ-KORDAI"}, "to_blo"),
    ("liaison_message", {"to_blo": "bad id!"}, "to_blo"),
    ("liaison_message", {"kind": "gossip"}, "kind"),
    ("liaison_message", {"priority": "whenever"}, "priority"),
    ("liaison_message", {"refs": ["nope"]}, "refs.0"),
    ("liaison_message", {"ack_deadline": "2024-05-01T08:00:00+05:00"}, "ack_deadline"),
    ("liaison_message", {"ack_deadline": "2024-05-01T10:30:00"}, "ack_deadline"),
    # count report
    ("count_report", {"period_end": "2024-05-01T00:00:00+05:00"}, "period_end"),
    ("count_report", {"period_end": "2024-04-30T00:00:00+05:00"}, "period_end"),
    ("count_report", {"occurred_at": "2024-05-02T00:00:01+05:00"}, "occurred_at"),
    ("count_report", {"occurred_at": "2024-04-30T23:59:59+05:00"}, "occurred_at"),
    ("count_report", {"period_start": "2024-05-01T00:00:00"}, "period_start"),
    ("count_report", {"value": -1}, "value"),
    ("count_report", {"measure": ""}, "measure"),
    ("count_report", {"measure": "persons\nDROP TABLE"}, "measure"),
    ("count_report", {"unit": "x" * 129}, "unit"),
    ("count_report", {"unit": DROP}, "unit"),
]


@pytest.mark.parametrize(("event_type", "overrides", "field"), BAD, ids=lambda x: str(x)[:40])
def test_rule_rejects(event_type: str, overrides: dict[str, Any], field: str) -> None:
    assert ("invalid", field) in problems(make_event(event_type, **overrides))


GOOD: list[tuple[str, dict[str, Any]]] = [
    ("crossing", {"vehicle_class": DROP}),
    ("crossing", {"vehicle_class": None}),
    ("crossing", {"subject": "person", "mode": "pedestrian", "persons": 1, "vehicles": 0,
                  "vehicle_class": "none"}),
    ("crossing", {"subject": "cargo", "mode": "rail", "persons": 0, "vehicles": 12,
                  "vehicle_class": "rail_container_loaded"}),
    ("crossing", {"mode": "pipeline", "persons": 0, "vehicles": 1}),
    ("inspection", {"duration_min": DROP}),
    ("inspection", {"duration_min": 0}),
    ("seizure", {"quantity": 0}),
    ("seizure", {"quantity": 775}),
    ("seizure", {"drug": "acetic_anhydride", "unit": "l", "purity_pct": None}),
    ("seizure", {"drug": "pharmaceuticals", "unit": "tablet", "quantity": 5000}),
    ("seizure", {"producing_country": DROP, "departure_country": DROP, "transit_countries": DROP,
                 "destination_country": DROP, "conveyance": DROP, "persons_arrested": DROP}),
    ("detention", {"nationalities": DROP, "sex": DROP, "age_bands": DROP}),
    ("detention", {"nationalities": [{"country": "XX", "count": 3}]}),
    ("detention", {"sex": {"unknown": 3}}),
    ("incident", {"persons": DROP}),
    ("liaison_message", {"refs": DROP, "ack_deadline": DROP}),
    ("liaison_message", {"refs": []}),
    ("count_report", {"dimension": DROP}),
    ("count_report", {"value": 0.25, "unit": "kg"}),
    ("count_report", {"occurred_at": "2024-05-01T00:00:00+05:00"}),
    ("count_report", {"occurred_at": "2024-05-01T19:00:00Z"}),  # = period_end
    ("count_report", {"measure": "Personal Vehicle Passengers", "unit": "человек"}),
]


@pytest.mark.parametrize(("event_type", "overrides"), GOOD, ids=lambda x: str(x)[:40])
def test_rule_accepts(event_type: str, overrides: dict[str, Any]) -> None:
    assert parse(make_event(event_type, **overrides)).event_type == event_type


def test_seizure_values() -> None:
    event = parse(make_event("seizure", quantity=775, transit_countries=["UZ", "KZ"]))
    assert isinstance(event, SeizureEvent)
    assert event.drug is Drug.HEROIN
    assert event.quantity == 775.0 and isinstance(event.quantity, float)
    assert event.transit_countries == ("UZ", "KZ")


def test_detention_breakdowns_typed() -> None:
    event = parse(make_event("detention"))
    assert isinstance(event, DetentionEvent)
    assert event.age_bands == {AgeBand.FROM_18_TO_24: 1, AgeBand.FROM_25_TO_34: 2}
    assert sum(n.count for n in event.nationalities) == event.persons


def test_detention_has_no_free_text_field() -> None:
    text_fields = [
        name for name, f in DetentionEvent.model_fields.items()
        if f.annotation is str and name not in ("event_type", "station_id")
    ]
    assert text_fields == []


def test_liaison_defaults_and_count_report_period() -> None:
    msg = parse(make_event("liaison_message", refs=DROP, ack_deadline=DROP))
    assert isinstance(msg, LiaisonMessageEvent) and msg.refs == () and msg.ack_deadline is None
    report = parse(make_event("count_report"))
    assert isinstance(report, CountReportEvent)
    assert report.period_end - report.period_start == timedelta(days=1)
