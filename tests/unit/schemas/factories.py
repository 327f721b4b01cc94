"""Factories for schema tests: ``make_event(event_type, **overrides)`` and friends.

Plain functions rather than conftest fixtures so the tests also run with ``--noconftest``.
An override of :data:`DROP` removes the field.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import Event
from schemas.identity import derive_event_id
from schemas.parse import EventRejected, parse_event

NOW = datetime(2025, 1, 1, tzinfo=UTC)
SKEW = timedelta(minutes=5)
DROP = object()

_BODIES: dict[str, dict[str, Any]] = {
    "crossing": {
        "direction": "inbound",
        "subject": "vehicle",
        "mode": "road",
        "persons": 3,
        "vehicles": 1,
        "vehicle_class": "personal_vehicle",
        "document_check": "passed",
    },
    "inspection": {
        "target": "vehicle",
        "reason": "risk_profile",
        "outcome": "nothing_found",
        "duration_min": 12.5,
    },
    "seizure": {
        "drug": "heroin",
        "quantity": 12.4,
        "unit": "kg",
        "purity_pct": 61.0,
        "concealment": "built_compartment",
        "detection_method": "xray",
        "conveyance": "truck",
        "producing_country": "AF",
        "departure_country": "TJ",
        "transit_countries": ["UZ"],
        "destination_country": "RU",
        "persons_arrested": 2,
    },
    "detention": {
        "persons": 3,
        "nationalities": [{"country": "TJ", "count": 2}, {"country": "AF", "count": 1}],
        "sex": {"male": 2, "female": 1, "unknown": 0},
        "age_bands": {"18_24": 1, "25_34": 2},
        "offence": "drug_trafficking",
    },
    "incident": {
        "incident_type": "unauthorised_crossing",
        "impact": "medium",
        "confidence": "high",
        "persons": 4,
    },
    "liaison_message": {
        "from_blo": "KZ-KORDAI",
        "to_blo": "KG-AK-JOL",
        "kind": "alert",
        "priority": "urgent",
        "refs": ["6f1c2f0e-8d7b-5a3c-9e1d-2b4a6c8e0f13"],
        "ack_deadline": "2024-05-01T10:30:00+05:00",
    },
    "count_report": {
        "period_start": "2024-05-01T00:00:00+05:00",
        "period_end": "2024-05-02T00:00:00+05:00",
        "measure": "persons",
        "dimension": "inbound",
        "value": 1234,
        "unit": "persons",
    },
}

EVENT_TYPE_NAMES: tuple[str, ...] = tuple(_BODIES)


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **overrides}
    return {k: v for k, v in out.items() if v is not DROP}


def make_event(event_type: str = "crossing", **overrides: Any) -> dict[str, Any]:
    """A valid event dict (as decoded from JSON) of ``event_type``, with ``overrides``."""
    seq = overrides.get("source_seq", 1042)
    valid_seq = isinstance(seq, int) and 0 <= seq < 2**64
    envelope: dict[str, Any] = {
        "event_id": str(derive_event_id("KZ-KORDAI", seq if valid_seq else 0)),
        "schema_version": 1,
        "event_type": event_type,
        "station_id": "KZ-KORDAI",
        "occurred_at": "2024-05-01T08:30:00+05:00",
        "reported_at": "2024-05-01T08:30:04.250+05:00",
        "source_seq": 1042,
    }
    return _apply({**envelope, **copy.deepcopy(_BODIES.get(event_type, {}))}, overrides)


def make_station(**overrides: Any) -> dict[str, Any]:
    """A valid station record dict, with ``overrides``."""
    base: dict[str, Any] = {
        "station_id": "TJ-NIZHNIY-PYANJ",
        "name": "Nijniy Pyanj",
        "country": "TJ",
        "agency": "joint",
        "crossing_point": "Nijniy Pyanj / Sher Khan Bandar",
        "neighbour_country": "AF",
        "paired_blo": "AF-SHER-KHAN-BANDAR",
        "lat": 37.2,
        "lon": 68.6,
        "tz": "Asia/Dushanbe",
        "coord_source": "test",
        "coord_approximate": True,
        "valid_from": "2018-01-01T00:00:00Z",
        "active": True,
    }
    return _apply(base, overrides)


def parse(obj: object) -> Event:
    """``parse_event`` at the fixed test clock."""
    return parse_event(obj, now=NOW, max_future_skew=SKEW)


def rejection(obj: object) -> EventRejected:
    """The :class:`EventRejected` that parsing ``obj`` raises (fails the test otherwise)."""
    try:
        parse(obj)
    except EventRejected as e:
        return e
    raise AssertionError(f"accepted, expected a rejection: {obj!r}")


def problems(obj: object) -> set[tuple[str, str]]:
    """``{(code, field), ...}`` of the rejection of ``obj``."""
    return {(p.code, p.field) for p in rejection(obj).reasons}
