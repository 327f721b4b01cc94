"""`blo dlq replay`: which dead letters go back to the raw topic, exactly once.

Dead letters are read from the DLQ topic (every record of it: :func:`plan_replay` is pure),
chosen by reason and station, and re-published as their payload under their station's key.
Replaying is exactly once in the readers' view, and a second replay publishes nothing again:

* the same dead letter (one ``dlq_id``, written again on redelivery) is taken once, and so
  is the same payload dead-lettered several times (a replay that failed again: its new dead
  letters carry the same payload under new ids);
* a payload whose event is already stored — its ``event_id`` in ``events`` with the same
  body hash (:func:`schemas.identity.body_hash`, what the stream compares) — is skipped
  (:func:`drop_stored`): a second replay after the first one landed publishes none;
* what is re-published anyway (two replays before the worker stored the first) is a
  redelivery to the stream: the same ``event_id`` and body is one row in ``events FINAL``
  and is not counted again in the windows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from schemas.identity import body_hash
from schemas.parse import EventRejected, parse_event
from sinks.sql import check_identifier, quote
from streams.dead_letters import WITHHELD_NOTE
from streams.registry_reader import INVALID_STATION_RECORD

STORED = "already stored: the event with this id and body is in events"
IDS_PER_QUERY = 1000  # toUUID literals per query, well under max_query_size


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter to re-publish."""

    station_id: str
    event_id: str
    payload: bytes

    @property
    def key(self) -> bytes | None:
        return self.station_id.encode() or None


@dataclass(slots=True)
class ReplayPlan:
    todo: list[Letter] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def plan_replay(records: Iterable[bytes], reason: str | None,
                stations: Iterable[str] = ()) -> ReplayPlan:
    """The dead letters (DLQ topic values) to re-publish: of ``reason`` (None: every reason)
    and of ``stations`` (empty: every station), each payload once, with what cannot be
    replayed counted by why."""
    wanted = set(stations)
    plan = ReplayPlan()
    seen_ids: set[str] = set()
    seen_payloads: set[str] = set()
    for value in records:
        d: dict[str, Any] = orjson.loads(value)
        if d["dlq_id"] in seen_ids:
            continue
        seen_ids.add(d["dlq_id"])
        if (reason and d["reason"] != reason) or (wanted and d["station_id"] not in wanted):
            continue
        if d["reason"] == INVALID_STATION_RECORD:  # not an event: the raw topic would refuse it
            plan.skipped["a station record: correct it and send it with `blo stations load`"] += 1
            continue
        if d["payload_truncated"] or d["payload_encoding"] != "utf-8":
            plan.skipped["truncated or not UTF-8"] += 1
            continue
        if WITHHELD_NOTE in d.get("details", ()):
            plan.skipped["personal data redacted: the station must send it again, "
                         "corrected"] += 1
            continue
        if d["payload_sha256"] in seen_payloads:
            continue  # the same payload dead-lettered again (a replay that failed again)
        seen_payloads.add(d["payload_sha256"])
        plan.todo.append(Letter(d["station_id"], d.get("event_id") or "",
                                d["payload"].encode()))
    return plan


def payload_body_hash(payload: bytes) -> str | None:
    """The body hash the stream would store for this payload (one event object), or None
    when it is not one valid event (then it is replayed and judged by the stream again)."""
    try:
        obj = orjson.loads(payload)
        event = parse_event(obj, now=datetime.now(UTC), max_future_skew=timedelta(days=36500))
    except (orjson.JSONDecodeError, EventRejected):
        return None
    return body_hash(event)


def stored_hashes_queries(database: str, plan: ReplayPlan) -> list[str]:
    """The queries of ``(event_id as text, body_hash)`` stored for the plan's event ids, by
    station (the primary key's first column) and in chunks of :data:`IDS_PER_QUERY`."""
    by_station: dict[str, list[UUID]] = {}
    for letter in plan.todo:
        try:
            by_station.setdefault(letter.station_id, []).append(UUID(letter.event_id))
        except ValueError:
            continue  # no valid id: cannot be stored
    db = check_identifier(database)
    out = []
    for sid, ids in sorted(by_station.items()):
        for i in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[i:i + IDS_PER_QUERY]
            out.append(f"SELECT toString(event_id), body_hash FROM {db}.events "
                       f"WHERE station_id = {quote(sid)} AND event_id IN {quote(tuple(chunk))}")
    return out


def drop_stored(plan: ReplayPlan, stored: Mapping[str, set[str]]) -> None:
    """Move the letters whose event is stored with the same body (``stored``: the body
    hashes by event id) from ``todo`` to ``skipped``."""
    keep = []
    for letter in plan.todo:
        try:
            hashes = stored.get(str(UUID(letter.event_id)))
        except ValueError:
            hashes = None
        if hashes and payload_body_hash(letter.payload) in hashes:
            plan.skipped[STORED] += 1
        else:
            keep.append(letter)
    plan.todo = keep
