"""The fast path (:func:`schemas.parse.parse_valid_json`) against the element-wise path.

Whatever the fast path accepts, decoding the record and :func:`schemas.parse.parse_event` on
each element must accept too, as equal events with the same canonical JSON and body hash.
Checked on every event type, with every value of every field (at any depth) replaced in
turn by values that JSON parsers or validation modes are known to read differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from schemas.events import Event
from schemas.identity import canonical_json_and_hash, derive_event_id
from schemas.parse import EventRejected, parse_event, parse_valid_json
from tests.unit.schemas.factories import EVENT_TYPE_NAMES, NOW, SKEW, make_event

_UUID = "6f1c2f0e-8d7b-5a3c-9e1d-2b4a6c8e0f13"


class Raw:
    """A JSON literal written as is (``json.dumps`` cannot write it)."""

    def __init__(self, text: str) -> None:
        self.text = text


# Values JSON parsers (orjson, pydantic's) or validation modes (Python, JSON) may read
# differently: number forms and ranges, non-finite numbers, booleans for numbers, every
# date-time and UUID form pydantic's own parsers take, strings of numbers, containers.
TRICKY: list[Any] = [
    None, True, False, 0, 1, -1, 2, 1.0, 0.5, -0.0, 12.4, 2**31, 2**32, 2**53 + 1, 2**63,
    2**64 - 1, 2**64, 2**70, -(2**63) - 1, 1e-7, 5e-324, 1.7976931348623157e308,
    float("nan"), float("inf"), float("-inf"), Raw("1e400"), Raw("-1e400"), Raw("1E2"),
    Raw("1.0e0"), Raw("-0"), "", "x", "1", "1.0", "true", "NaN",
    "2024-05-01T03:30:00Z", "2024-05-01T03:30Z", "2024-05-01 03:30:00Z",
    "2024-05-01t03:30:00z", "2024-05-01T03:30:00.1234567891Z", "2024-05-01T03:30:00+0500",
    "2024-05-01T08:30:00+05:00", "2024-05-01", "2024-05-01T03:30:00", "1714534200",
    _UUID, _UUID.upper(), _UUID.replace("-", ""), "{" + _UUID + "}", "urn:uuid:" + _UUID,
    "TJ", "tj", "XX", "kg", "heroin", "inbound", "vehicle", "18_24", "é", "a\u0000b",
    [], ["UZ"], [1], [_UUID], [{"country": "TJ", "count": 1}], {}, {"male": 1},
    {"18_24": 1}, {"country": "TJ", "count": 1.0},
]


def _void() -> dict[str, Any]:
    return make_event("void", revision=1, correction_reason="entered twice")


def _revision(event_type: str) -> dict[str, Any]:
    return make_event(event_type, revision=2, correction_reason="laboratory weight")


def _bases() -> list[dict[str, Any]]:
    return [*(make_event(t) for t in EVENT_TYPE_NAMES), _void(), _revision("seizure")]


def _dumps(obj: Any) -> bytes:
    raws: list[str] = []

    def mark(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(obj), ensure_ascii=False)  # writes NaN and Infinity
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@raw{i}@@"', raw)
    return text.encode()


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index path of a decoded JSON value, containers included."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _replaced(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = json.loads(json.dumps(obj))
    node = out
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out


def _element_wise(value: bytes) -> list[Event] | None:
    """What the ingest's element-wise path makes of a record: its events when every element
    is valid, None otherwise."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    elements = [doc] if isinstance(doc, dict) else doc
    if not isinstance(elements, list) or not elements:
        return None
    try:
        return [parse_event(e, now=NOW, max_future_skew=SKEW) for e in elements]
    except EventRejected:
        return None


def _assert_agrees(value: bytes) -> list[Event] | None:
    fast = parse_valid_json(value, now=NOW, max_future_skew=SKEW)
    if fast is None:
        return None
    slow = _element_wise(value)
    assert slow is not None, f"the fast path accepted what parse_event refuses: {value!r}"
    assert fast == slow
    # repr, not only ==: a StrEnum member equals its plain string, a TzInfo equals a timezone
    assert repr(fast) == repr(slow)
    assert [canonical_json_and_hash(e) for e in fast] == \
        [canonical_json_and_hash(e) for e in slow]
    return fast


def test_a_valid_record_takes_the_fast_path_with_the_same_events() -> None:
    bases = _bases()
    for base in bases:
        assert _assert_agrees(_dumps(base)) is not None  # one event object
    batch = _assert_agrees(_dumps(bases))  # an array of every type
    assert batch is not None and [e.event_type for e in batch] == [b["event_type"] for b in bases]
    # pretty-printed, and with white space after it, the same
    assert _assert_agrees(json.dumps(bases, indent=2).encode() + b"\n ") == batch


