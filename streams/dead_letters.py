"""Dead letters as data. Pure.

A :class:`DeadLetter` keeps everything needed to understand and replay a failure: every
reason, the payload (truncated past a limit, with its full size and SHA-256), where it came
from (topic/partition/offset and the element index inside a batched record), and the
station/event ids when they were readable. It becomes one ``dlq`` row and one record on the
DLQ topic. ``dlq_id`` is derived from the source position, so a redelivered bad record
produces the same id (one row in the readers' view).

Personal data is never kept: an event refused for fields its schema does not have (where a
name would be: :attr:`schemas.parse.EventRejected.withheld`) is dead-lettered with the values
of those fields replaced by :data:`REDACTED` (:func:`withhold`), its reasons and field names
intact. The payload's size and SHA-256 are those of the redacted payload, so neither can be
used to confirm a guessed name. Such an event cannot be replayed: the station must correct it
and send it again.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import orjson

from schemas.parse import KEY, Path
from sinks.base import Row
from streams.stages.decode import SourcePos

REDACTED = "[redacted: not in the schema, may be personal data]"
WITHHELD_NOTE = ("payload: the values of fields the schema does not have are redacted (personal "
                 "data is never stored); the station must correct the event and send it again")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reasons: tuple[str, ...]
    details: tuple[str, ...]
    payload: bytes
    source: SourcePos
    element_index: int  # -1: the whole record
    failed_at: datetime
    station_id: str = ""
    event_type: str = ""
    event_id: str = ""

    @property
    def reason(self) -> str:
        return self.reasons[0]

    @property
    def dlq_id(self) -> str:
        s = self.source
        key = f"{s.topic}/{s.partition}/{s.offset}/{self.element_index}".encode()
        return hashlib.sha256(key).hexdigest()[:32]


def describe_element(obj: object) -> tuple[str, str, str]:
    """Best-effort (station_id, event_type, event_id) of an element that failed validation."""
    if not isinstance(obj, dict):
        return "", "", ""

    def field(name: str) -> str:
        v = obj.get(name)
        return v[:64] if isinstance(v, str) else ""

    return field("station_id"), field("event_type"), field("event_id")


def withhold(obj: object, paths: Iterable[Path]) -> bytes:
    """The JSON of ``obj`` (a decoded event) with the value at each path replaced by
    :data:`REDACTED`; a path ending in ``[key]`` renames that mapping key instead (the key
    itself was the input). A path that leads nowhere in ``obj`` redacts the deepest part it
    reaches: what cannot be found is not kept."""
    renamed = [0]
    for path in paths:
        obj = _redact(obj, path, renamed)
    return orjson.dumps(obj)


def _redact(node: object, path: Path, renamed: list[int]) -> object:
    if not path:
        return REDACTED
    head, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(head, str) and head in node:
        if rest == (KEY,):
            renamed[0] += 1
            new = f"[redacted key {renamed[0]}]"
            return {(new if k == head else k): v for k, v in node.items()}
        return {k: (_redact(v, rest, renamed) if k == head else v) for k, v in node.items()}
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        return [(_redact(v, rest, renamed) if i == head else v) for i, v in enumerate(node)]
    return REDACTED


def _payload_text(payload: bytes, limit: int) -> tuple[str, str, bool]:
    truncated = len(payload) > limit
    cut = payload[:limit]
    try:
        return cut.decode("utf-8"), "utf-8", truncated
    except UnicodeDecodeError as e:
        if truncated and e.start >= len(cut) - 3:  # a UTF-8 sequence cut by the limit
            try:
                return cut[: e.start].decode("utf-8"), "utf-8", truncated
            except UnicodeDecodeError:
                pass
        return base64.b64encode(cut).decode("ascii"), "base64", truncated


def dlq_row(dl: DeadLetter, payload_limit: int) -> Row:
    """One row of :data:`sinks.tables.DLQ`."""
    text, encoding, truncated = _payload_text(dl.payload, payload_limit)
    return (
        dl.dlq_id,
        dl.failed_at,
        dl.reason,
        list(dl.reasons),
        "\n".join(dl.details),
        dl.station_id,
        dl.event_type,
        dl.event_id,
        dl.source.topic,
        dl.source.partition,
        dl.source.offset,
        dl.element_index,
        text,
        encoding,
        len(dl.payload),
        hashlib.sha256(dl.payload).hexdigest(),
        1 if truncated else 0,
    )


def dlq_message(dl: DeadLetter, payload_limit: int) -> tuple[bytes, bytes]:
    """(key, value) of the DLQ topic record: JSON with the same fields as the table."""
    text, encoding, truncated = _payload_text(dl.payload, payload_limit)
    value = {
        "dlq_id": dl.dlq_id,
        "failed_at": dl.failed_at.isoformat(),
        "reason": dl.reason,
        "reasons": list(dl.reasons),
        "details": list(dl.details),
        "station_id": dl.station_id,
        "event_type": dl.event_type,
        "event_id": dl.event_id,
        "source": {
            "topic": dl.source.topic,
            "partition": dl.source.partition,
            "offset": dl.source.offset,
            "element_index": dl.element_index,
        },
        "payload": text,
        "payload_encoding": encoding,
        "payload_size": len(dl.payload),
        "payload_sha256": hashlib.sha256(dl.payload).hexdigest(),
        "payload_truncated": truncated,
    }
    return dl.station_id.encode(), orjson.dumps(value)
