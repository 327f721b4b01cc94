"""The alert input topic's records: what the ingest workers (and ``blo alerts ack``, the
API) tell the one alert engine. Pure data, with its JSON form.

Roll-ups over several stations (country, border, all) must be exact with any number of
ingest workers, so one engine sees everything: the input topic has **one partition**, and
every ingest worker produces to it (docs/alerts.md, "The runtime"). Five kinds of record,
JSON objects told apart by ``"k"``; :func:`encode` and :func:`decode` are the two sides:

``w`` — :class:`WindowRows`
    ``{"k": "w", "rows": [[...], ...]}``: ``window_stats`` rows in table column order, times
    as epoch seconds. Produced with the windows' emission (the same rows as the table).
``s`` — :class:`StationsProgress`
    ``{"k": "s", "st": {station: [last_event_s, country, border, seqs, events]}}`` for the
    events of one ingest slice: the station's latest event time; ``seqs`` its
    ``[source_seq, occurred_at_s]`` pairs in arrival order; ``events`` ``[event_type,
    occurred_at_s, event_id]`` of the event types paired rules watch (seizures,
    incidents). Produced before the slice's offsets are committed, so at least once.
    ``"at"`` (optional): when the slice was processed (its events' ``ingested_at``), so the
    engine tells an import or backfill from live input (:mod:`streams.alerts.history`);
    absent in records of earlier versions: live.
``p`` — :class:`PartitionProgress`
    ``{"k": "p", "parts": {partition: caught_up}, "at": now_s}``: which raw partitions a
    worker owns and whether it has processed everything fetched up to the high watermark.
    The engine declares silence (and other "nothing came" conditions) only while every raw
    partition was reported caught up recently.
``a`` — :class:`Acknowledgement`
    ``{"k": "a", "id": alert_id, "by": who, "comment": text, "at": now_s}`` from ``blo
    alerts ack``: the engine writes the acknowledged version (it owns the version count).
``m`` — :class:`MuteRequest`
    ``{"k": "m", "id": mute_id, "op": "create"|"expire", "rule": rule_id, "scope": key,
    "for": seconds, "reason": text, "by": who, "at": now_s}`` from ``blo alerts mute`` /
    ``unmute`` and the API: the engine writes the mute's version (``alert_mutes``) and stops
    notifying the alerts it matches (docs/alerts.md, "Mutes").

Keys are the kind (``b"w"``, …); they do not matter for a one-partition topic. Records are
decoded by hand, not by a validating model: the engine reads thousands of them a second and
a bad one is only skipped (:class:`BadInput`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

import orjson


class BadInput(ValueError):
    """An input record the engine cannot use (logged and skipped, never fatal)."""


@dataclass(slots=True)
class WindowRows:
    """``w``: ``window_stats`` rows in table column order, times as epoch seconds."""

    KIND: ClassVar[str] = "w"
    rows: list[tuple[Any, ...]]


@dataclass(slots=True)
class StationProgress:
    """One station's part of an ``s`` record."""

    station_id: str
    last_event_s: float
    country: str
    border: str
    seqs: list[tuple[int, float]] = field(default_factory=list)
    """``(source_seq, occurred_at_s)`` in arrival order."""
    events: list[tuple[str, float, str]] = field(default_factory=list)
    """``(event_type, occurred_at_s, event_id)`` of the types paired rules watch."""


@dataclass(slots=True)
class StationsProgress:
    """``s``: the stations of one ingest slice, processed at ``at_s`` (None: unknown)."""

    KIND: ClassVar[str] = "s"
    stations: list[StationProgress]
    at_s: float | None = None


@dataclass(slots=True)
class PartitionProgress:
    """``p``: raw partition → caught up, as one worker saw it at ``at_s``."""

    KIND: ClassVar[str] = "p"
    parts: dict[int, bool]
    at_s: float


@dataclass(slots=True)
class Acknowledgement:
    """``a``: ``by`` acknowledged alert ``alert_id`` (a UUID's text) at ``at_s``."""

    KIND: ClassVar[str] = "a"
    alert_id: str
    by: str
    comment: str
    at_s: float

    @classmethod
    def of(cls, alert_id: UUID | str, by: str, comment: str, at_s: float) -> Acknowledgement:
        """Checked: ``alert_id`` a UUID, ``by`` not blank (``ValueError`` otherwise)."""
        aid = str(alert_id if isinstance(alert_id, UUID) else UUID(str(alert_id)))
        if not by.strip():
            raise ValueError("an acknowledgement needs who made it")
        return cls(aid, by, comment, at_s)


