"""Event identity: deterministic ids, the canonical JSON form, and the body hash.

* ``event_id`` defaults to ``uuid5(EVENT_NAMESPACE, f"{station_id}:{source_seq}")``, so an
  event resent by the station (or redelivered by Kafka) keeps its id.
* The canonical JSON of a validated event has sorted keys, no whitespace, datetimes in UTC
  (``...Z``), and omits fields that are null. It is what ClickHouse stores as ``payload``.
* :func:`body_hash` hashes the canonical JSON *without* ``reported_at``: a resend differs only
  there. The same ``event_id`` with a different body hash is an ``id_conflict``.

Changing anything here changes stored ids and hashes: treat it as a schema version change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, get_args
from uuid import UUID, uuid5

import orjson

from schemas.events import EVENT_MODELS, EventEnvelope

EVENT_NAMESPACE = UUID("b23895f8-abd5-5db4-8539-8bc90c749aa3")
"""Namespace of derived event ids (= uuid5(NAMESPACE_URL, 'urn:blo-stream:event')). Fixed."""

BODY_HASH_CHARS = 32
"""Length of :func:`body_hash`: the first 32 hex characters (128 bits) of SHA-256."""

_REPORTED_AT_KEY = ',"reported_at":"'

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _is_time(annotation: Any) -> bool:
    return annotation is datetime or any(_is_time(a) for a in get_args(annotation))


def _is_float(annotation: Any) -> bool:
    return annotation is float or any(_is_float(a) for a in get_args(annotation))


def time_fields(model: type[EventEnvelope]) -> tuple[str, ...]:
    """Names of the datetime fields of ``model``."""
    return tuple(n for n, f in model.model_fields.items() if _is_time(f.annotation))


# Looked up per event: iterating a model or probing absent attributes costs microseconds.
_TIME_FIELDS: Mapping[type[EventEnvelope], tuple[str, ...]] = MappingProxyType(
    {model: time_fields(model) for model in EVENT_MODELS.values()}
)


# Fields whose values may be floats (top level only: no nested model has a float field; a
# unit test walks the models to keep it so).
_FLOAT_FIELDS: Mapping[type[EventEnvelope], tuple[str, ...]] = MappingProxyType(
    {model: tuple(n for n, f in model.model_fields.items() if _is_float(f.annotation))
     for model in EVENT_MODELS.values()}
)


def derive_event_id(station_id: str, source_seq: int) -> UUID:
    """The default ``event_id`` of the ``source_seq``-th event of ``station_id``."""
    if source_seq < 0:
        raise ValueError(f"source_seq must be >= 0, got {source_seq}")
    return uuid5(EVENT_NAMESPACE, f"{station_id}:{source_seq}")


def utc_text(value: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC: ``2024-05-01T03:30:00Z`` (microseconds if any)."""
    return value.astimezone(UTC).isoformat()[:-6] + "Z"


def _canonical_fields(event: EventEnvelope) -> dict[str, Any]:
    data = event.model_dump(mode="json", exclude_none=True)
    names = _TIME_FIELDS.get(type(event)) or time_fields(type(event))
    for name in names:
        text = data.get(name)
        if text is not None and not text.endswith("Z"):  # pydantic writes UTC as 'Z'
            data[name] = utc_text(getattr(event, name))
    return data


def _orjson_safe(data: dict[str, Any], float_fields: tuple[str, ...]) -> bool:
    """Whether orjson writes ``data`` byte-identically to :data:`_ENCODER`.

    The two agree on every string, integer (up to 2**64 - 1) and float, except floats
    with 0 < |x| < 1e-4, which ``repr`` writes with an exponent (``1e-05``) and orjson in
    another form (``0.00001``). Those go through the standard encoder."""
    for name in float_fields:
        v = data.get(name)
        if v is not None and 0 < abs(v) < 1e-4:
            return False
    return True


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _fast_canonical(event: EventEnvelope, model: type[EventEnvelope]) -> str | None:
    """The canonical text through orjson (about 2x faster than the definition below), or
    None where orjson would not write exactly what :data:`_ENCODER` writes (a unit test
    compares the two for every event type, float range and string class)."""
    # model_dump(exclude_none=True) without its wrapper (~0.4 µs): UUIDs, datetimes and
    # enums as objects
    data = event.__pydantic_serializer__.to_python(event, exclude_none=True)
    if not _orjson_safe(data, _FLOAT_FIELDS[model]):
        return None
    for name in _TIME_FIELDS[model]:
        value = data.get(name)
        if value is not None and value.utcoffset():
            data[name] = value.astimezone(UTC)  # written '...Z' by OPT_UTC_Z
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # e.g. a lone surrogate in a string
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:BODY_HASH_CHARS]


def canonical_json(event: EventEnvelope) -> str:
    """The canonical JSON text of a validated event (the stored ``payload``).

    Defined as the standard library's sorted-key compact encoding of
    :func:`_canonical_fields`; computed through orjson wherever that is the same text."""
    model = type(event)
    if model in _FLOAT_FIELDS:
        text = _fast_canonical(event, model)
        if text is not None:
            return text
    return _ENCODER.encode(_canonical_fields(event))


def _without_reported_at(payload: str) -> str:
    # In compact sorted JSON the top-level pair is exactly ',"reported_at":"<...Z>"': it is
    # never first ('event_id' sorts before it), no nested object has that key, and a quote
    # inside a string value is always escaped, so this text cannot occur anywhere else.
    # Cutting it out gives byte-for-byte the encoding of the event without reported_at.
    start = payload.find(_REPORTED_AT_KEY)
    if start < 0:
        return payload
    end = payload.index('"', start + len(_REPORTED_AT_KEY)) + 1
    return payload[:start] + payload[end:]


def body_hash(event: EventEnvelope) -> str:
    """Hex digest identifying the event's content, ``reported_at`` excluded.

    Invariant under field order, under the UTC offset used to write a time, and under
    ``reported_at``; sensitive to every other value.
    """
    return _digest(_without_reported_at(canonical_json(event)))


def canonical_json_and_hash(event: EventEnvelope) -> tuple[str, str]:
    """``(canonical_json(event), body_hash(event))`` with a single encoding (the row
    builder's path)."""
    payload = canonical_json(event)
    return payload, _digest(_without_reported_at(payload))
