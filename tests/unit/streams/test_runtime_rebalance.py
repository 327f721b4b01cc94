"""A rebalance in the middle of a take: the rest of the take is left for the new owner.

Real :class:`IngestRuntime`, :class:`BatchingSink` and ingest step over the in-memory
database; the take is cut into one-record slices so the revoke can land between two."""

from __future__ import annotations

import asyncio
import json

from blo.metrics import Metrics
from blo.settings import BatchSettings
from sinks.batching import BatchingSink
from sinks.memory import MemoryDatabase
from sinks.tables import EVENTS
from streams.guard import DlqGuard
from streams.ingest import RawRecord
from streams.runtime import IngestRuntime
from streams.stages.decode import SourcePos
from tests.unit.streams.test_ingest import TOPIC, event, processor


async def _no_produce(topic: str, key: bytes, value: bytes) -> None:
    raise AssertionError("nothing is dead-lettered here")


def _runtime(db: MemoryDatabase) -> IngestRuntime:
    metrics = Metrics()
    sink = BatchingSink(db, BatchSettings(sink_max_age_s=0.05), metrics)
    sink.start()
    rt = IngestRuntime(
        processor=processor(), sink=sink, db=db, metrics=metrics, guard=DlqGuard(0.95, 2000),
        produce=_no_produce, dlq_topic="dlq", raw_topic=TOPIC, dlq_payload_limit=4096,
        on_fatal=lambda e: None, slice_max_bytes=1,  # one record per slice
    )
    rt.registry_ready.set()
    rt.assigned = {(TOPIC, 0)}
    return rt


async def _handle_take(revoke: bool) -> tuple[list[int], list[str], list[str], int]:
    """Ten events in one take of one-record slices; with ``revoke``, partition 0 is revoked
    while the first slice is being processed. Returns (acknowledged offsets, stored ids in
    insert order, sent ids in take order, the runtime's epoch)."""
    db = MemoryDatabase()
    rt = _runtime(db)
    bodies = [event() for _ in range(10)]
    take = [RawRecord(json.dumps(b).encode(), SourcePos(TOPIC, 0, 100 + i))
            for i, b in enumerate(bodies)]
    acked: list[int] = []

    async def acker(rec: RawRecord) -> None:
        acked.append(rec.source.offset)

    handling = asyncio.ensure_future(rt.handle(take, acker))
    if revoke:
        while not rt._lock.locked():  # the first slice is being processed
            await asyncio.sleep(0)
        await rt.revoke([(TOPIC, 0)], flush_timeout=10)
    await asyncio.wait_for(handling, 10)
    await rt.sink.close()
    stored = [str(r[EVENTS.index("event_id")]) for r in db.rows("events")]
    return acked, stored, [b["event_id"] for b in bodies], rt.epoch


def test_a_take_stops_at_a_rebalance_between_two_slices() -> None:
    acked, stored, sent, epoch = asyncio.run(_handle_take(revoke=True))
    assert epoch == 1
    # the slice under way when the revoke came was written and acknowledged before the
    # partition went; nothing after it was processed, written or acknowledged
    assert stored == sent[:1]
    assert acked == [100]


def test_without_a_rebalance_the_whole_take_is_written_and_acknowledged() -> None:
    acked, stored, sent, epoch = asyncio.run(_handle_take(revoke=False))
    assert epoch == 0
    assert sorted(stored) == sorted(sent)
    assert acked == list(range(100, 110))
