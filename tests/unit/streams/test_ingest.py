"""The pure ingest step: records → enriched rows, dead letters and holds.

A real :class:`schemas.station.Registry`, a fake ``lookup_hashes`` (the stored hashes in
ClickHouse). Expected values come from the test's own station table and event dicts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from schemas.parse import parse_valid_json
from schemas.station import Registry, StationRecord
from sinks.tables import EVENTS
from streams.ingest import BatchOutcome, IngestPolicy, IngestProcessor, RawRecord
from streams.stages.decode import SourcePos
from tests.unit.schemas.factories import make_event

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TOPIC = "raw"
HOLD = timedelta(seconds=30)

# station id → (country, neighbour, agency, crossing point, paired BLO, lat, lon, tz)
STATIONS: dict[str, tuple[str, str, str, str, str | None, float, float, str]] = {
    "KZ-KORDAI": ("KZ", "KG", "border_guard", "Kordai", "KG-AK-JOL", 43.0, 74.7, "Asia/Almaty"),
    "KG-AK-JOL": ("KG", "KZ", "customs", "Ak-Jol", "KZ-KORDAI", 42.9, 74.6, "Asia/Bishkek"),
    "TJ-PYANJ": ("TJ", "AF", "joint", "Nizhniy Pyanj", None, 37.2, 68.6, "Asia/Dushanbe"),
}


def station(station_id: str, valid_from: str = "2018-01-01T00:00:00Z",
            **overrides: Any) -> StationRecord:
    country, neighbour, agency, crossing, paired, lat, lon, tz = STATIONS.get(
        station_id, ("UZ", "TJ", "police", "New post", None, 41.0, 69.0, "Asia/Tashkent"))
    d: dict[str, Any] = {
        "station_id": station_id, "name": station_id.title(), "country": country,
        "agency": agency, "crossing_point": crossing, "neighbour_country": neighbour,
        "paired_blo": paired, "lat": lat, "lon": lon, "tz": tz, "coord_source": "test",
        "coord_approximate": True, "valid_from": valid_from, "active": True,
    }
    d.update(overrides)
    return StationRecord.model_validate(d)


def registry() -> Registry:
    return Registry(station(s) for s in STATIONS)


def processor(reg: Registry | None = None, **policy: Any) -> IngestProcessor:
    base: dict[str, Any] = {
        "max_record_bytes": 64 * 1024, "max_future_skew": timedelta(minutes=5),
        "hold_for": HOLD, "hold_max_events": 100, "hold_max_events_per_station": 100,
        "tablet_mass_mg": 250.0,
        "conflict_cache_size": 1000,
    }
    base.update(policy)
    return IngestProcessor(reg or registry(), IngestPolicy(**base))


_seq = itertools.count(1)
_offsets = itertools.count(0)


def event(station_id: str = "KZ-KORDAI", event_type: str = "crossing",
          **overrides: Any) -> dict[str, Any]:
    seq = next(_seq)
    base = {"station_id": station_id, "source_seq": seq, "event_id": str(uuid.uuid4())}
    if event_type == "liaison_message":
        base["from_blo"] = station_id
    base.update(overrides)
    return make_event(event_type, **base)


def record(value: Any, partition: int = 0) -> RawRecord:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return RawRecord(raw, SourcePos(TOPIC, partition, next(_offsets)))


class FakeStore:
    """``lookup_hashes`` over a dict of stored hashes; remembers what it was asked."""

    def __init__(self, stored: dict[UUID, str] | None = None) -> None:
        self.stored = dict(stored or {})
        self.asked: list[UUID] = []

    async def __call__(self, stations: Sequence[str], ids: Sequence[UUID]) -> dict[UUID, str]:
        self.asked.extend(ids)
        return {i: self.stored[i] for i in ids if i in self.stored}


def run(proc: IngestProcessor, records: Iterable[RawRecord], now: datetime = NOW,
        store: FakeStore | None = None) -> BatchOutcome:
    """What the runtime does: prepare, look up the plan's missing ids, finish."""
    plan = proc.prepare(list(records), now)
    found = asyncio.run((store or FakeStore())(plan.stations, plan.missing)) \
        if plan.missing else {}
    return proc.finish(plan, found)


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(EVENTS.column_names, row, strict=True))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def reasons(out: BatchOutcome) -> list[str]:
    return [d.reason for d in out.dead_letters]


