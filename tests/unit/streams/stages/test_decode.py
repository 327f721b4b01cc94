from streams.stages.decode import RecordProblem, decode_record


def test_single_object_is_one_candidate() -> None:
    assert decode_record(b'{"a": 1}', 1000) == [{"a": 1}]


def test_array_is_a_batch_of_candidates() -> None:
    assert decode_record(b'[{"a": 1}, {"b": 2}, 3]', 1000) == [{"a": 1}, {"b": 2}, 3]


def test_too_large_is_checked_before_parsing() -> None:
    big = b'{"x": "' + b"a" * 2000 + b'"}'
    p = decode_record(big, 1000)
    assert isinstance(p, RecordProblem) and p.code == "too_large"
    assert str(len(big)) in p.message


def test_not_utf8_is_distinguished_from_not_json() -> None:
    p = decode_record(b'{"station_id": "\xff\xfe"}', 1000)
    assert isinstance(p, RecordProblem) and p.code == "not_utf8"
    q = decode_record(b'{"station_id": "KZ-', 1000)
    assert isinstance(q, RecordProblem) and q.code == "not_json"


def test_scalars_null_and_empty_arrays_are_not_events() -> None:
    for raw in (b"42", b'"text"', b"null", b"[]"):
        p = decode_record(raw, 1000)
        assert isinstance(p, RecordProblem) and p.code == "not_an_event", raw
    p = decode_record(None, 1000)
    assert isinstance(p, RecordProblem) and p.code == "not_an_event"
