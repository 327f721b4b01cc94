"""(a) the in-process chain, no Kafka, no Faust -- the CPU floor -- and the per-event cost
of each step.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from backlog import Backlog

from blo.settings import IngestSettings
from schemas.station import Registry

# (a) calls IngestProcessor.process on takes of at most this many events: a worker's take
# of single-event records (BLO_BATCH_TAKE_MAX records, 5000 by default).
INPROC_CHUNK_EVENTS = 5000


def ingest_policy(ing: IngestSettings) -> Any:
    from streams.ingest import IngestPolicy

    return IngestPolicy.from_settings(ing)


def rows_to_columns(rows: Sequence[tuple[Any, ...]], datetime_idx: Sequence[int]) -> list[list]:
    """What ``sinks.clickhouse.ServerDatabase.insert`` does before handing data to the
    driver: transpose, and DateTime columns → epoch seconds."""
    from sinks.clickhouse import epoch_seconds

    columns = [list(col) for col in zip(*rows, strict=True)]
    for i in datetime_idx:
        columns[i] = [epoch_seconds(v) for v in columns[i]]
    return columns


def _chunks(records: Sequence[Any], n_events: Sequence[int], max_records: int,
            max_events: int) -> list[Sequence[Any]]:
    """Consecutive slices of at most ``max_records`` records and ``max_events`` events
    (a record alone may exceed ``max_events``)."""
    out: list[Sequence[Any]] = []
    start, n_ev = 0, 0
    for i, k in enumerate(n_events):
        if i > start and (i - start >= max_records or n_ev + k > max_events):
            out.append(records[start:i])
            start, n_ev = i, 0
        n_ev += k
    if start < len(records):
        out.append(records[start:])
    return out


def bench_inprocess(backlog: Backlog, take_max: int, sink_rows: int,
                    chunk_events: int = INPROC_CHUNK_EVENTS) -> dict[str, Any]:
    from sinks.clickhouse import _is_datetime
    from sinks.tables import EVENTS
    from streams.ingest import IngestProcessor, RawRecord
    from streams.stages.decode import SourcePos

    registry = Registry(backlog.stations)
    policy = ingest_policy(IngestSettings())
    dt_idx = [i for i, (_, t) in enumerate(EVENTS.columns) if _is_datetime(t)]

    out: dict[str, Any] = {}
    for name, records in (("single", backlog.single), ("batched", backlog.batched)):
        proc = IngestProcessor(registry, policy)
        raw = [RawRecord(v, SourcePos("bench", 0, i)) for i, (_, v) in enumerate(records)]
        n_events = [1 if v[:1] == b"{" else v.count(b'"event_id"') for _, v in records]
        # one process() per take of at most take_max records and chunk_events events: the
        # batch of single-event records a worker takes; one call over all 200k events of
        # the batched backlog would mostly measure the garbage collector walking them.
        chunks = _chunks(raw, n_events, take_max, chunk_events)
        gc.collect()
        gc.freeze()  # the backlog is the bench's, not the worker's: keep GC off it
        t_proc = t_cols = 0.0
        n_rows = n_dead = 0
        pending: list[tuple[Any, ...]] = []
        c0 = time.process_time()
        t0 = time.perf_counter()
        for i, part in enumerate(chunks):
            a = time.perf_counter()
            outcome = proc.finish(proc.prepare(part, datetime.now(UTC)), {})  # nothing stored
            b = time.perf_counter()
            t_proc += b - a
            n_rows += len(outcome.event_rows)
            n_dead += len(outcome.dead_letters)
            pending.extend(outcome.event_rows)
            last = i == len(chunks) - 1
            while len(pending) >= sink_rows or (pending and last):
                rows, pending = pending[:sink_rows], pending[sink_rows:]
                rows_to_columns(rows, dt_idx)
            t_cols += time.perf_counter() - b
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        gc.unfreeze()
        if n_rows != backlog.n_events or n_dead:
            raise SystemExit(f"(a) {name}: {n_rows} rows, {n_dead} dead letters "
                             f"for {backlog.n_events} events -- the backlog is not clean")
        out[name] = {
            "records": len(records), "events": n_rows, "wall_s": wall, "cpu_s": cpu,
            "rate": n_rows / wall, "process_us": t_proc / n_rows * 1e6,
            "columns_us": t_cols / n_rows * 1e6, "calls": len(chunks),
        }
    out["stages"] = stage_breakdown(backlog, registry, policy)
    return out


def stage_breakdown(backlog: Backlog, registry: Registry, policy: Any,
                    sample: int = 20000) -> dict[str, float]:
    """µs per event of each per-event step, on a sample, one at a time (single core)."""
    values = [v for _, v in backlog.single[:sample]]
    now = datetime.now(UTC)
    gc.collect()
    gc.freeze()  # as the worker does (blo.worker): the collector does not walk the backlog
    try:
        return _stages(values, backlog, registry, policy, now)
    finally:
        gc.unfreeze()


def _stages(values: list[bytes], backlog: Backlog, registry: Registry, policy: Any,
            now: datetime) -> dict[str, float]:
    from schemas.identity import canonical_json_and_hash
    from schemas.parse import parse_event, parse_valid_json
    from streams.stages.decode import SourcePos, decode_record
    from streams.stages.rows import event_row

    skew = policy.max_future_skew
    res: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any], n_events: int = len(values)) -> Any:
        best, r = float("inf"), None
        for _ in range(3):  # the machine is noisy: the best of three
            t = time.perf_counter()
            r = fn()
            best = min(best, time.perf_counter() - t)
        res[name] = best / n_events * 1e6
        return r

    objs = timed("decode_record (orjson)",
                 lambda: [decode_record(v, policy.max_record_bytes)[0] for v in values])
    events = timed("parse_event (pydantic)",
                   lambda: [parse_event(o, now=now, max_future_skew=skew) for o in objs])
    # a clean batched record's fast path: parsed and validated from its bytes in one pass
    # (what replaces decode_record + parse_event for such a record)
    batched = [v for _, v in backlog.batched[: max(1, len(values) // 100)]]
    n_batched = sum(len(parse_valid_json(v, now=now, max_future_skew=skew) or ())
                    for v in batched)
    if n_batched:  # a backlog without clean batched records has no fast path to time
        timed("parse_valid_json (batched records)",
              lambda: [parse_valid_json(v, now=now, max_future_skew=skew) for v in batched],
              n_batched)
    stations = timed("registry lookup",
                     lambda: [registry.lookup(e.station_id, e.occurred_at) for e in events])
    hashed = timed("canonical_json_and_hash", lambda: [canonical_json_and_hash(e) for e in events])
    src = SourcePos("bench", 0, 0)
    timed("event_row", lambda: [
        event_row(e, s, body_hash=h, payload=p, ingested_at=now, source=src,
                  tablet_mass_mg=policy.tablet_mass_mg)
        for e, s, (p, h) in zip(events, stations, hashed, strict=True)])
    return res
