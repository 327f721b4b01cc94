import base64
import hashlib
from datetime import UTC, datetime

import orjson

from sinks.tables import DLQ
from streams.dead_letters import DeadLetter, describe_element, dlq_message, dlq_row
from streams.decode import SourcePos

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