# -- valid events ------------------------------------------------------------------------
def test_valid_events_become_rows_enriched_from_the_registry() -> None:
    events = [event("KZ-KORDAI", "crossing", persons=4),
              event("TJ-PYANJ", "seizure", quantity=2.5, unit="kg"),
              event("KG-AK-JOL", "count_report", value=77)]
    recs = [record(e, partition=i) for i, e in enumerate(events)]
    out = run(processor(), recs)

    assert out.dead_letters == [] and out.held == []
    assert out.done == recs
    assert out.events_seen == 3
    assert out.accepted_by_type == {"crossing": 1, "seizure": 1, "count_report": 1}
    assert len(out.event_rows) == 3
    for e, rec, row in zip(events, recs, out.event_rows, strict=True):
        r = as_dict(row)
        country, neighbour, agency, crossing, paired, lat, lon, tz = STATIONS[e["station_id"]]
        assert r["event_id"] == UUID(e["event_id"])
        assert (r["event_type"], r["station_id"], r["source_seq"]) == (
            e["event_type"], e["station_id"], e["source_seq"])
        assert r["occurred_at"] == utc(e["occurred_at"])
        assert r["reported_at"] == utc(e["reported_at"])
        assert r["ingested_at"] == NOW
        assert (r["country"], r["neighbour_country"], r["agency"]) == (country, neighbour, agency)
        assert r["crossing_point"] == crossing
        assert r["border"] == "-".join(sorted((country, neighbour)))
        assert r["paired_blo"] == (paired or "")
        assert (r["lat"], r["lon"], r["station_tz"]) == (lat, lon, tz)
        assert (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) == (
            TOPIC, rec.source.partition, rec.source.offset)
        stored = json.loads(r["payload"])
        assert stored["event_id"] == e["event_id"] and stored["station_id"] == e["station_id"]
        assert len(r["body_hash"]) == 32
    rows = {as_dict(r)["event_type"]: as_dict(r) for r in out.event_rows}
    assert rows["crossing"]["persons"] == 4
    assert rows["seizure"]["quantity_kg"] == pytest.approx(2.5)
    assert rows["count_report"]["value"] == 77.0
    assert out.newest_by_station == {e["station_id"]: utc(e["occurred_at"]) for e in events}


def test_a_record_that_is_not_json_is_one_dead_letter_for_the_whole_record() -> None:
    rec = record(b'{"event_type": "crossing", "station_')
    out = run(processor(), [rec])
    assert reasons(out) == ["not_json"]
    dl = out.dead_letters[0]
    assert dl.element_index == -1 and dl.payload == rec.value and dl.source == rec.source
    assert out.done == [rec] and out.event_rows == []


# -- batched records ---------------------------------------------------------------------
def test_each_element_of_a_batched_record_is_validated_on_its_own() -> None:
    good1, good2 = event(persons=1), event(persons=2)
    bad = event(persons=-1)
    rec = record([good1, bad, good2])
    out = run(processor(), [rec])

    assert [as_dict(r)["event_id"] for r in out.event_rows] == [
        UUID(good1["event_id"]), UUID(good2["event_id"])]
    assert reasons(out) == ["invalid"]
    dl = out.dead_letters[0]
    assert dl.element_index == 1
    assert json.loads(dl.payload) == bad  # the element, not the whole record
    assert dl.source == rec.source and dl.event_id == bad["event_id"]
    assert any("persons" in d for d in dl.details)
    assert out.done == [rec] and out.events_seen == 3
    assert all(as_dict(r)["kafka_offset"] == rec.source.offset for r in out.event_rows)


# -- holds -------------------------------------------------------------------------------
def test_unknown_station_is_held_then_released_once_the_station_is_registered() -> None:
    reg = registry()
    proc = processor(reg)
    ok = record(event("KZ-KORDAI"))
    held = record(event("UZ-NEW", persons=5))
    out = run(proc, [ok, held])

    assert out.done == [ok] and out.held == [held]
    assert len(out.event_rows) == 1 and out.dead_letters == []
    assert proc.held_events == 1
    assert proc.due_holds(NOW + timedelta(seconds=5)) == []  # still unknown, not expired
    assert proc.held_events == 1

    reg.upsert(station("UZ-NEW"))
    due = proc.due_holds(NOW + timedelta(seconds=6))
    assert due == [held] and proc.held_events == 0
    out2 = run(proc, due, now=NOW + timedelta(seconds=6))
    assert out2.done == [held] and out2.dead_letters == []
    r = as_dict(out2.event_rows[0])
    assert (r["station_id"], r["country"], r["persons"]) == ("UZ-NEW", "UZ", 5)
    assert r["border"] == "TJ-UZ"


