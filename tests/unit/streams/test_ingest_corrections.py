"""The ingest step under corrections (docs/corrections.md, streams/ingest.py ``finish``):
which ``events`` rows a revision or a void writes, the history rows, what goes to the
windows, and the ``ingested_at`` stamp that keeps a revision after what it replaces.

Real parsed events, a real :class:`schemas.station.Registry` (the helpers of
test_ingest.py); the stored rows a revision replaces are the rows an earlier batch built,
as ``live_rows_of`` reads them back (whole seconds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from schemas.rows import Row
from sinks.tables import EVENT_REVISIONS, EVENTS
from streams.ingest import BatchOutcome, Correction, IngestPlan, IngestProcessor
from tests.unit.streams.correction_events import eid, revision, void
from tests.unit.streams.test_ingest import NOW, as_dict, event, processor, record, utc

pytestmark = pytest.mark.timeout(60)

STORED_AT = NOW - timedelta(days=30)  # when the original was ingested
LATER = NOW  # when the corrections arrive


def history(d: dict[str, Any]) -> dict[str, Any]:
    """The ``event_revisions`` columns of an ``events`` row (as a dict)."""
    return {c: d[c] for c in EVENT_REVISIONS.column_names}


def stored_history(row: Row) -> dict[str, Any]:
    """An ``event_revisions`` row as a dict."""
    return dict(zip(EVENT_REVISIONS.column_names, row, strict=True))


def stored(obj: dict[str, Any], at: datetime = STORED_AT) -> Row:
    """The row ``obj`` was stored as (ingested at ``at``, by another worker)."""
    _, out = step([obj], now=at)
    (row,) = out.event_rows
    return row


def step(objs: Sequence[dict[str, Any]], *, now: datetime = LATER,
         found: Mapping[UUID, str] | None = None,
         live: Mapping[UUID, Sequence[Row]] | None = None,
         proc: IngestProcessor | None = None) -> tuple[IngestPlan, BatchOutcome]:
    """prepare, the lookups (``found``: the stored states of the plan's missing ids;
    ``live``: the live rows of its revised ids), finish — what the runtime does."""
    p = proc or processor()
    plan = p.prepare([record(o) for o in objs], now)
    answers = {i: (found or {})[i] for i in plan.missing if i in (found or {})}
    lives = {i: (live or {})[i] for i in plan.revised if i in (live or {})}
    return plan, p.finish(plan, answers, lives)


def expect_withdrawn(old: Row, *, revision: int, reason: str, at: datetime) -> dict[str, Any]:
    d = as_dict(old)
    return {**d, "ingested_at": at, "revision": revision, "voided": 1,
            "correction_reason": reason}


# -- revisions -----------------------------------------------------------------------------

def test_a_revision_in_the_same_month_is_one_new_row_and_a_correction() -> None:
    orig = event(persons=3, occurred_at="2024-05-01T08:30:00+05:00")
    old = stored(orig)
    r1 = revision(orig, 1, "laboratory weight", persons=5,
                  occurred_at="2024-05-20T10:00:00+05:00")
    plan, out = step([r1], found={eid(orig): as_dict(old)["body_hash"]},
                     live={eid(orig): [old]})
    assert plan.missing == [eid(orig)]
    assert plan.revised == [eid(orig)] and plan.revised_stations == ["KZ-KORDAI"]

    (new,) = out.event_rows
    d = as_dict(new)
    assert (d["event_id"], d["revision"], d["voided"], d["correction_reason"]) == (
        eid(orig), 1, 0, "laboratory weight")
    assert (d["persons"], d["occurred_at"], d["ingested_at"]) == (
        5, utc("2024-05-20T10:00:00+05:00"), LATER)
    assert d["event_type"] == "crossing" and d["source_seq"] == orig["source_seq"]
    assert out.new_rows == []  # recounted by the windows, not added
    assert out.superseded == 0 and out.dead_letters == []
    assert out.accepted_by_type == {"crossing": 1}
    assert [stored_history(r) for r in out.revision_rows] == [
        history(as_dict(old)), history(d)]
    assert out.corrections == [Correction(eid(orig), "KZ-KORDAI", (old,), new)]


def test_a_revision_moved_to_another_month_withdraws_the_old_row_there() -> None:
    orig = event("TJ-PYANJ", "seizure", quantity=700.0, unit="kg",
                 occurred_at="2024-05-31T23:30:00+05:00")
    old = stored(orig)
    r1 = revision(orig, 1, "local day was wrong", quantity=770.5,
                  occurred_at="2024-06-01T23:30:00+05:00")
    _, out = step([r1], found={eid(orig): as_dict(old)["body_hash"]},
                  live={eid(orig): [old]})
    withdrawn, new = out.event_rows
    assert as_dict(withdrawn) == expect_withdrawn(old, revision=1, reason="local day was wrong",
                                                 at=LATER)
    # the copy stays in the old partition with the old figures and type
    w = as_dict(withdrawn)
    assert (w["event_type"], w["occurred_at"], w["quantity_kg"]) == (
        "seizure", utc("2024-05-31T23:30:00+05:00"), 700.0)
    n = as_dict(new)
    assert (n["revision"], n["voided"], n["quantity_kg"], n["occurred_at"]) == (
        1, 0, 770.5, utc("2024-06-01T23:30:00+05:00"))
    assert out.new_rows == []
    assert [stored_history(r) for r in out.revision_rows] == [history(as_dict(old)),
                                                                history(n)]
    assert out.corrections == [Correction(eid(orig), "TJ-PYANJ", (old,), new)]


def test_a_void_withdraws_every_live_row_and_writes_no_row_of_its_own() -> None:
    orig = event(persons=4, occurred_at="2024-05-01T08:30:00+05:00")
    old = stored(orig)
    # a second live row in another partition (e.g. a revision whose withdrawn copy is lost)
    other = stored(revision(orig, 1, persons=6, occurred_at="2024-03-01T08:30:00+05:00"),
                   at=STORED_AT + timedelta(hours=1))
    v = void(orig, 2, "entered twice")
    _, out = step([v], found={eid(orig): f"1/0/{as_dict(other)['body_hash']}"},
                  live={eid(orig): [old, other]})
    assert [as_dict(r) for r in out.event_rows] == [
        expect_withdrawn(old, revision=2, reason="entered twice", at=LATER),
        expect_withdrawn(other, revision=2, reason="entered twice", at=LATER)]
    assert all(as_dict(r)["event_type"] == "crossing" for r in out.event_rows)
    assert out.new_rows == []
    assert out.accepted_by_type == {"void": 1}
    hist = [stored_history(r) for r in out.revision_rows]
    assert hist[:2] == [history(as_dict(old)), history(as_dict(other))]
    assert (hist[2]["event_type"], hist[2]["revision"], hist[2]["voided"],
            hist[2]["correction_reason"], hist[2]["ingested_at"]) == (
        "void", 2, 1, "entered twice", LATER)
    assert len(hist) == 3
    assert out.corrections == [Correction(eid(orig), "KZ-KORDAI", (old, other), None)]


def test_a_void_of_an_id_with_no_live_rows_writes_its_own_row_and_no_correction() -> None:
    orig = event(persons=4)
    v = void(orig, 1, "entered twice")
    plan, out = step([v])  # never stored: the lookups find nothing
    assert plan.revised == [eid(orig)]
    (row,) = out.event_rows
    d = as_dict(row)
    assert (d["event_id"], d["event_type"], d["revision"], d["voided"],
            d["correction_reason"], d["ingested_at"]) == (
        eid(orig), "void", 1, 1, "entered twice", LATER)
    assert out.corrections == [] and out.new_rows == []
    assert [stored_history(r) for r in out.revision_rows] == [history(d)]


def test_a_revision_of_an_id_never_stored_is_written_and_recounted() -> None:
    orig = event(persons=4)
    r1 = revision(orig, 1, persons=9)
    _, out = step([r1])
    (row,) = out.event_rows
    assert (as_dict(row)["revision"], as_dict(row)["persons"]) == (1, 9)
    assert out.new_rows == []
    assert out.corrections == [Correction(eid(orig), "KZ-KORDAI", (), row)]
    assert [stored_history(r) for r in out.revision_rows] == [history(as_dict(row))]


def test_original_and_revision_in_one_batch_take_the_prior_from_the_batch() -> None:
    orig = event(persons=3)
    r1 = revision(orig, 1, persons=5)
    plan, out = step([orig, r1])
    assert plan.revised == [eid(orig)]
    first, second = out.event_rows
    assert as_dict(first)["revision"] == 0 and as_dict(first)["ingested_at"] == LATER
    # stamped one second after the original it replaces (the same `now`)
    n = as_dict(second)
    assert (n["revision"], n["persons"], n["ingested_at"]) == (
        1, 5, LATER + timedelta(seconds=1))
    assert out.new_rows == [first]  # the original is new (counted), the revision recounted
    assert out.corrections == [Correction(eid(orig), "KZ-KORDAI", (first,), second)]
    assert [stored_history(r) for r in out.revision_rows] == [history(as_dict(first)),
                                                                history(n)]
    assert out.accepted_by_type == {"crossing": 2}


def test_original_revision_moved_and_void_in_one_batch() -> None:
    orig = event(persons=3, occurred_at="2024-05-10T08:30:00+05:00")
    r1 = revision(orig, 1, "local day was wrong", occurred_at="2024-04-10T08:30:00+05:00")
    v = void(orig, 2, "entered twice")
    _, out = step([orig, r1, v])
    first = out.event_rows[0]
    r1_row = out.event_rows[2]
    s1 = LATER + timedelta(seconds=1)
    s2 = LATER + timedelta(seconds=2)
    assert [as_dict(r) for r in out.event_rows] == [
        as_dict(first),
        expect_withdrawn(first, revision=1, reason="local day was wrong", at=s1),
        {**as_dict(r1_row), "ingested_at": s1},
        expect_withdrawn(r1_row, revision=2, reason="entered twice", at=s2)]
    assert as_dict(r1_row)["occurred_at"] == utc("2024-04-10T08:30:00+05:00")
    assert [c.new_row for c in out.corrections] == [r1_row, None]
    assert [c.old_rows for c in out.corrections] == [(first,), (r1_row,)]
    assert out.new_rows == [first]


def test_a_stale_revision_is_counted_as_superseded_and_not_written() -> None:
    orig = event(persons=3)
    r2 = revision(orig, 2, persons=7)
    r2_row = stored(r2)
    r1 = revision(orig, 1, persons=5)
    _, out = step([r1], found={eid(orig): f"2/0/{as_dict(r2_row)['body_hash']}"},
                         live={eid(orig): [r2_row]})
    assert out.superseded == 1
    assert out.event_rows == [] and out.new_rows == [] and out.revision_rows == []
    assert out.corrections == [] and out.dead_letters == []
    assert out.accepted_by_type == {}
    assert len(out.done) == 1  # acknowledged: nothing to write


def test_a_redelivered_revision_writes_again_and_is_recounted_again() -> None:
    orig = event(persons=3)
    r1 = revision(orig, 1, persons=5)
    r1_row = stored(r1)
    # the live row is the revision itself: nothing older to withdraw
    _, out = step([r1], found={eid(orig): f"1/0/{as_dict(r1_row)['body_hash']}"},
                  live={eid(orig): [r1_row]})
    (row,) = out.event_rows
    assert {**as_dict(row), "ingested_at": STORED_AT, "kafka_offset": 0} == {
        **as_dict(r1_row), "kafka_offset": 0}
    assert out.corrections == [Correction(eid(orig), "KZ-KORDAI", (), row)]
    assert out.new_rows == [] and out.superseded == 0


# -- the ingested_at stamp -----------------------------------------------------------------

@pytest.mark.parametrize(("stored_at", "now", "stamp"), [
    # the replaced row was stamped in the same second as now: one second after it
    (LATER, LATER + timedelta(milliseconds=300), LATER + timedelta(seconds=1)),
    # another worker's clock ahead (or this one stepped back): one second after it
    (LATER + timedelta(seconds=10), LATER, LATER + timedelta(seconds=11)),
    # stored in an earlier second: now, as it is
    (LATER - timedelta(seconds=1), LATER + timedelta(milliseconds=300),
     LATER + timedelta(milliseconds=300)),
])
def test_a_revision_is_stamped_after_the_row_it_replaces(
        stored_at: datetime, now: datetime, stamp: datetime) -> None:
    orig = event(persons=3, occurred_at="2024-05-10T08:30:00+05:00")
    old = stored(orig, at=stored_at)
    r1 = revision(orig, 1, occurred_at="2024-06-10T08:30:00+05:00")  # moved: a withdrawn copy
    _, out = step([r1], now=now, found={eid(orig): as_dict(old)["body_hash"]},
                  live={eid(orig): [old]})
    withdrawn, new = out.event_rows
    assert as_dict(withdrawn)["ingested_at"] == stamp
    assert as_dict(new)["ingested_at"] == stamp
    assert out.corrections[0].new_row == new
    assert stored_history(out.revision_rows[-1])["ingested_at"] == stamp
    assert stored_history(out.revision_rows[0])["ingested_at"] == stored_at  # the old one, as stored


def test_a_void_is_stamped_after_the_rows_it_withdraws() -> None:
    orig = event(persons=3)
    old = stored(orig, at=LATER + timedelta(seconds=5))
    _, out = step([void(orig, 1)], found={eid(orig): as_dict(old)["body_hash"]},
                  live={eid(orig): [old]})
    (withdrawn,) = out.event_rows
    assert as_dict(withdrawn)["ingested_at"] == LATER + timedelta(seconds=6)
    assert stored_history(out.revision_rows[-1])["ingested_at"] == LATER + timedelta(seconds=6)


# -- events without a revision -------------------------------------------------------------

def test_events_without_a_revision_are_as_before() -> None:
    plain = event("KZ-KORDAI", "crossing", persons=3)
    zero = {**event("TJ-PYANJ", "seizure", quantity=2.5, unit="kg"), "revision": 0}
    plan, out = step([plain, zero])
    assert plan.revised == [] and plan.revised_stations == []
    a, b = (as_dict(r) for r in out.event_rows)
    assert EVENTS.column_names[-3:] == ("revision", "voided", "correction_reason")
    assert [(d["revision"], d["voided"], d["correction_reason"]) for d in (a, b)] == [
        (0, 0, "")] * 2
    assert out.new_rows == out.event_rows
    assert out.corrections == [] and out.revision_rows == [] and out.superseded == 0
    # revision 0 is the original: the same row, payload and body hash as without the field
    without = {k: v for k, v in zero.items() if k != "revision"}
    _, again = step([without])
    (c,) = (as_dict(r) for r in again.event_rows)
    assert {k: v for k, v in c.items() if k != "kafka_offset"} == {
        k: v for k, v in b.items() if k != "kafka_offset"}
    assert '"revision"' not in b["payload"] and '"correction_reason"' not in b["payload"]


def test_a_redelivered_original_is_written_again_but_not_new_nor_a_correction() -> None:
    orig = event(persons=3)
    old = stored(orig)
    _, out = step([orig], found={eid(orig): as_dict(old)["body_hash"]})
    (row,) = out.event_rows
    assert {k: v for k, v in as_dict(row).items() if k not in ("ingested_at", "kafka_offset")} \
        == {k: v for k, v in as_dict(old).items() if k not in ("ingested_at", "kafka_offset")}
    assert out.new_rows == [] and out.corrections == [] and out.revision_rows == []
