"""`blo dlq replay`'s choice of dead letters: by reason and station, each payload once,
nothing already stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from blo.replay import STORED, drop_stored, payload_body_hash, plan_replay, stored_hashes_queries
from schemas.identity import body_hash
from schemas.parse import parse_event
from streams.dead_letters import WITHHELD_NOTE, DeadLetter, dlq_message
from streams.stages.decode import SourcePos
from tests.unit.schemas.factories import make_event

NOW = datetime(2026, 12, 6, tzinfo=UTC)
_offsets = iter(range(10_000))


def letter(event: dict[str, Any], reason: str = "unknown_station", *,
           offset: int | None = None, details: tuple[str, ...] = ("no such station",),
           limit: int = 64 * 1024) -> bytes:
    """A DLQ topic value, as the stream writes it."""
    dl = DeadLetter(reasons=(reason,), details=details, payload=orjson.dumps(event),
                    source=SourcePos("raw", 0, next(_offsets) if offset is None else offset),
                    element_index=-1, failed_at=NOW, station_id=event["station_id"],
                    event_type=event["event_type"], event_id=event["event_id"])
    return dlq_message(dl, limit)[1]


def test_chooses_by_reason_and_station() -> None:
    a = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()))
    b = make_event(station_id="UZ-B", event_id=str(uuid.uuid4()))
    c = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()))
    values = [letter(a), letter(b), letter(c, "invalid")]
    plan = plan_replay(values, "unknown_station", ["UZ-A"])
    assert [(x.station_id, x.event_id) for x in plan.todo] == [("UZ-A", a["event_id"])]
    assert plan.todo[0].key == b"UZ-A" and orjson.loads(plan.todo[0].payload) == a
    assert len(plan_replay(values, None, ["UZ-A", "UZ-B"]).todo) == 3
    assert len(plan_replay(values, "unknown_station", []).todo) == 2


def test_each_payload_once_however_often_it_was_dead_lettered() -> None:
    e = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()))
    same_id = letter(e, offset=5)
    # written twice (a redelivery), then dead-lettered again at a new position (a replay
    # before the station was registered)
    plan = plan_replay([same_id, same_id, letter(e, offset=9)], "unknown_station")
    assert len(plan.todo) == 1 and not plan.skipped


def test_what_cannot_be_replayed_is_counted_by_why() -> None:
    e = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()))
    plan = plan_replay([letter(e, limit=64), letter(e, details=("x", WITHHELD_NOTE))],
                       "unknown_station")
    assert plan.todo == []
    redacted = "personal data redacted: the station must send it again, corrected"
    assert sorted(plan.skipped) == [redacted, "truncated or not UTF-8"]


def test_events_stored_with_the_same_body_are_skipped_and_others_kept() -> None:
    stored_e = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()).upper())
    other_body = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()), persons=7)
    new = make_event(station_id="UZ-A", event_id=str(uuid.uuid4()))
    plan = plan_replay([letter(stored_e), letter(other_body), letter(new)], "unknown_station")
    h = body_hash(parse_event(stored_e, now=NOW, max_future_skew=timedelta(days=36500)))
    assert payload_body_hash(plan.todo[0].payload) == h
    stored = {str(uuid.UUID(stored_e["event_id"])): {h},
              other_body["event_id"]: {"another body's hash"}}
    drop_stored(plan, stored)
    assert [x.event_id for x in plan.todo] == [other_body["event_id"], new["event_id"]]
    assert plan.skipped == {STORED: 1}


def test_stored_lookups_go_by_station_in_chunks() -> None:
    events = [make_event(station_id="UZ-A", event_id=str(uuid.uuid4())) for _ in range(1001)]
    events.append(make_event(station_id="UZ-B", event_id=str(uuid.uuid4())))
    queries = stored_hashes_queries("blo", plan_replay([letter(e) for e in events], None))
    assert len(queries) == 3
    assert all("FROM blo.events WHERE station_id = " in q for q in queries)
    assert queries[0].count("toUUID(") == 1000 and queries[1].count("toUUID(") == 1
    assert "'UZ-B'" in queries[2]


def test_a_payload_that_is_not_an_event_has_no_hash() -> None:
    assert payload_body_hash(b"garbage {") is None
    assert payload_body_hash(b'{"event_type": "crossing"}') is None


def test_a_dead_lettered_station_record_is_not_replayed_onto_the_event_topic() -> None:
    import orjson

    from blo.replay import plan_replay

    letter = {"dlq_id": "s1", "reason": "invalid_station_record", "station_id": "KZ-X",
              "payload": '{"station_id": "KZ-X"}', "payload_truncated": False,
              "payload_encoding": "utf-8", "payload_sha256": "ab", "details": ""}
    plan = plan_replay([orjson.dumps(letter)], None)
    assert plan.todo == []
    assert sum(plan.skipped.values()) == 1
    assert "blo stations load" in next(iter(plan.skipped))