@pytest.mark.parametrize("base", _bases(), ids=lambda b: f"{b['event_type']}-r{b.get('revision', 0)}")
def test_every_field_replaced_by_every_tricky_value(base: dict[str, Any]) -> None:
    taken = refused = 0
    for path in list(_paths(base)):
        for value in TRICKY:
            event = _replaced(base, path, value)
            for record in (_dumps(event), _dumps([base, event])):
                if _assert_agrees(record) is None:
                    refused += 1
                else:
                    taken += 1
        dropped = json.loads(json.dumps(base))
        node = dropped
        for p in path[:-1]:
            node = node[p]
        del node[path[-1]]
        _assert_agrees(_dumps(dropped))
    assert taken and refused  # both sides of the path were exercised


def test_escapes_and_bytes_read_alike() -> None:
    base = _dumps(make_event("count_report"))
    verdicts: list[bool] = []
    for old, new in ((b'"persons"', b'"\\u0070ersons"'), (b'"persons"', b'"pers\\u00f6ns"'),
                     (b'"persons"', "\"persöns\"".encode()),
                     (b'"persons"', b'"pers\\u0000ns"'), (b'"persons"', b'"pers\\/ns"'),
                     (b'"persons"', b'"\\ud83d\\ude00"'), (b'"persons"', b'"\\ude00\\ud83d"'),
                     (b'"persons"', b'"pers\xffns"'), (b'"persons"', b'"pers\xc3ns"'),
                     (b'"persons"', b'"pers\xed\xa0\x80ns"'), (b'"persons"', b'"pers\tns"')):
        record = base.replace(old, new)
        assert record != base
        verdicts.append(_assert_agrees(record) is not None)
    assert any(verdicts) and not all(verdicts)  # measure and unit are free text (Label)
    # an escaped key is the key it spells, in both parsers
    assert _assert_agrees(base.replace(b'"measure"', b'"me\\u0061sure"')) is not None


@pytest.mark.parametrize("text", ["1.0", "true", "1e0", "1.", '"1"', "01", "-0", "1E0"])
def test_schema_version_written_other_than_the_integer_1(text: str) -> None:
    record = _dumps(make_event("crossing")).replace(b'"schema_version": 1', b'"schema_version": ' + text.encode())
    assert record != _dumps(make_event("crossing"))
    assert parse_valid_json(record, now=NOW, max_future_skew=SKEW) is None
    assert _element_wise(record) is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_that_orjson_refuses(literal: str) -> None:
    for field in ("quantity", "purity_pct", "source_seq", "persons_arrested"):
        record = _dumps(make_event("seizure", **{field: Raw(literal)}))
        assert parse_valid_json(record, now=NOW, max_future_skew=SKEW) is None
        assert _element_wise(record) is None


def test_duplicate_keys_read_alike() -> None:
    base = _dumps(make_event("seizure"))
    for dup in (b'{"quantity": 1.5, ', b'{"drug": "not a drug", ', b'{"quantity": -1, '):
        record = dup + base[1:]  # the first of two copies of a key: the last one counts
        assert _assert_agrees(record) is not None
    # the discriminator itself twice: the last one selects the model, in both parsers
    crossing = _dumps(make_event("crossing"))
    assert _assert_agrees(b'{"event_type": "seizure", ' + crossing[1:]) is not None
    assert parse_valid_json(crossing.replace(b'"event_type": "crossing"',
                                             b'"event_type": "crossing", "event_type": "void"'),
                            now=NOW, max_future_skew=SKEW) is None
    nested = _dumps(make_event("detention")).replace(
        b'{"country": "TJ", "count": 2}', b'{"country": "TJ", "count": 7, "count": 2}')
    assert _assert_agrees(nested) is not None


def test_records_it_leaves_to_the_element_wise_path() -> None:
    valid = _dumps(make_event("crossing"))
    future = _dumps(make_event("crossing", occurred_at=(NOW + SKEW + timedelta(seconds=1))
                               .isoformat()))
    for record in (b" " + valid, b"[]", b"[" + valid + b", 1]", b"1", b'"x"', b"null",
                   valid + b"x", valid[:-1], b"\xef\xbb\xbf" + valid, future,
                   _dumps([make_event("crossing"), make_event("no_such_type")]),
                   _dumps(make_event("count_report")).replace(b'"persons"', b'"pers\\ud800"')):
        assert parse_valid_json(record, now=NOW, max_future_skew=SKEW) is None, record
    assert parse_valid_json(valid, now=NOW, max_future_skew=SKEW) is not None


def test_a_derived_event_id_round_trips() -> None:
    events = parse_valid_json(_dumps(make_event("incident", source_seq=7,
                                                event_id=str(derive_event_id("KZ-KORDAI", 7)))),
                              now=NOW, max_future_skew=SKEW)
    assert events is not None and events[0].event_id == derive_event_id("KZ-KORDAI", 7)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_valid_json(b"{}", now=NOW.replace(tzinfo=None), max_future_skew=SKEW)
