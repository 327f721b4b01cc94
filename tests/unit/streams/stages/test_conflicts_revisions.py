"""Stage 4 under corrections (streams/stages/conflicts.py): what is stored of an id, and
the verdict of each candidate — new, a redelivery, a revision, a stale revision or an
id conflict — over real parsed events and their real body hashes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.identity import canonical_json_and_hash
from schemas.parse import parse_event
from schemas.station import StationRecord
from streams.stages.conflicts import BodyHashes, Candidate, Stored, Verdict, candidate, parse_stored
from streams.stages.decode import RawRecord, SourcePos
from tests.unit.schemas.factories import make_event
from tests.unit.streams.correction_events import eid, revision, void

NOW = datetime(2025, 1, 1, tzinfo=UTC)
STATION = StationRecord.model_validate({
    "station_id": "KZ-KORDAI", "name": "Kordai", "country": "KZ", "agency": "customs",
    "crossing_point": "Kordai / Ak-Jol", "neighbour_country": "KG", "paired_blo": "KG-AK-JOL",
    "lat": 43.03, "lon": 74.71, "tz": "Asia/Almaty", "valid_from": "2018-01-01T00:00:00Z",
})
_offsets = itertools.count()


def original(seq: int, **overrides: Any) -> dict[str, Any]:
    """An original crossing (revision 0) of KZ-KORDAI with source_seq ``seq``."""
    return make_event("crossing", source_seq=seq, **overrides)


def cand(obj: dict[str, Any]) -> Candidate:
    ev = parse_event(obj, now=NOW, max_future_skew=timedelta(minutes=5))
    rec = RawRecord(b"{}", SourcePos("raw", 0, next(_offsets)))
    return candidate(ev, STATION, rec, 0)


def hash_of(obj: dict[str, Any]) -> str:
    return canonical_json_and_hash(parse_event(obj, now=NOW,
                                               max_future_skew=timedelta(minutes=5)))[1]


def verdicts(accepted: list[Candidate]) -> list[tuple[int, str, bool]]:
    return [(c.event.revision or 0, c.verdict, c.new) for c in accepted]


# -- parse_stored ----------------------------------------------------------------------------

def test_parse_stored_forms() -> None:
    # an event never corrected: the bare body hash (as before corrections existed)
    assert parse_stored("f89adadbdd0d2e7be2a9a4b6c4f9eb43") == Stored(
        0, False, "f89adadbdd0d2e7be2a9a4b6c4f9eb43")
    assert parse_stored("2/0/8bbb62d041ce0a3e29bd531cecf7599c") == Stored(
        2, False, "8bbb62d041ce0a3e29bd531cecf7599c")
    assert parse_stored("3/1/684cb591116c2a6103bd9f7d228da766") == Stored(
        3, True, "684cb591116c2a6103bd9f7d228da766")
    assert parse_stored("12/1/a/b") == Stored(12, True, "a/b")  # split twice only


# -- verdicts ----------------------------------------------------------------------------------

def test_an_id_never_stored_is_new_and_counted() -> None:
    e = original(1)
    bh = BodyHashes(100)
    c = cand(e)
    assert bh.missing([c]) == [eid(e)]
    accepted, conflicts = bh.resolve([c], {})
    assert conflicts == [] and verdicts(accepted) == [(0, Verdict.NEW, True)]
    # remembered: no lookup next time, and the same body again is a redelivery
    again = cand(e)
    assert bh.missing([again]) == []
    accepted, _ = bh.resolve([again], {})
    assert verdicts(accepted) == [(0, Verdict.SAME, False)]


def test_a_stored_original_redelivered_is_same_and_not_counted() -> None:
    e = original(2)
    bh = BodyHashes(100)
    accepted, conflicts = bh.resolve([cand(e)], {eid(e): hash_of(e)})
    assert conflicts == [] and verdicts(accepted) == [(0, Verdict.SAME, False)]


def test_a_stored_revision_redelivered_is_same() -> None:
    e = original(3)
    r1 = revision(e, 1, persons=7)
    bh = BodyHashes(100)
    accepted, conflicts = bh.resolve([cand(r1)], {eid(e): f"1/0/{hash_of(r1)}"})
    assert conflicts == [] and verdicts(accepted) == [(1, Verdict.SAME, False)]


def test_a_higher_revision_revises_and_is_not_counted_as_new() -> None:
    e = original(4)
    r1, r2 = revision(e, 1, persons=7), revision(e, 2, persons=8)
    bh = BodyHashes(100)
    accepted, _ = bh.resolve([cand(r1)], {eid(e): hash_of(e)})
    assert verdicts(accepted) == [(1, Verdict.REVISES, False)]
    # what is stored of the id is now revision 1: revision 2 revises it, from the cache
    c2 = cand(r2)
    assert bh.missing([c2]) == []
    accepted, _ = bh.resolve([c2], {})
    assert verdicts(accepted) == [(2, Verdict.REVISES, False)]


def test_a_lower_revision_is_stale_and_leaves_the_stored_state() -> None:
    e = original(5)
    r1, r2 = revision(e, 1, persons=7), revision(e, 2, persons=8)
    bh = BodyHashes(100)
    accepted, conflicts = bh.resolve([cand(r1), cand(e)], {eid(e): f"2/0/{hash_of(r2)}"})
    assert conflicts == []
    assert verdicts(accepted) == [(1, Verdict.STALE, False), (0, Verdict.STALE, False)]
    # still revision 2 with its hash: r2 again is a redelivery, not a conflict
    accepted, conflicts = bh.resolve([cand(r2)], {})
    assert conflicts == [] and verdicts(accepted) == [(2, Verdict.SAME, False)]


def test_same_revision_other_body_is_an_id_conflict() -> None:
    e = original(6)
    other = {**e, "persons": 99}
    bh = BodyHashes(100)
    accepted, conflicts = bh.resolve([cand(other)], {eid(e): hash_of(e)})
    assert accepted == []
    ((c, rejected),) = conflicts
    assert c.event.event_id == eid(e)
    assert rejected.reasons == ("id_conflict",)
    (detail,) = rejected.details
    assert detail.startswith(f"event_id: {eid(e)} revision 0 was already received")
    assert hash_of(e) in detail and hash_of(other) in detail

    # a revision: the same number with another body (another reason counts as another body)
    r1 = revision(e, 1, "laboratory weight", persons=7)
    r1_other_reason = revision(e, 1, "miscounted", persons=7)
    assert hash_of(r1) != hash_of(r1_other_reason)
    accepted, conflicts = BodyHashes(100).resolve([cand(r1_other_reason)],
                                                  {eid(e): f"1/0/{hash_of(r1)}"})
    assert accepted == []
    ((_, rejected),) = conflicts
    assert rejected.reasons == ("id_conflict",)
    assert rejected.details[0].startswith(f"revision: {eid(e)} revision 1 was already")


def test_a_conflict_is_not_remembered() -> None:
    e = original(7)
    bh = BodyHashes(100)
    bh.resolve([cand({**e, "persons": 99})], {eid(e): hash_of(e)})
    accepted, conflicts = bh.resolve([cand(e)], {})
    assert conflicts == [] and verdicts(accepted) == [(0, Verdict.SAME, False)]


def test_a_void_revises_and_leaves_the_id_voided() -> None:
    e = original(8)
    v = void(e, 1)
    bh = BodyHashes(100)
    accepted, _ = bh.resolve([cand(v)], {eid(e): hash_of(e)})
    assert [(c.event.event_type, c.verdict, c.new) for c in accepted] == [
        ("void", Verdict.REVISES, False)]
    assert bh.known(eid(e)) == Stored(1, True, hash_of(v))
    # the void redelivered is SAME; the original again STALE; a revision 1 of another body
    # (the same number as the void) a conflict; revision 2 brings it back
    accepted, conflicts = bh.resolve(
        [cand(v), cand(e), cand(revision(e, 1, persons=5)), cand(revision(e, 2, persons=5))],
        {})
    assert verdicts(accepted) == [(1, Verdict.SAME, False), (0, Verdict.STALE, False),
                                  (2, Verdict.REVISES, False)]
    assert [r.reasons for _, r in conflicts] == [("id_conflict",)]
    assert bh.known(eid(e)) == Stored(2, False, hash_of(revision(e, 2, persons=5)))


def test_a_stored_void_found_by_the_lookup() -> None:
    e = original(9)
    v = void(e, 2)
    bh = BodyHashes(100)
    accepted, conflicts = bh.resolve([cand(revision(e, 1, persons=3)), cand(v)],
                                     {eid(e): f"2/1/{hash_of(v)}"})
    assert conflicts == []
    assert verdicts(accepted) == [(1, Verdict.STALE, False), (2, Verdict.SAME, False)]
    assert bh.known(eid(e)) == Stored(2, True, hash_of(v))


def test_a_revision_of_an_id_never_stored_is_new_but_not_counted() -> None:
    e = original(10)
    r1 = revision(e, 1, persons=7)
    accepted, conflicts = BodyHashes(100).resolve([cand(r1)], {})
    assert conflicts == [] and verdicts(accepted) == [(1, Verdict.NEW, False)]


def test_a_void_of_an_unknown_id_is_new_not_counted_and_voids_the_id() -> None:
    e = original(11)
    v = void(e, 1)
    bh = BodyHashes(100)
    accepted, conflicts = bh.resolve([cand(v)], {})
    assert conflicts == [] and verdicts(accepted) == [(1, Verdict.NEW, False)]
    assert bh.known(eid(e)) == Stored(1, True, hash_of(v))
    # the original arriving after its void is skipped
    accepted, _ = bh.resolve([cand(e)], {})
    assert verdicts(accepted) == [(0, Verdict.STALE, False)]


def test_revisions_of_one_id_in_one_batch_resolve_in_order() -> None:
    e = original(12)
    r1, r2 = revision(e, 1, persons=7), revision(e, 2, persons=8)
    accepted, conflicts = BodyHashes(100).resolve(
        [cand(e), cand(r2), cand(r1), cand(r2)], {})
    assert conflicts == []
    assert verdicts(accepted) == [(0, Verdict.NEW, True), (2, Verdict.REVISES, False),
                                  (1, Verdict.STALE, False), (2, Verdict.SAME, False)]


# -- the bounded cache -------------------------------------------------------------------------

def test_eviction_drops_the_least_recently_seen_and_keeps_the_latest_state() -> None:
    a, b, c = original(20), original(21), original(22)
    a1 = revision(a, 1, persons=7)
    bh = BodyHashes(2)
    bh.resolve([cand(a), cand(b)], {})
    bh.resolve([cand(a1)], {})  # a revised: seen last, b is now the oldest
    bh.resolve([cand(c)], {})  # evicts b, not a
    assert bh.missing([cand(a), cand(b), cand(c)]) == [eid(b)]
    # a's state is its revision 1: the original again is stale, without a lookup
    accepted, _ = bh.resolve([cand(a)], {})
    assert verdicts(accepted) == [(0, Verdict.STALE, False)]
    assert bh.known(eid(a)) == Stored(1, False, hash_of(a1))


def test_an_evicted_id_is_resolved_by_the_lookup_again() -> None:
    a, b = original(23), original(24)
    a1 = revision(a, 1, persons=7)
    bh = BodyHashes(1)
    bh.resolve([cand(a1)], {eid(a): hash_of(a)})
    bh.resolve([cand(b)], {})
    ca = cand(a)
    assert bh.missing([ca]) == [eid(a)]
    accepted, _ = bh.resolve([ca], {eid(a): f"1/0/{hash_of(a1)}"})
    assert verdicts(accepted) == [(0, Verdict.STALE, False)]


def test_lookup_answers_beyond_the_cache_size_are_not_lost() -> None:
    stored = [original(30 + i) for i in range(3)]
    bh = BodyHashes(2)
    cs = [cand(e) for e in stored]
    assert bh.missing(cs) == [eid(e) for e in stored]
    accepted, _ = bh.resolve(cs, {eid(e): hash_of(e) for e in stored})
    assert verdicts(accepted) == [(0, Verdict.SAME, False)] * 3