def test_a_held_batch_keeps_its_bad_elements_until_release() -> None:
    reg = registry()
    proc = processor(reg)
    good, bad = event("UZ-NEW"), event("UZ-NEW", persons=-3)
    rec = record([good, bad])
    out = run(proc, [rec])
    assert out.held == [rec] and out.dead_letters == [] and out.done == []
    assert out.events_seen == 0 and proc.held_events == 2

    reg.upsert(station("UZ-NEW"))
    out2 = run(proc, proc.due_holds(NOW), now=NOW)
    assert [as_dict(r)["event_id"] for r in out2.event_rows] == [UUID(good["event_id"])]
    assert [(d.reason, d.element_index) for d in out2.dead_letters] == [("invalid", 1)]
    assert out2.done == [rec]


def test_a_batch_of_two_unknown_stations_waits_for_both() -> None:
    reg = registry()
    proc = processor(reg)
    rec = record([event("UZ-A"), event("UZ-B")])
    assert run(proc, [rec]).held == [rec]
    reg.upsert(station("UZ-A"))
    assert proc.due_holds(NOW + timedelta(seconds=1)) == [] and proc.held_events == 2
    reg.upsert(station("UZ-B"))
    due = proc.due_holds(NOW + timedelta(seconds=2))
    assert due == [rec]
    out = run(proc, due)
    assert [as_dict(r)["station_id"] for r in out.event_rows] == ["UZ-A", "UZ-B"]


def test_an_expired_hold_becomes_an_unknown_station_dead_letter() -> None:
    proc = processor()
    e = event("UZ-GHOST")
    rec = record(e)
    assert run(proc, [rec]).held == [rec]
    assert proc.due_holds(NOW + HOLD - timedelta(seconds=1)) == []
    due = proc.due_holds(NOW + HOLD)
    assert due == [rec]
    out = run(proc, due, now=NOW + HOLD)
    assert reasons(out) == ["unknown_station"]
    dl = out.dead_letters[0]
    assert dl.station_id == "UZ-GHOST" and dl.payload == rec.value
    assert "UZ-GHOST" in dl.details[0]
    assert out.done == [rec] and out.held == [] and proc.held_events == 0


def test_holds_are_bounded_by_events_and_the_overflow_is_dead_lettered() -> None:
    proc = processor(hold_max_events=3)
    batch = record([event("UZ-A"), event("UZ-A")])
    single = record(event("UZ-B"))
    overflow = record(event("UZ-C"))
    out = run(proc, [batch, single, overflow])
    assert out.held == [batch, single]
    assert proc.held_events == 3
    assert reasons(out) == ["unknown_station"]
    assert out.dead_letters[0].station_id == "UZ-C"
    assert out.done == [overflow]


def test_one_unknown_station_cannot_take_the_hold_budget_of_the_others() -> None:
    proc = processor(hold_max_events=10, hold_max_events_per_station=4)
    flood = [record([event("UZ-FLOOD"), event("UZ-FLOOD")]) for _ in range(4)]
    late = record(event("UZ-LATE"))
    out = run(proc, [*flood, late])
    assert out.held == [flood[0], flood[1], late]  # 4 events of UZ-FLOOD, then its budget
    assert proc.held_events == 5
    assert reasons(out) == ["unknown_station"] * 4  # the flood's overflow, at once
    assert {d.station_id for d in out.dead_letters} == {"UZ-FLOOD"}
    assert out.done == flood[2:]
    # the flood's expired holds free its budget again (and are dead-lettered then)
    due = proc.due_holds(NOW + HOLD)
    assert due == [flood[0], flood[1], late] and proc.held_events == 0
    again = record(event("UZ-FLOOD"))
    assert run(proc, [again], now=NOW + HOLD).held == [again]


def test_release_all_holds_returns_them_unacknowledged() -> None:
    proc = processor()
    rec = record(event("UZ-X"))
    run(proc, [rec])
    assert proc.release_all_holds() == [rec]
    assert proc.held_events == 0 and proc.due_holds(NOW + HOLD) == []


