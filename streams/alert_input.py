"""The alert engine's input topic: what the ingest workers tell the one alert engine. Pure.

Roll-ups over several stations (country, border, all) must be exact with any number of
ingest workers, so one engine sees everything: the input topic has **one partition**, and
every ingest worker produces to it (docs/alerts.md, "The runtime"). Four kinds of record,
JSON objects told apart by ``"k"``:

``w`` — window rows
    ``{"k": "w", "rows": [[...], ...]}``: ``window_stats`` rows in table column order, times
    as epoch seconds. Produced with the windows' emission (the same rows as the table).
``s`` — station progress
    ``{"k": "s", "st": {station: [last_event_s, country, border, seqs, events]}}`` for the
    events of one ingest slice: the station's latest event time; ``seqs`` its
    ``[source_seq, occurred_at_s]`` pairs in arrival order; ``events`` ``[event_type,
    occurred_at_s, event_id]`` of the event types paired rules watch (seizures,
    incidents). Produced before the slice's offsets are committed, so at least once.
``p`` — partition progress
    ``{"k": "p", "parts": {partition: caught_up}, "at": now_s}``: which raw partitions a
    worker owns and whether it has processed everything fetched up to the high watermark.
    The engine declares silence (and other "nothing came" conditions) only while every raw
    partition was reported caught up recently.
``a`` — acknowledgement
    ``{"k": "a", "id": alert_id, "by": who, "comment": text, "at": now_s}`` from ``blo
    alerts ack``: the engine writes the acknowledged version (it owns the version count).

Keys are the kind (``b"w"``, …); they do not matter for a one-partition topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from sinks.base import Row
from sinks.tables import EVENTS, WINDOW_STATS

ROWS_PER_RECORD = 500
"""Window rows per input record (about 150 bytes each in JSON)."""

_W_TIMES = tuple(i for i, (_, t) in enumerate(WINDOW_STATS.columns) if t.startswith("DateTime"))
_E_STATION = EVENTS.index("station_id")
_E_TYPE = EVENTS.index("event_type")
_E_TIME = EVENTS.index("occurred_at")
_E_SEQ = EVENTS.index("source_seq")
_E_ID = EVENTS.index("event_id")
_E_COUNTRY = EVENTS.index("country")
_E_BORDER = EVENTS.index("border")


class BadInput(ValueError):
    """An input record the engine cannot use (logged and skipped, never fatal)."""


def _epoch(v: Any) -> Any:
    return int(v.timestamp()) if isinstance(v, datetime) else v


def window_input_records(rows: Sequence[Row]) -> list[tuple[bytes, bytes]]:
    """``window_stats`` rows → ``w`` records of at most :data:`ROWS_PER_RECORD` rows."""
    out = []
    for i in range(0, len(rows), ROWS_PER_RECORD):
        chunk = []
        for r in rows[i:i + ROWS_PER_RECORD]:
            lst = list(r)
            for j in _W_TIMES:
                lst[j] = _epoch(lst[j])
            chunk.append(lst)
        out.append((b"w", orjson.dumps({"k": "w", "rows": chunk})))
    return out


def station_progress_record(event_rows: Iterable[Row], paired_types: frozenset[str]
                            ) -> tuple[bytes, bytes] | None:
    """``events`` rows of one slice → one ``s`` record (``None`` when there are none)."""
    st: dict[str, list[Any]] = {}
    for r in event_rows:
        sid = r[_E_STATION]
        t = r[_E_TIME].timestamp()
        entry = st.get(sid)
        if entry is None:
            entry = st[sid] = [t, r[_E_COUNTRY], r[_E_BORDER], [], []]
        elif t > entry[0]:
            entry[0] = t
        entry[3].append((r[_E_SEQ], t))
        if r[_E_TYPE] in paired_types:
            entry[4].append((r[_E_TYPE], t, str(r[_E_ID])))
    if not st:
        return None
    return b"s", orjson.dumps({"k": "s", "st": st})


def partition_progress_record(parts: dict[int, bool], now_s: float) -> tuple[bytes, bytes]:
    return b"p", orjson.dumps({"k": "p", "parts": {str(p): c for p, c in parts.items()},
                                "at": now_s})


def ack_record(alert_id: UUID | str, who: str, comment: str, at_s: float
               ) -> tuple[bytes, bytes]:
    aid = str(alert_id if isinstance(alert_id, UUID) else UUID(str(alert_id)))
    if not who.strip():
        raise ValueError("an acknowledgement needs who made it")
    return b"a", orjson.dumps({"k": "a", "id": aid, "by": who, "comment": comment,
                                "at": at_s})


@dataclass(slots=True)
class StationProgress:
    station_id: str
    last_event_s: float
    country: str
    border: str
    seqs: list[tuple[int, float]]
    events: list[tuple[str, float, str]]


@dataclass(slots=True)
class Decoded:
    """One input record, decoded: exactly one of the fields is set (by kind)."""

    kind: str
    window_rows: list[tuple[Any, ...]] = field(default_factory=list)
    stations: list[StationProgress] = field(default_factory=list)
    parts: dict[int, bool] = field(default_factory=dict)
    at_s: float = 0.0
    ack: tuple[str, str, str] | None = None  # (alert id, who, comment)


def decode_input(value: bytes | None) -> Decoded:
    """Parse one input record; :class:`BadInput` with the reason when it is not one."""
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
            n = len(WINDOW_STATS.columns)
            if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != n
                                                 for r in rows):
                raise BadInput(f"window rows must be lists of {n} values")
            return Decoded("w", window_rows=[tuple(r) for r in rows])
        if kind == "s":
            out = []
            for sid, (last, country, border, seqs, events) in obj["st"].items():
                out.append(StationProgress(
                    str(sid), float(last), str(country), str(border),
                    [(int(q), float(t)) for q, t in seqs],
                    [(str(et), float(t), str(eid)) for et, t, eid in events]))
            return Decoded("s", stations=out)
        if kind == "p":
            return Decoded("p", parts={int(p): bool(c) for p, c in obj["parts"].items()},
                           at_s=float(obj["at"]))
        if kind == "a":
            aid = str(UUID(str(obj["id"])))
            return Decoded("a", ack=(aid, str(obj["by"]), str(obj.get("comment", ""))),
                           at_s=float(obj["at"]))
    except BadInput:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInput(f"malformed {kind!r} record: {type(e).__name__}: {e}") from None
    raise BadInput(f"unknown record kind {kind!r}")