@dataclass(slots=True)
class MuteRequest:
    """``m``: create mute ``mute_id`` (``rule_id`` and/or ``scope_key``, ``'' `` for any;
    for ``for_s`` seconds from ``at_s``, with ``reason``), or expire it now (``op``
    ``expire``: the other fields are not used)."""

    KIND: ClassVar[str] = "m"
    mute_id: str
    op: str  # create | expire
    rule_id: str
    scope_key: str
    for_s: float
    reason: str
    by: str
    at_s: float


AlertInput = (WindowRows | StationsProgress | PartitionProgress | Acknowledgement
              | MuteRequest)


def encode(record: AlertInput) -> tuple[bytes, bytes]:
    """``(key, value)`` of the Kafka record carrying ``record``."""
    body: dict[str, Any]
    match record:
        case WindowRows(rows=rows):
            body = {"k": "w", "rows": rows}
        case StationsProgress(stations=stations, at_s=at_s):
            body = {"k": "s", "st": {p.station_id: [p.last_event_s, p.country, p.border,
                                                    p.seqs, p.events] for p in stations}}
            if at_s is not None:
                body["at"] = at_s
        case PartitionProgress(parts=parts, at_s=at_s):
            body = {"k": "p", "parts": {str(p): c for p, c in parts.items()}, "at": at_s}
        case Acknowledgement(alert_id=aid, by=by, comment=comment, at_s=at_s):
            body = {"k": "a", "id": aid, "by": by, "comment": comment, "at": at_s}
        case MuteRequest():
            body = {"k": "m", "id": record.mute_id, "op": record.op, "rule": record.rule_id,
                    "scope": record.scope_key, "for": record.for_s, "reason": record.reason,
                    "by": record.by, "at": record.at_s}
    return record.KIND.encode(), orjson.dumps(body)


def partition_progress_record(parts: dict[int, bool], now_s: float) -> tuple[bytes, bytes]:
    """The record of a worker's partition progress (:class:`PartitionProgress`)."""
    return encode(PartitionProgress(dict(parts), now_s))


def ack_record(alert_id: UUID | str, who: str, comment: str, at_s: float
               ) -> tuple[bytes, bytes]:
    """The record of an acknowledgement (:meth:`Acknowledgement.of`, then :func:`encode`)."""
    return encode(Acknowledgement.of(alert_id, who, comment, at_s))


def mute_record(request: MuteRequest) -> tuple[bytes, bytes]:
    """The record of a mute's creation or expiry (:class:`MuteRequest`)."""
    if request.op not in ("create", "expire"):
        raise ValueError(f"unknown mute operation {request.op!r}")
    str(UUID(request.mute_id))
    if not request.by.strip():
        raise ValueError("a mute needs who made it")
    return encode(request)


def decode(value: bytes | None, *, window_row_width: int) -> AlertInput:
    """Parse one input record; :class:`BadInput` with the reason when it is not one.
    ``window_row_width``: the number of ``window_stats`` columns (every ``w`` row has it)."""
    try:
        obj = orjson.loads(value or b"")
    except orjson.JSONDecodeError as e:
        raise BadInput(f"not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise BadInput("not a JSON object")
    kind = obj.get("k")
    try:
        if kind == "w":
            rows = obj["rows"]
            n = window_row_width
            if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != n
                                                 for r in rows):
                raise BadInput(f"window rows must be lists of {n} values")
            return WindowRows([tuple(r) for r in rows])
        if kind == "s":
            out = []
            for sid, (last, country, border, seqs, events) in obj["st"].items():
                out.append(StationProgress(
                    str(sid), float(last), str(country), str(border),
                    [(int(q), float(t)) for q, t in seqs],
                    [(str(et), float(t), str(eid)) for et, t, eid in events]))
            at = obj.get("at")
            return StationsProgress(out, None if at is None else float(at))
        if kind == "p":
            return PartitionProgress({int(p): bool(c) for p, c in obj["parts"].items()},
                                     float(obj["at"]))
        if kind == "a":
            return Acknowledgement(str(UUID(str(obj["id"]))), str(obj["by"]),
                                   str(obj.get("comment", "")), float(obj["at"]))
        if kind == "m":
            op = str(obj["op"])
            if op not in ("create", "expire"):
                raise BadInput(f"unknown mute operation {op!r}")
            return MuteRequest(str(UUID(str(obj["id"]))), op, str(obj.get("rule", "")),
                               str(obj.get("scope", "")), float(obj.get("for", 0)),
                               str(obj.get("reason", "")), str(obj["by"]), float(obj["at"]))
    except BadInput:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInput(f"malformed {kind!r} record: {type(e).__name__}: {e}") from None
    raise BadInput(f"unknown record kind {kind!r}")