# -- id conflicts ------------------------------------------------------------------------
def test_same_id_with_another_body_in_the_same_batch_is_a_conflict() -> None:
    first = event(persons=1)
    other = {**first, "persons": 9}
    out = run(processor(), [record(first), record(other)])
    assert [as_dict(r)["persons"] for r in out.event_rows] == [1]
    assert reasons(out) == ["id_conflict"]
    assert out.dead_letters[0].event_id == first["event_id"]
    assert first["event_id"] in out.dead_letters[0].details[0]


def test_same_id_with_another_body_in_a_later_batch_is_a_conflict_from_the_cache() -> None:
    proc = processor()
    first = event(persons=1)
    store = FakeStore()  # stores nothing: only the in-memory cache can know
    assert len(run(proc, [record(first)], store=store).event_rows) == 1
    out = run(proc, [record({**first, "persons": 2})], store=store)
    assert reasons(out) == ["id_conflict"] and out.event_rows == []


def test_identical_duplicates_are_not_conflicts() -> None:
    proc = processor()
    e = event(persons=3)
    resent = {**e, "reported_at": "2024-05-01T09:00:00+05:00"}  # a resend: only this differs
    out = run(proc, [record(e), record(e), record(resent)])
    assert out.dead_letters == []
    assert [as_dict(r)["event_id"] for r in out.event_rows] == [UUID(e["event_id"])] * 3
    assert len({as_dict(r)["body_hash"] for r in out.event_rows}) == 1
    later = run(proc, [record(e)])
    assert later.dead_letters == [] and len(later.event_rows) == 1


def test_a_stored_hash_that_differs_is_a_conflict_across_restarts() -> None:
    e = event(persons=2)
    eid = UUID(e["event_id"])
    store = FakeStore({eid: "0" * 32})
    out = run(processor(), [record(e)], store=store)
    assert eid in store.asked
    assert reasons(out) == ["id_conflict"] and out.event_rows == []
    assert "0" * 32 in out.dead_letters[0].details[0]


def test_a_stored_hash_that_matches_is_a_redelivery_not_a_conflict() -> None:
    e = event(persons=2)
    eid = UUID(e["event_id"])
    first = run(processor(), [record(e)])  # what an earlier worker stored
    stored_hash = as_dict(first.event_rows[0])["body_hash"]
    store = FakeStore({eid: stored_hash})
    out = run(processor(), [record(e)], store=store)  # a new worker: empty cache
    assert eid in store.asked
    assert out.dead_letters == [] and len(out.event_rows) == 1


# -- rules -------------------------------------------------------------------------------
def test_liaison_between_non_neighbouring_countries_is_a_rule_violation() -> None:
    bad = event("KZ-KORDAI", "liaison_message", to_blo="TJ-PYANJ")  # KZ and TJ: no border
    ok = event("KZ-KORDAI", "liaison_message", to_blo="KG-AK-JOL")  # KZ and KG: neighbours
    unknown_peer = event("KZ-KORDAI", "liaison_message", to_blo="KZ-NOWHERE")
    out = run(processor(), [record(bad), record(ok), record(unknown_peer)])
    assert [as_dict(r)["event_id"] for r in out.event_rows] == [UUID(ok["event_id"])]
    assert reasons(out) == ["rule_violation", "rule_violation"]
    assert [d.event_id for d in out.dead_letters] == [bad["event_id"], unknown_peer["event_id"]]
    assert "KZ" in out.dead_letters[0].details[0] and "TJ" in out.dead_letters[0].details[0]


def test_events_from_the_future_are_dead_lettered() -> None:
    far = (NOW + timedelta(minutes=10)).isoformat()
    near = (NOW + timedelta(minutes=4)).isoformat()
    future = event(occurred_at=far, reported_at=far)
    fine = event(occurred_at=near, reported_at=near)
    out = run(processor(), [record(future), record(fine)])
    assert reasons(out) == ["future_event"]
    assert out.dead_letters[0].event_id == future["event_id"]
    assert [as_dict(r)["event_id"] for r in out.event_rows] == [UUID(fine["event_id"])]


