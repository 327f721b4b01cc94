"""parse_event: reason codes, their order of precedence, the clock, the messages."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.events import EVENT_MODELS
from schemas.parse import (
    EVENT_TYPES,
    SUPPORTED_SCHEMA_VERSIONS,
    EventRejected,
    Problem,
    parse_event,
)
from tests.unit.schemas.factories import DROP, NOW, SKEW, make_event, parse, problems, rejection


def test_constants() -> None:
    assert SUPPORTED_SCHEMA_VERSIONS == frozenset({1})
    assert EVENT_TYPES == {
        "crossing", "inspection", "seizure", "detention", "incident", "liaison_message",
        "count_report", "void",
    }
    assert EVENT_TYPES == set(EVENT_MODELS)


@pytest.mark.parametrize("obj", [[], [make_event()], "crossing", 3, 2.5, True, None])
def test_not_an_object(obj: object) -> None:
    rej = rejection(obj)
    assert rej.code == "not_an_event"
    assert rej.reasons[0].field == ""
    assert "JSON object" in rej.reasons[0].message


def test_missing_event_type() -> None:
    event = make_event("crossing")
    del event["event_type"]
    rej = rejection(event)
    assert [(p.code, p.field) for p in rej.reasons] == [("unknown_event_type", "event_type")]
    assert "missing" in rej.reasons[0].message


@pytest.mark.parametrize("value", ["border_crossing", "", "Crossing", 1, None, ["crossing"]])
def test_unknown_event_type(value: object) -> None:
    rej = rejection(make_event("crossing") | {"event_type": value})
    assert [(p.code, p.field) for p in rej.reasons] == [("unknown_event_type", "event_type")]
    assert "crossing" in rej.reasons[0].message  # lists the known types


@pytest.mark.parametrize("value", [2, 0, "1", 1.0, True, None, DROP])
def test_unknown_schema_version(value: object) -> None:
    rej = rejection(make_event("crossing", schema_version=value))
    assert [(p.code, p.field) for p in rej.reasons] == [
        ("unknown_schema_version", "schema_version")
    ]
    assert "supported: 1" in rej.reasons[0].message


def test_event_type_checked_before_version_and_fields() -> None:
    rej = rejection(make_event("nonsense", schema_version=9, persons="x"))
    assert rej.codes == ("unknown_event_type",)
    rej = rejection(make_event("crossing", schema_version=9, persons="x"))
    assert rej.codes == ("unknown_schema_version",)


def test_every_field_error_is_listed() -> None:
    rej = rejection(make_event("crossing", persons=-1, mode="sea", colour="red", direction=DROP))
    assert {(p.code, p.field) for p in rej.reasons} == {
        ("invalid", "persons"), ("invalid", "mode"), ("invalid", "colour"),
        ("invalid", "direction"),
    }
    assert rej.code == "invalid" and rej.codes == ("invalid",)
    assert len(rej.details().splitlines()) == 4


def test_messages_help_the_station_developer() -> None:
    by_field = {p.field: p.message for p in rejection(make_event(
        "crossing", mode="sea", persons="3", occurred_at="2024-05-01 08:30", direction=DROP,
    )).reasons}
    assert "'road'" in by_field["mode"] and "(got 'sea')" in by_field["mode"]
    assert "integer" in by_field["persons"] and "'3'" in by_field["persons"]
    assert "RFC 3339" in by_field["occurred_at"] and "+05:00" in by_field["occurred_at"]
    assert by_field["direction"] == "required field is missing"


def test_long_inputs_are_truncated_in_messages() -> None:
    rej = rejection(make_event("crossing", mode="x" * 500))
    assert len(rej.reasons[0].message) < 250


def test_detention_name_rejected_without_echoing_it() -> None:
    rej = rejection(make_event("detention", name="Ivan Ivanov"))
    (problem,) = rej.reasons
    assert (problem.code, problem.field) == ("invalid", "name")
    assert "never names" in problem.message
    assert "Ivan" not in str(rej) and "Ivan" not in rej.details()


def test_future_event() -> None:
    just_inside = (NOW + SKEW).isoformat()
    assert parse(make_event("crossing", occurred_at=just_inside, reported_at=just_inside))
    ahead = (NOW + SKEW + timedelta(seconds=1)).isoformat()
    rej = rejection(make_event("crossing", occurred_at=ahead))
    assert [(p.code, p.field) for p in rej.reasons] == [("future_event", "occurred_at")]
    assert "station clock" in rej.reasons[0].message


def test_future_check_uses_the_instant_not_the_wall_clock() -> None:
    # 04:59 at +05:00 is 23:59 UTC of the previous day: in the past
    local = (NOW + timedelta(hours=4, minutes=59)).replace(tzinfo=None).isoformat() + "+05:00"
    assert parse(make_event("crossing", occurred_at=local, reported_at=local))


def test_zero_skew_and_past_events() -> None:
    event = make_event("crossing")
    assert parse_event(event, now=NOW, max_future_skew=timedelta(0))
    with pytest.raises(EventRejected):
        parse_event(event, now=datetime(2024, 5, 1, 3, 29, tzinfo=NOW.tzinfo),
                    max_future_skew=timedelta(0))


def test_invalid_wins_over_future() -> None:
    assert problems(make_event("crossing", occurred_at="2999-01-01T00:00:00Z", persons=-1)) == {
        ("invalid", "persons")
    }


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_event(make_event(), now=datetime(2025, 1, 1), max_future_skew=SKEW)


def test_input_not_mutated() -> None:
    event: dict[str, Any] = make_event("seizure")
    before = repr(event)
    parse(event)
    assert repr(event) == before


def test_problem_and_rejection_shape() -> None:
    p = Problem("invalid", "persons", "boom")
    assert str(p) == "invalid: persons: boom"
    assert str(Problem("not_an_event", "", "x")) == "not_an_event: x"
    with pytest.raises(AttributeError):
        p.code = "other"  # type: ignore[misc]
    rej = EventRejected((p,))
    assert rej.reasons == (p,) and rej.code == "invalid" and str(rej) == "invalid: persons: boom"
    again = pickle.loads(pickle.dumps(rej))
    assert again.reasons == rej.reasons
