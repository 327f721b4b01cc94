"""The dead-letter guard's stop: the batch that trips it is written first, dead letters and
all (issue 13: a stop left 0 rows in ``dlq``), and one failing station among working ones
stops nothing.

Real :class:`IngestRuntime`, :class:`BatchingSink`, ingest step and guard over the in-memory
database."""

from __future__ import annotations

import asyncio
import json

from blo.metrics import Metrics
from blo.settings import BatchSettings
from sinks.batching import BatchingSink
from sinks.memory import MemoryDatabase
from streams.guard import DlqFloodError, DlqGuard
from streams.ingest import RawRecord
from streams.runtime import IngestRuntime
from streams.stages.decode import SourcePos
from tests.unit.streams.test_ingest import TOPIC, event, processor


async def _run(values: list[bytes], close: bool = False) -> tuple[MemoryDatabase, list[bytes], list[BaseException],
                                              list[int]]:
    db = MemoryDatabase()
    metrics = Metrics()
    sink = BatchingSink(db, BatchSettings(sink_max_age_s=30), metrics)  # only flushes write
    sink.start()
    produced: list[bytes] = []
    fatal: list[BaseException] = []
    acked: list[int] = []

    async def produce(topic: str, key: bytes, value: bytes) -> None:
        produced.append(value)

    async def acker(rec: RawRecord) -> None:
        acked.append(rec.source.offset)

    rt = IngestRuntime(
        processor=processor(hold_max_events=0), sink=sink, db=db,
        metrics=metrics, guard=DlqGuard(0.9, 50), produce=produce, dlq_topic="dlq",
        raw_topic=TOPIC, dlq_payload_limit=4096, on_fatal=fatal.append)
    rt.registry_ready.set()
    take = [RawRecord(v, SourcePos(TOPIC, 0, i)) for i, v in enumerate(values)]
    await rt.handle(take, acker)
    if close:
        await sink.close()
    return db, produced, fatal, acked


def test_the_tripping_batch_is_written_before_the_stop() -> None:
    garbage = [f"not json {i} {{".encode() for i in range(80)]
    db, produced, fatal, acked = asyncio.run(_run(garbage))
    assert len(fatal) == 1 and isinstance(fatal[0], DlqFloodError)
    assert "(no station id) (80 of 80: not_json 80)" in str(fatal[0])
    assert len(db.rows("dlq")) == 80  # in the table already, not just buffered
    assert len(produced) == 80  # and on the DLQ topic
    assert acked == list(range(80))


def test_one_failing_station_among_working_ones_stops_nothing() -> None:
    good = [json.dumps(event("KZ-KORDAI")).encode() for _ in range(10)]
    ghosts = [json.dumps(event("UZ-GHOST")).encode() for _ in range(200)]
    db, produced, fatal, acked = asyncio.run(_run(good + ghosts, close=True))
    assert fatal == []
    assert len(db.rows("events")) == 10 and len(produced) == 200
    assert len(db.rows("dlq")) == 200 and acked == list(range(210))