# -- registry history --------------------------------------------------------------------
def test_an_event_before_the_first_registry_entry_gets_the_earliest_entry() -> None:
    reg = registry()
    reg.upsert(station("KZ-KORDAI", "2020-06-01T00:00:00Z", crossing_point="Kordai 2020",
                       lat=43.5, lon=74.9))
    old = event(occurred_at="2015-03-01T10:00:00+06:00", reported_at="2015-03-01T10:00:00+06:00")
    out = run(processor(reg), [record(old)])
    r = as_dict(out.event_rows[0])
    assert (r["crossing_point"], r["lat"]) == ("Kordai", 43.0)  # the 2018 entry


def test_a_registry_correction_applies_from_its_valid_from() -> None:
    reg = registry()
    proc = processor(reg)
    before = event(occurred_at="2024-02-01T12:00:00+06:00", reported_at="2024-02-01T12:00:00+06:00")
    after = event(occurred_at="2024-05-01T12:00:00+06:00", reported_at="2024-05-01T12:00:00+06:00")
    out0 = run(proc, [record(after)])
    assert as_dict(out0.event_rows[0])["crossing_point"] == "Kordai"  # no correction yet

    reg.upsert(station("KZ-KORDAI", "2024-03-01T00:00:00Z", crossing_point="Kordai (moved)",
                       agency="joint", lat=43.2, lon=74.8))
    out = run(proc, [record(before), record(after)])
    r_before, r_after = (as_dict(r) for r in out.event_rows)
    assert (r_before["crossing_point"], r_before["agency"], r_before["lat"]) == (
        "Kordai", "border_guard", 43.0)
    assert (r_after["crossing_point"], r_after["agency"], r_after["lat"]) == (
        "Kordai (moved)", "joint", 43.2)


# -- which rows the windows count -------------------------------------------------------
def test_new_rows_exclude_stored_cached_and_in_batch_duplicates() -> None:
    proc = processor()
    stored_ev = event("KZ-KORDAI")
    fresh = event("KZ-KORDAI")
    again = dict(fresh)
    again["reported_at"] = "2024-05-01T09:00:00+05:00"  # a resend: same body hash
    out = run(proc, [record(stored_ev), record(fresh), record(again)],
              store=FakeStore({UUID(stored_ev["event_id"]): _hash_of(stored_ev)}))
    assert len(out.event_rows) == 3  # duplicates are written again (ReplacingMergeTree)
    assert [as_dict(r)["event_id"] for r in out.new_rows] == [UUID(fresh["event_id"])]
    # the next batch: the same event is known from the cache, a new one is new
    later = event("TJ-PYANJ")
    out2 = run(proc, [record(fresh), record(later)])
    assert [as_dict(r)["event_id"] for r in out2.new_rows] == [UUID(later["event_id"])]


def _hash_of(e: dict[str, Any]) -> str:
    from schemas.identity import body_hash
    from schemas.parse import parse_event

    return body_hash(parse_event(e, now=NOW + timedelta(days=3650), max_future_skew=HOLD))


# -- the two halves: the lookup happens between them ---------------------------------------
def test_prepare_names_the_ids_to_look_up_and_finish_resolves_with_what_was_found() -> None:
    proc = processor()
    stored, fresh, cached = event("KZ-KORDAI"), event("TJ-PYANJ"), event("KG-AK-JOL")
    run(proc, [record(cached)])  # now in the conflict cache
    plan = proc.prepare([record(stored), record(fresh), record(cached)], NOW)
    assert plan.missing == [UUID(stored["event_id"]), UUID(fresh["event_id"])]
    assert plan.stations == ["KG-AK-JOL", "KZ-KORDAI", "TJ-PYANJ"]
    assert plan.outcome.event_rows == []  # no row before the conflicts are resolved
    out = proc.finish(plan, {UUID(stored["event_id"]): "f" * 32})  # stored, another body
    assert reasons(out) == ["id_conflict"]
    assert [as_dict(r)["event_id"] for r in out.event_rows] == [UUID(fresh["event_id"]),
                                                                UUID(cached["event_id"])]
    assert [as_dict(r)["event_id"] for r in out.new_rows] == [UUID(fresh["event_id"])]


def test_a_plan_whose_ids_are_all_cached_asks_for_nothing() -> None:
    proc = processor()
    e = event()
    run(proc, [record(e)])
    plan = proc.prepare([record(e)], NOW)
    assert plan.missing == [] and plan.stations == []
    store = FakeStore()
    out = run(proc, [record(e)], store=store)
    assert store.asked == [] and len(out.event_rows) == 1



