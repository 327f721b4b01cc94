import base64
import hashlib
import json
from datetime import UTC, datetime

import orjson

from sinks.tables import DLQ
from streams.dead_letters import (
    REDACTED,
    WITHHELD_NOTE,
    DeadLetter,
    describe_element,
    dlq_message,
    dlq_row,
    withhold,
)
from streams.ingest import RawRecord
from streams.stages.decode import SourcePos
from tests.unit.streams.test_ingest import event, processor, record, run

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_dl(payload: bytes, index: int = -1, offset: int = 7) -> DeadLetter:
    return DeadLetter(reasons=("invalid", "future_event"), details=("a: bad", "b: worse"),
                      payload=payload, source=SourcePos("raw", 2, offset), element_index=index,
                      failed_at=NOW, station_id="KZ-KORDAI", event_type="crossing", event_id="x")


def test_row_matches_the_table_contract_and_keeps_all_reasons() -> None:
    row = dlq_row(make_dl(b'{"a": 1}'), payload_limit=1000)
    assert len(row) == len(DLQ.columns)
    r = dict(zip(DLQ.column_names, row, strict=True))
    assert r["reason"] == "invalid" and r["reasons"] == ["invalid", "future_event"]
    assert r["details"] == "a: bad\nb: worse"
    assert (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) == ("raw", 2, 7)
    assert r["payload"] == '{"a": 1}' and r["payload_truncated"] == 0


def test_large_payloads_are_truncated_with_size_and_hash_of_the_whole() -> None:
    payload = b"x" * 5000
    r = dict(zip(DLQ.column_names, dlq_row(make_dl(payload), 100), strict=True))
    assert len(r["payload"]) == 100 and r["payload_truncated"] == 1
    assert r["payload_size"] == 5000
    assert r["payload_sha256"] == hashlib.sha256(payload).hexdigest()


def test_non_utf8_payload_is_kept_as_base64() -> None:
    payload = b"\xff\xfe\x00garbage"
    r = dict(zip(DLQ.column_names, dlq_row(make_dl(payload), 1000), strict=True))
    assert r["payload_encoding"] == "base64"
    assert base64.b64decode(r["payload"]) == payload


def test_truncation_never_splits_a_utf8_character() -> None:
    payload = ("é" * 100).encode()
    r = dict(zip(DLQ.column_names, dlq_row(make_dl(payload), 51), strict=True))
    assert r["payload_encoding"] == "utf-8" and r["payload"] == "é" * 25


def test_dlq_id_is_stable_per_source_position() -> None:
    assert make_dl(b"a").dlq_id == make_dl(b"b").dlq_id  # same position, redelivered
    assert make_dl(b"a", offset=8).dlq_id != make_dl(b"a").dlq_id
    assert make_dl(b"a", index=1).dlq_id != make_dl(b"a", index=2).dlq_id


def test_topic_message_carries_the_same_facts() -> None:
    key, value = dlq_message(make_dl(b'{"a": 1}', index=3), 1000)
    d = orjson.loads(value)
    assert key == b"KZ-KORDAI"
    assert d["reasons"] == ["invalid", "future_event"]
    assert d["source"] == {"topic": "raw", "partition": 2, "offset": 7, "element_index": 3}
    assert d["payload"] == '{"a": 1}' and d["payload_encoding"] == "utf-8"


def test_describe_element_reads_ids_only_from_strings() -> None:
    assert describe_element({"station_id": "KZ-X", "event_type": 5}) == ("KZ-X", "", "")
    assert describe_element([1, 2]) == ("", "", "")


# -- personal data is never kept ---------------------------------------------------------
NAME = "Ivan Petrovich Sidorov"


def _detention(**extra: object) -> dict[str, object]:
    return event("KZ-KORDAI", "detention", **extra)


def _everything_kept(dl: DeadLetter, limit: int = 65536) -> str:
    """Every byte of the dead letter that leaves the worker: its row and its topic record."""
    key, value = dlq_message(dl, limit)
    return repr(dlq_row(dl, limit)) + key.decode() + value.decode()


def test_withhold_redacts_values_at_any_depth_and_renames_keys() -> None:
    obj = {"a": 1, "names": [NAME], "list": [{"x": 1, "name": NAME}], "bands": {NAME: 2}}
    out = orjson.loads(withhold(obj, [("names",), ("list", 0, "name"), ("bands", NAME, "[key]")]))
    assert out == {"a": 1, "names": REDACTED, "list": [{"x": 1, "name": REDACTED}],
                   "bands": {"[redacted key 1]": 2}}
    assert obj["names"] == [NAME]  # the input is not changed
    # a path that leads nowhere redacts the deepest part it reaches: nothing unknown is kept
    assert orjson.loads(withhold(obj, [("list", 5, "name")]))["list"] == REDACTED
    assert orjson.loads(withhold([NAME], [("x",)])) == REDACTED


