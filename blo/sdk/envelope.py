"""Complete and serialise one event: the envelope fields the SDK fills in.

Filled only when absent (missing or ``None``): ``event_id`` -- derived deterministically by
:func:`schemas.identity.derive_event_id` from ``(station_id, source_seq)``, so re-publishing
the same station record after a crash yields the same id and the pipeline keeps one copy;
``schema_version`` -- 1; ``reported_at`` -- now, UTC, RFC 3339. Everything else is passed
through untouched: the pipeline validates and dead-letters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import Mapping

import orjson
from pydantic import BaseModel

from blo.sdk.errors import InvalidEvent
from schemas.identity import derive_event_id

SCHEMA_VERSION = 1

Event = Mapping[str, object] | BaseModel
"""What :meth:`StationPublisher.publish` takes: a mapping or a pydantic model."""


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedEvent:
    station_id: str
    event_id: str
    payload: bytes  # UTF-8 JSON object


def _absent(event: Mapping[str, object], key: str) -> bool:
    return event.get(key) is None


def complete_event(event: Event, *, now: dt.datetime | None = None) -> dict[str, object]:
    """A copy of ``event`` with ``event_id``, ``schema_version`` and ``reported_at`` filled
    in when absent. Raises :class:`InvalidEvent` when ``station_id`` is missing, or when
    ``event_id`` must be derived and ``source_seq`` is not an integer >= 0."""
    if isinstance(event, BaseModel):
        out: dict[str, object] = event.model_dump(mode="json", by_alias=True)
    elif isinstance(event, Mapping):
        out = dict(event)
    else:
        raise InvalidEvent(f"an event is a mapping or a pydantic model, not {type(event)!r}")
    station_id = out.get("station_id")
    if not isinstance(station_id, str) or not station_id:
        raise InvalidEvent("the event has no station_id (a non-empty string)")
    if _absent(out, "event_id"):
        seq = out.get("source_seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise InvalidEvent(
                f"station {station_id}: no event_id given and source_seq={seq!r} is not an "
                "integer >= 0, so none can be derived"
            )
        out["event_id"] = str(derive_event_id(station_id, seq))
    if _absent(out, "schema_version"):
        out["schema_version"] = SCHEMA_VERSION
    if _absent(out, "reported_at"):
        out["reported_at"] = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
    return out


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError(f"naive datetime {value.isoformat()} (give a time zone offset)")
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_event(event: Event, *, now: dt.datetime | None = None) -> EncodedEvent:
    """:func:`complete_event`, then UTF-8 JSON. Raises :class:`InvalidEvent`."""
    out = complete_event(event, now=now)
    try:
        payload = orjson.dumps(out, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except orjson.JSONEncodeError as e:
        why = e.__cause__ if isinstance(e.__cause__, TypeError) else e
        raise InvalidEvent(
            f"station {out['station_id']}: cannot serialise the event: {why}"
        ) from None
    return EncodedEvent(str(out["station_id"]), str(out["event_id"]), payload)
