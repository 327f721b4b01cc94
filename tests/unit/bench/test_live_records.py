"""The live bench's events: each station's source_seq continues its backlog's, no gaps."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from live_bench import last_seqs, live_records

from blo.simulate import seed_stations
from schemas.identity import derive_event_id


def test_last_seqs_reads_single_events_and_arrays() -> None:
    recs = [(b"A", orjson.dumps({"station_id": "A", "source_seq": 5})),
            (b"B", orjson.dumps([{"station_id": "B", "source_seq": 9},
                                 {"station_id": "B", "source_seq": 11}])),
            (b"A", orjson.dumps({"station_id": "A", "source_seq": 3}))]
    assert last_seqs(recs) == {"A": 5, "B": 11}


def test_live_events_continue_each_stations_numbers_without_a_gap() -> None:
    stations = seed_stations()
    next_seq = {s.station_id: 1000 for s in stations}
    first = live_records(stations, 300, seed=1, span_s=10, next_seq=next_seq)
    second = live_records(stations, 300, seed=2, span_s=10, next_seq=next_seq)
    seqs: dict[str, list[int]] = defaultdict(list)
    for key, value in first + second:
        e = orjson.loads(value)
        assert key.decode() == e["station_id"]
        assert e["event_id"] == str(derive_event_id(e["station_id"], e["source_seq"]))
        seqs[e["station_id"]].append(e["source_seq"])
    for numbers in seqs.values():
        assert numbers == list(range(1000, 1000 + len(numbers)))


def test_without_next_seq_the_generators_own_numbers_are_kept() -> None:
    stations = seed_stations()
    recs = live_records(stations, 50, seed=1, span_s=10, next_seq=None)
    assert all(orjson.loads(v)["source_seq"] > 1 << 20 for _, v in recs)
