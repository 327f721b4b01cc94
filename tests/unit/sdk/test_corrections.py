"""Revisions and voids in the SDK: the records built (blo.sdk.corrections), their checks with
the schema models, and ``StationPublisher.revise`` / ``void`` through the buffer to a fake
producer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from blo.sdk import InvalidEvent, StationPublisher, revision_record, void_record
from schemas.events import SeizureEvent
from schemas.identity import body_hash, derive_event_id
from schemas.parse import parse_event
from tests.unit.sdk.fakes import FakeBroker
from tests.unit.sdk.test_publisher import KAFKA, unpack

NOW = dt.datetime(2024, 2, 16, 4, 30, tzinfo=dt.UTC)


def seizure(**overrides: Any) -> dict[str, Any]:
    return {"event_type": "seizure", "station_id": "KZ-KONYSBAEV", "source_seq": 40877,
            "occurred_at": "2024-02-14T16:20:00+05:00",
            "reported_at": "2024-02-14T16:25:00+05:00", "drug": "heroin",
            "quantity": 700.0, "unit": "kg", "concealment": "mixed_in_cargo",
            "detection_method": "xray", **overrides}


def parsed(record: dict[str, Any]) -> Any:
    """What the pipeline reads of ``record`` (sent as JSON)."""
    return parse_event(orjson.loads(orjson.dumps(record)), now=NOW,
                       max_future_skew=dt.timedelta(minutes=5))


def test_a_revision_keeps_the_derived_id_and_carries_number_reason_and_now() -> None:
    rec = revision_record(seizure(quantity=770.5), revision=1, reason="laboratory weight",
                          now=NOW)
    ev = parsed(rec)
    assert str(ev.event_id) == str(derive_event_id("KZ-KONYSBAEV", 40877))
    assert (ev.revision, ev.correction_reason, ev.quantity) == (1, "laboratory weight", 770.5)
    assert ev.reported_at == NOW  # sent now, whatever the original said
    # another body than the original (the hash covers revision and reason too)
    original = parsed({**seizure(), "event_id": rec["event_id"], "schema_version": 1})
    assert body_hash(ev) != body_hash(original)


def test_a_revision_keeps_a_given_id_and_takes_a_model() -> None:
    given = "0d6f1d44-8a5e-4f0c-9a43-5a1b8f0d0c11"
    model = SeizureEvent.model_validate({**seizure(), "event_id": given, "schema_version": 1})
    rec = revision_record(model, revision=3, reason="weight", now=NOW)
    ev = parsed(rec)
    assert str(ev.event_id) == given and ev.revision == 3 and ev.source_seq == 40877


def test_a_void_copies_the_identity_of_the_event_and_nothing_else() -> None:
    rec = void_record(seizure(), revision=2, reason="entered twice", now=NOW)
    assert set(rec) == {"event_type", "schema_version", "event_id", "station_id",
                        "occurred_at", "source_seq", "reported_at", "revision",
                        "correction_reason"}
    ev = parsed(rec)
    assert ev.event_type == "void"
    assert str(ev.event_id) == str(derive_event_id("KZ-KONYSBAEV", 40877))
    assert ev.occurred_at == dt.datetime(2024, 2, 14, 11, 20, tzinfo=dt.UTC)
    assert (ev.source_seq, ev.revision, ev.correction_reason) == (40877, 2, "entered twice")


@pytest.mark.parametrize("build", [revision_record, void_record])
@pytest.mark.parametrize("revision", [0, -1, True, 1.0, "1", None])
def test_the_revision_must_be_an_integer_of_at_least_one(build: Any, revision: Any) -> None:
    with pytest.raises(InvalidEvent, match="revision must be an integer >= 1"):
        build(seizure(), revision=revision, reason="x")


@pytest.mark.parametrize("build", [revision_record, void_record])
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_correction_needs_a_reason(build: Any, reason: Any) -> None:
    with pytest.raises(InvalidEvent, match="needs a reason"):
        build(seizure(), revision=1, reason=reason)


def test_the_schema_checks_the_corrected_event_before_anything_is_sent() -> None:
    with pytest.raises(InvalidEvent, match=r"quantity: Input should be greater than or equal"):
        revision_record(seizure(quantity=-1), revision=1, reason="typo")
    with pytest.raises(InvalidEvent, match=r"colour: unknown field"):
        revision_record(seizure(colour="brown"), revision=1, reason="typo")
    with pytest.raises(InvalidEvent, match=r"correction_reason"):
        revision_record(seizure(), revision=1, reason="two\nlines")
    with pytest.raises(InvalidEvent, match=r"occurred_at"):
        void_record({"station_id": "KZ-KONYSBAEV", "source_seq": 3}, revision=1, reason="x")
    with pytest.raises(InvalidEvent, match="a void is not revised"):
        revision_record(void_record(seizure(), revision=1, reason="x"), revision=2,
                        reason="y")
    with pytest.raises(InvalidEvent, match="no station_id"):
        void_record({"source_seq": 3}, revision=1, reason="x")


@pytest.fixture
def publisher(tmp_path: Path) -> Iterator[tuple[StationPublisher, FakeBroker]]:
    broker = FakeBroker()
    pub = StationPublisher(KAFKA, "raw", tmp_path / "outbox.db", linger_s=0.0,
                           producer_factory=broker.factory)
    yield pub, broker
    pub.close(timeout=1.0)


def test_revise_and_void_go_through_the_buffer_in_order_with_the_original(
        publisher: tuple[StationPublisher, FakeBroker]) -> None:
    pub, broker = publisher
    first = pub.publish(seizure())
    revised = pub.revise(seizure(quantity=770.5), revision=1, reason="laboratory weight")
    voided = pub.void(seizure(), revision=2, reason="entered twice")
    assert first == revised == voided == str(derive_event_id("KZ-KONYSBAEV", 40877))
    pub.flush(timeout=10)
    got = unpack(broker.log)
    assert [(e.get("event_type"), e.get("revision"), e.get("correction_reason"),
             e.get("quantity")) for e in got] == [
        ("seizure", None, None, 700.0),
        ("seizure", 1, "laboratory weight", 770.5),
        ("void", 2, "entered twice", None)]
    assert {e["event_id"] for e in got} == {first}


def test_a_refused_correction_buffers_nothing(
        publisher: tuple[StationPublisher, FakeBroker]) -> None:
    pub, _ = publisher
    with pytest.raises(InvalidEvent):
        pub.revise(seizure(unit="bucket"), revision=1, reason="unit")
    with pytest.raises(InvalidEvent):
        pub.void(seizure(), revision=0, reason="x")
    assert pub.pending() == 0


def test_the_builders_do_not_modify_their_input() -> None:
    event: dict[str, Any] = seizure()
    before = dict(event)
    revision_record(event, revision=1, reason="r")
    void_record(event, revision=1, reason="r")
    assert event == before