# -- the fast path of a clean record -----------------------------------------------------
def _both_ways(value: bytes) -> tuple[BatchOutcome, BatchOutcome]:
    """``value`` processed as is, and as the element-wise path reads it (white space before
    it keeps a record off the fast path; orjson reads it alike), at the same position."""
    pos = SourcePos(TOPIC, 0, next(_offsets))
    assert parse_valid_json(b" " + value, now=NOW, max_future_skew=timedelta(minutes=5)) \
        is None  # the element-wise path, really
    fast = run(processor(), [RawRecord(value, pos)])
    slow = run(processor(), [RawRecord(b" " + value, pos)])
    return fast, slow


def test_a_clean_record_makes_the_same_rows_as_its_element_wise_reading() -> None:
    batch = [event("KZ-KORDAI", t) for t in
             ("crossing", "inspection", "seizure", "detention", "incident", "count_report")]
    batch.append(event("KZ-KORDAI", "liaison_message", to_blo="KG-AK-JOL"))
    batch.append(event("TJ-PYANJ", "seizure", quantity=3, unit="g",
                       reported_at="2024-05-01T08:31:00.123456+05:00"))
    for value in (json.dumps(batch).encode(), json.dumps(batch[2]).encode()):
        fast, slow = _both_ways(value)
        assert fast.event_rows and not fast.dead_letters
        assert fast.event_rows == slow.event_rows  # payloads and body hashes included
        assert fast.new_rows == slow.new_rows
        assert fast.accepted_by_type == slow.accepted_by_type
        n = len(batch) if value.startswith(b"[") else 1
        assert fast.events_seen == slow.events_seen == len(fast.event_rows) == n


def test_an_element_that_enriching_rejects_keeps_its_decoded_dead_letter() -> None:
    ok = event("KZ-KORDAI", "liaison_message", to_blo="KG-AK-JOL")
    bad = event("KZ-KORDAI", "liaison_message", to_blo="TJ-PYANJ")  # valid, refused by rule
    fast, slow = _both_ways(json.dumps([ok, bad]).encode())
    assert reasons(fast) == reasons(slow) == ["rule_violation"]
    assert fast.dead_letters == slow.dead_letters
    assert fast.dead_letters[0].element_index == 1
    assert fast.dead_letters[0].event_id == bad["event_id"]
    assert json.loads(fast.dead_letters[0].payload) == bad
    assert fast.event_rows == slow.event_rows and len(fast.event_rows) == 1
    # a record of that one event alone (an object, not an array): its dead letter keeps
    # the record's own bytes (the element-wise reading's have the space in front)
    fast, slow = _both_ways(json.dumps(bad).encode())
    assert reasons(fast) == ["rule_violation"] and not fast.event_rows
    assert fast.dead_letters == [dataclasses.replace(d, payload=d.payload.lstrip())
                                 for d in slow.dead_letters]
    assert fast.dead_letters[0].event_id == bad["event_id"]
    assert json.loads(fast.dead_letters[0].payload) == bad


def test_an_empty_array_is_not_an_event_either_way() -> None:
    out = run(processor(), [record(b"[]")])
    assert reasons(out) == ["not_an_event"] and not out.event_rows
    assert len(out.done) == 1


def test_a_clean_record_is_validated_without_decoding_it(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    import streams.ingest as ingest_module

    decoded: list[bytes | None] = []
    real = ingest_module.decode_record

    def counting(value: bytes | None, max_bytes: int) -> Any:
        decoded.append(value)
        return real(value, max_bytes)

    monkeypatch.setattr(ingest_module, "decode_record", counting)
    clean = json.dumps([event(), event()]).encode()
    one_bad = json.dumps([event(), event(persons=-1)]).encode()
    out = run(processor(), [record(clean), record(one_bad)])
    assert decoded == [one_bad]  # the clean record took the fast path
    assert len(out.event_rows) == 3 and reasons(out) == ["invalid"]
    assert out.dead_letters[0].element_index == 1


@pytest.mark.parametrize("unknown_at", [0, 1, 2])
def test_a_clean_record_of_an_unknown_station_is_held_as_a_whole(unknown_at: int) -> None:
    events = [event("KZ-KORDAI"), event("KG-AK-JOL")]
    events.insert(unknown_at, event("UZ-NEW-POST"))
    proc = processor()
    out = run(proc, [record(json.dumps(events).encode())])
    assert out.held and not out.event_rows and out.events_seen == 0 and not out.done
    assert proc.held_events == 3
