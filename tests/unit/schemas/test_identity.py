"""Derived event ids, canonical JSON and body hash: invariances and sensitivity."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID, uuid5

import pytest

from schemas.events import EVENT_MODELS
from schemas.identity import (
    BODY_HASH_CHARS,
    EVENT_NAMESPACE,
    body_hash,
    canonical_json,
    canonical_json_and_hash,
    derive_event_id,
    time_fields,
)
from tests.unit.schemas.factories import DROP, EVENT_TYPE_NAMES, make_event, parse


def test_namespace_is_fixed() -> None:
    # Changing it would re-key every stored event: this literal must never change.
    assert EVENT_NAMESPACE == UUID("b23895f8-abd5-5db4-8539-8bc90c749aa3")


def test_derive_event_id_deterministic() -> None:
    a = derive_event_id("KZ-KORDAI", 7)
    assert a == derive_event_id("KZ-KORDAI", 7)
    assert a == uuid5(EVENT_NAMESPACE, "KZ-KORDAI:7")
    assert a.version == 5
    assert a != derive_event_id("KZ-KORDAI", 8)
    assert a != derive_event_id("KG-AK-JOL", 7)
    # plain concatenation would give "AB12" twice; the ':' separator keeps them apart
    assert derive_event_id("AB", 12) != derive_event_id("AB1", 2)


def test_derive_event_id_rejects_negative_seq() -> None:
    with pytest.raises(ValueError):
        derive_event_id("KZ-KORDAI", -1)


def _hash(**overrides: Any) -> str:
    return body_hash(parse(make_event("seizure", **overrides)))


def test_hash_shape() -> None:
    h = _hash()
    assert len(h) == BODY_HASH_CHARS == 32
    int(h, 16)


def test_hash_ignores_reported_at() -> None:
    assert _hash() == _hash(reported_at="2024-06-01T00:00:00Z")


@pytest.mark.parametrize(
    "same_instant",
    ["2024-05-01T03:30:00Z", "2024-05-01T03:30:00+00:00", "2024-05-01T06:30:00+03:00",
     "2024-04-30T22:30:00-05:00", "2024-05-01T03:30:00.000Z"],
)
def test_hash_ignores_the_offset_used(same_instant: str) -> None:
    assert _hash() == _hash(occurred_at=same_instant)


def test_hash_ignores_field_order_and_number_spelling() -> None:
    event = make_event("seizure", quantity=775)
    reordered = dict(reversed(list(event.items())))
    assert body_hash(parse(event)) == body_hash(parse(reordered))
    assert _hash(quantity=775) == _hash(quantity=775.0)


def test_hash_treats_null_as_absent() -> None:
    assert _hash(conveyance=None) == _hash(conveyance=DROP)
    assert _hash(transit_countries=[]) == _hash(transit_countries=DROP)


@pytest.mark.parametrize(
    "change",
    [{"quantity": 12.41}, {"drug": "opium"}, {"transit_countries": ["UZ", "KZ"]},
     {"transit_countries": []}, {"occurred_at": "2024-05-01T08:30:01+05:00"},
     {"station_id": "KZ-KONYSBAEV"}, {"source_seq": 1043},
     {"event_id": "00000000-0000-4000-8000-000000000000"}, {"persons_arrested": 3},
     {"conveyance": None}, {"purity_pct": 61.5}],
)
def test_hash_sensitive_to_every_other_value(change: dict[str, Any]) -> None:
    assert _hash() != _hash(**change)


def test_hash_sensitive_inside_nested_values() -> None:
    base = body_hash(parse(make_event("detention")))
    swapped = make_event("detention", sex={"male": 1, "female": 2, "unknown": 0})
    assert body_hash(parse(swapped)) != base


def test_canonical_json_form() -> None:
    event = parse(make_event("count_report"))
    text = canonical_json(event)
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert " " not in text.replace("persons", "")  # compact
    assert data["occurred_at"] == "2024-05-01T03:30:00Z"
    assert data["reported_at"] == "2024-05-01T03:30:04.250000Z"
    assert data["period_start"] == "2024-04-30T19:00:00Z"
    assert data["period_end"] == "2024-05-01T19:00:00Z"
    assert data["value"] == 1234.0
    assert "dimension" in data


def test_canonical_json_round_trips_through_parse() -> None:
    for event_type in EVENT_TYPE_NAMES:
        event = parse(make_event(event_type))
        again = parse(json.loads(canonical_json(event)))
        assert again == event
        assert canonical_json(again) == canonical_json(event)


def test_canonical_json_keeps_non_ascii() -> None:
    event = parse(make_event("count_report", measure="пересечения"))
    assert "пересечения" in canonical_json(event)


def test_combined_matches_separate() -> None:
    for event_type in EVENT_TYPE_NAMES:
        event = parse(make_event(event_type))
        assert canonical_json_and_hash(event) == (canonical_json(event), body_hash(event))


def test_time_fields_cover_every_datetime() -> None:
    assert set(time_fields(EVENT_MODELS["count_report"])) == {
        "occurred_at", "reported_at", "period_start", "period_end",
    }
    assert "ack_deadline" in time_fields(EVENT_MODELS["liaison_message"])
    for event_type in EVENT_TYPE_NAMES:
        data = json.loads(canonical_json(parse(make_event(event_type))))
        for name in time_fields(EVENT_MODELS[event_type]):
            assert data[name].endswith("Z"), (event_type, name)


def _reference_hash(event_dict: dict[str, Any]) -> str:
    data = json.loads(canonical_json(parse(event_dict)))
    del data["reported_at"]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@pytest.mark.parametrize("event_type", EVENT_TYPE_NAMES)
def test_hash_equals_hash_of_body_without_reported_at(event_type: str) -> None:
    event = make_event(event_type)
    assert body_hash(parse(event)) == _reference_hash(event)


def test_hash_not_fooled_by_lookalike_text_in_labels() -> None:
    sneaky = make_event("count_report", measure='x,"reported_at":"y', unit='"reported_at"')
    assert body_hash(parse(sneaky)) == _reference_hash(sneaky)


# -- the fast encoder must write exactly what the standard encoder writes ---------------

_STD = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                        allow_nan=False)


def _std_canonical(event: Any) -> str:
    """The canonical text as defined: the standard library encoder over the same dict."""
    from schemas.identity import _canonical_fields

    return _STD.encode(_canonical_fields(event))


@pytest.mark.parametrize("quantity", [
    0.1, 2.5, 100.0, 12345.678, 1e15, 1e16, 1.2345678901234568e17, 1e22,
    1.7976931348623157e308, 0.0001, 0.00012,
    # below 1e-4 repr() writes an exponent (1e-05) and orjson does not (0.00001)
    9.99e-05, 1e-05, 1e-06, 1.5e-07, 1e-08, 1e-10, 5e-324,
])
def test_canonical_json_equals_standard_encoder_for_floats(quantity: float) -> None:
    ev = parse(make_event("seizure", quantity=quantity, unit="kg"))
    assert canonical_json(ev) == _std_canonical(ev)
    assert json.loads(canonical_json(ev))["quantity"] == quantity


@pytest.mark.parametrize("text", [
    "plain", "é€😀 Ош", "quote\" back\\slash /", "\u2028\u2029", "ĳ ﬁ \u00a0nbsp",
])
def test_canonical_json_equals_standard_encoder_for_strings(text: str) -> None:
    ev = parse(make_event("count_report", measure=text.replace("\t", " "), unit="u"))
    assert canonical_json(ev) == _std_canonical(ev)


def test_canonical_json_equals_standard_encoder_for_every_type_and_big_ints() -> None:
    for event_type in EVENT_TYPE_NAMES:
        ev = parse(make_event(event_type))
        assert canonical_json(ev) == _std_canonical(ev), event_type
    ev = parse(make_event("crossing", source_seq=2**64 - 1, event_id=str(UUID(int=7))))
    assert canonical_json(ev) == _std_canonical(ev)


def test_no_nested_model_has_float_fields() -> None:
    """The fast path checks floats at the top level only: keep nested models float-free."""
    from pydantic import BaseModel

    from schemas.identity import _is_float

    def nested_models(annotation: Any) -> list[type[BaseModel]]:
        from typing import get_args

        found = []
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.append(annotation)
        for a in get_args(annotation):
            found += nested_models(a)
        return found

    for model in EVENT_MODELS.values():
        for f in model.model_fields.values():
            for sub in nested_models(f.annotation):
                floats = [n for n, sf in sub.model_fields.items() if _is_float(sf.annotation)]
                assert not floats, f"{model.__name__} nests {sub.__name__} with floats {floats}"


def test_the_fast_encoder_is_used_for_ordinary_events() -> None:
    """The orjson path must not silently fall back to the slow one for normal input."""
    from schemas.identity import _fast_canonical

    for event_type in EVENT_TYPE_NAMES:
        ev = parse(make_event(event_type))
        assert _fast_canonical(ev, type(ev)) == canonical_json(ev), event_type