def test_a_single_event_refused_for_fields_it_does_not_have_keeps_no_value_of_them() -> None:
    e = _detention(names=[NAME, "Anna Ivanova"], suspect={"name": NAME, "dob": "1990-01-01"})
    e["nationalities"] = [{"country": "TJ", "count": 2, "full_name": NAME},
                          {"country": "AF", "count": 1}]
    e["age_bands"] = {NAME: 1, "25_34": 2}
    out = run(processor(), [record(e)])
    (dl,) = out.dead_letters
    assert set(dl.reasons) == {"invalid"} and dl.element_index == 0
    assert dl.station_id == "KZ-KORDAI" and dl.event_type == "detention"
    kept = _everything_kept(dl)
    assert NAME not in kept and "Anna" not in kept and "1990" not in kept
    # the reason and the field names are kept, and the note says what to do
    fields = {line.split(":")[0] for line in dl.details}
    assert {"names", "suspect", "nationalities.0.full_name", "age_bands.[key]"} <= fields
    assert dl.details[-1] == WITHHELD_NOTE and "send it again" in WITHHELD_NOTE
    # the payload is the event with those values replaced, everything else intact
    stored = orjson.loads(dl.payload)
    assert stored["names"] == REDACTED and stored["suspect"] == REDACTED
    assert stored["nationalities"] == [{"country": "TJ", "count": 2, "full_name": REDACTED},
                                       {"country": "AF", "count": 1}]
    assert stored["age_bands"] == {"[redacted key 1]": 1, "25_34": 2}
    assert {k: v for k, v in stored.items()
            if k not in ("names", "suspect", "nationalities", "age_bands")} == {
        k: v for k, v in e.items() if k not in ("names", "suspect", "nationalities", "age_bands")}
    # size and SHA-256 are those of what is stored
    r = dict(zip(DLQ.column_names, dlq_row(dl, 65536), strict=True))
    assert r["payload_size"] == len(dl.payload)
    assert r["payload_sha256"] == hashlib.sha256(dl.payload).hexdigest()
    assert r["payload"].encode() == dl.payload and r["payload_truncated"] == 0


def test_size_and_hash_cannot_confirm_a_guessed_name() -> None:
    """Two events that differ only in the name give byte-identical dead letters."""
    base = _detention()
    a = run(processor(), [record({**base, "name": NAME})]).dead_letters[0]
    b = run(processor(), [record({**base, "name": "X"})]).dead_letters[0]
    ra, rb = (dict(zip(DLQ.column_names, dlq_row(d, 65536), strict=True)) for d in (a, b))
    for col in ("payload", "payload_size", "payload_sha256", "details", "reasons"):
        assert ra[col] == rb[col], col
    assert ra["payload_sha256"] != hashlib.sha256(
        json.dumps({**base, "name": NAME}).encode()).hexdigest()


def test_batched_records_redact_each_element_and_keep_the_good_ones() -> None:
    good, named, nested = (_detention(), _detention(name=NAME),
                           _detention(sex={"male": 2, "female": 1, "unknown": 0,
                                           "names": {"male": [NAME]}}))
    out = run(processor(), [record([good, named, nested])])
    assert len(out.event_rows) == 1
    by_index = {d.element_index: d for d in out.dead_letters}
    assert set(by_index) == {1, 2}
    for d in by_index.values():
        assert NAME not in _everything_kept(d) and d.reason == "invalid"
    assert orjson.loads(by_index[1].payload)["name"] == REDACTED
    assert orjson.loads(by_index[2].payload)["sex"] == {"male": 2, "female": 1, "unknown": 0,
                                                        "names": REDACTED}
    assert "sex.names: unknown field" in by_index[2].details[0]


def test_events_refused_before_validation_keep_only_fields_some_event_type_has() -> None:
    newer = _detention(schema_version=2, names=[NAME])
    unknown = {**_detention(name=NAME), "event_type": "arrest"}
    out = run(processor(), [record(newer), record([unknown])])
    assert [d.reason for d in out.dead_letters] == ["unknown_schema_version",
                                                    "unknown_event_type"]
    for d in out.dead_letters:
        assert NAME not in _everything_kept(d)
        stored = orjson.loads(d.payload)
        assert stored["station_id"] == "KZ-KORDAI" and stored["persons"] == 3
    assert orjson.loads(out.dead_letters[0].payload)["names"] == REDACTED
    assert orjson.loads(out.dead_letters[1].payload)["name"] == REDACTED


def test_a_large_refused_event_is_redacted_before_it_is_truncated() -> None:
    """The limit cuts the redacted payload; a cut JSON text never has to be read again."""
    e = _detention(name=NAME * 2000)  # ~44 kB of name
    (dl,) = run(processor(), [record(e)]).dead_letters
    r = dict(zip(DLQ.column_names, dlq_row(dl, 100), strict=True))
    assert r["payload_truncated"] == 1 and len(r["payload"]) == 100
    assert r["payload_size"] == len(dl.payload) < 1000  # the redacted event's size
    assert r["payload_sha256"] == hashlib.sha256(dl.payload).hexdigest()
    assert "Ivan" not in _everything_kept(dl, 100)


def test_other_invalid_events_are_kept_as_sent() -> None:
    raw = json.dumps(_detention(persons="three")).encode()
    (dl,) = run(processor(), [RawRecord(raw, SourcePos("raw", 0, 1))]).dead_letters
    assert dl.payload == raw and WITHHELD_NOTE not in dl.details
    # an object given where a list is expected is not echoed into the details
    (dl,) = run(processor(), [record(_detention(nationalities={"name": NAME}))]).dead_letters
    assert NAME not in "\n".join(dl.details) and "got an object" in dl.details[0]
