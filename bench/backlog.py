"""The backlog every measurement runs over: simulated events, one per record and batched,
and how it is put on a topic.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from blo.sdk.batching import record_value
from blo.simulate import TrafficGenerator, seed_stations
from schemas.identity import derive_event_id
from schemas.station import StationRecord


@dataclass
class Backlog:
    stations: list[StationRecord]
    single: list[tuple[bytes, bytes]]  # (key, value): one event per record
    batched: list[tuple[bytes, bytes]]  # (key, JSON array of events of one station)
    n_events: int
    mean_event_bytes: float


def _past_events(stations: list[StationRecord], n: int, span_h: float,
                 seed: int) -> list[dict[str, Any]]:
    """``n`` simulated events ending about 2 h ago. The generator's rate is a weekly
    average shaped by the stations' local hour, so ``n`` events may span more or less than
    ``span_h``: when they would reach past 2 h ago (into the future, which the worker
    dead-letters), start earlier by the overshoot and generate again."""
    end = datetime.now(UTC) - timedelta(hours=2)
    start = end - timedelta(hours=span_h)
    for _ in range(4):
        gen = TrafficGenerator(stations, rate=n / (span_h * 3600), seed=seed, start=start)
        events = list(gen.events(n))
        last = max(datetime.fromisoformat(e["occurred_at"]) for e in events)
        if last <= end:
            return events
        start -= (last - end) + timedelta(minutes=10)
    return events


def make_backlog(n: int, batch_events: int, seed: int = 7) -> Backlog:
    stations = seed_stations()
    span_h = 20.0  # occurred_at between ~22 h and ~2 h ago
    events = _past_events(stations, n, span_h, seed)
    single: list[tuple[bytes, bytes]] = []
    per_station: dict[str, list[bytes]] = defaultdict(list)
    batched: list[tuple[bytes, bytes]] = []
    for e in events:
        sid = e["station_id"]
        e["event_id"] = str(derive_event_id(sid, e["source_seq"]))
        value = orjson.dumps(e)
        key = sid.encode()
        single.append((key, value))
        run = per_station[sid]
        run.append(value)
        if len(run) >= batch_events:
            batched.append((key, record_value(run)))
            per_station[sid] = []
    for sid, run in per_station.items():
        if run:
            batched.append((sid.encode(), record_value(run)))
    mean = sum(len(v) for _, v in single) / len(single)
    return Backlog(stations, single, batched, len(single), mean)


def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> float:
    """Send all records (gzip, large batches) and wait for the acknowledgements; seconds."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, compression_type="gzip",
                      linger_ms=50, batch_size=1 << 20, max_request_size=8 << 20,
                      client_id="blo-bench")
    t = time.perf_counter()
    try:
        for k, v in records:
            p.send(topic, key=k, value=v)
        p.flush(timeout=300)
    finally:
        p.close()
    return time.perf_counter() - t
