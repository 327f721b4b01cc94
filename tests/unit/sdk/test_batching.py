from __future__ import annotations

import orjson

from blo.sdk.batching import first_per_station, group_records, record_value
from blo.sdk.buffer import BufferedEvent


def ev(seq: int, station: str = "A", size: int = 0) -> BufferedEvent:
    body = {"station_id": station, "source_seq": seq, "pad": "x" * size}
    return BufferedEvent(seq, station, orjson.dumps(body))


def decoded(value: bytes) -> list[int]:
    obj = orjson.loads(value)
    items = obj if isinstance(obj, list) else [obj]
    return [e["source_seq"] for e in items]


def test_single_event_is_a_plain_object_several_are_an_array() -> None:
    assert isinstance(orjson.loads(record_value([ev(1).payload])), dict)
    assert orjson.loads(record_value([ev(1).payload, ev(2).payload]))[1]["source_seq"] == 2
    [one] = group_records([ev(7)], max_events=10, max_bytes=10_000)
    assert one.value == ev(7).payload and one.seqs == (7,)


def test_groups_one_station_up_to_max_events() -> None:
    records = group_records([ev(i) for i in range(1, 12)], max_events=5, max_bytes=1 << 20)
    assert [r.seqs for r in records] == [(1, 2, 3, 4, 5), (6, 7, 8, 9, 10), (11,)]
    assert [decoded(r.value) for r in records] == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11]]
    assert all(r.key == b"A" for r in records)


def test_record_value_never_exceeds_max_bytes() -> None:
    events = [ev(i, size=100) for i in range(10, 49)]  # same-length payloads
    max_bytes = 3 * len(events[0].payload) + 4  # exactly three per array: 3 + 2 commas + []
    records = group_records(events, max_events=1000, max_bytes=max_bytes)
    assert all(len(r.value) <= max_bytes for r in records)
    assert [r.count for r in records][:-1] == [3] * (len(records) - 1)
    assert [s for r in records for s in r.seqs] == list(range(10, 49))


def test_an_event_larger_than_max_bytes_travels_alone() -> None:
    big = ev(2, size=5000)
    records = group_records([ev(1), big, ev(3)], max_events=100, max_bytes=1000)
    assert [r.seqs for r in records] == [(1,), (2,), (3,)]
    assert records[1].value == big.payload


def test_interleaved_stations_are_grouped_per_station_in_order() -> None:
    rows = [ev(1, "A"), ev(2, "B"), ev(3, "A"), ev(4, "C"), ev(5, "B"), ev(6, "A")]
    records = group_records(rows, max_events=100, max_bytes=1 << 20)
    assert [(r.station_id, r.seqs) for r in records] == [
        ("A", (1, 3, 6)), ("B", (2, 5)), ("C", (4,)),
    ]
    for r in records:  # each record holds one station only
        assert {e["station_id"] for e in orjson.loads(r.value if r.count > 1 else
                b"[" + r.value + b"]")} == {r.station_id}


def test_records_of_one_station_stay_in_order_when_split() -> None:
    rows = [ev(i, "AB"[i % 2]) for i in range(1, 21)]
    records = group_records(rows, max_events=3, max_bytes=1 << 20)
    for station in "AB":
        seqs = [s for r in records if r.station_id == station for s in r.seqs]
        assert seqs == sorted(seqs) and len(seqs) == 10
    assert [r.first_seq for r in records] == sorted(r.first_seq for r in records)


def test_one_record_per_station_may_be_in_flight() -> None:
    rows = [ev(1, "A"), ev(2, "B"), ev(3, "A"), ev(4, "A"), ev(5, "C")]
    records = group_records(rows, max_events=2, max_bytes=1 << 20)
    assert [(r.station_id, r.seqs) for r in records] == [
        ("A", (1, 3)), ("B", (2,)), ("A", (4,)), ("C", (5,)),
    ]
    heads = first_per_station(records)
    assert [(r.station_id, r.seqs) for r in heads] == [("A", (1, 3)), ("B", (2,)), ("C", (5,))]
