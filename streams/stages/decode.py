"""Stage 1, decode: Kafka record bytes → candidate event objects. Pure.

A record value is UTF-8 JSON: one event object, or an array of event objects (a batched
record). Failures that concern the whole record (too large, not UTF-8, not JSON, neither an
object nor an array, an empty array) are returned as a :class:`RecordProblem`; the elements of
a well-formed array are validated one by one later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SourcePos:
    """Where a record came from."""

    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class RawRecord:
    """One Kafka record. ``handle`` is opaque to the stages (what the runtime acknowledges).

    ``held_since`` and ``n_events`` are the processor's: when the record was first held
    for an unknown station, and how many events it holds once decoded."""

    value: bytes | None
    source: SourcePos
    handle: Any = None
    held_since: datetime | None = None
    n_events: int = 1


@dataclass(frozen=True, slots=True)
class RecordProblem:
    code: str  # not_utf8 | not_json | not_an_event | too_large
    message: str


def decode_record(value: bytes | None, max_bytes: int) -> list[object] | RecordProblem:
    """Return the list of candidate events in a record, or why the record is unusable."""
    if value is None:
        return RecordProblem("not_an_event", "record has no value (null)")
    size = len(value)
    if size > max_bytes:
        return RecordProblem(
            "too_large", f"record is {size} bytes, over the limit of {max_bytes} bytes"
        )
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as ue:
            return RecordProblem("not_utf8", f"payload is not UTF-8: {ue.reason} at byte {ue.start}")
        return RecordProblem("not_json", f"payload is not JSON: {e}")
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            return RecordProblem("not_an_event", "record is an empty JSON array")
        return doc
    return RecordProblem(
        "not_an_event",
        f"record is a JSON {type(doc).__name__}, expected an event object or an array of them",
    )
