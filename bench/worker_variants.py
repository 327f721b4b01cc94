"""Run ``blo worker`` with experimental patches applied in-process: what-if measurements.

    python bench/worker_variants.py aiokafka -- worker --migrate

(what ``pipeline_bench.py --variant aiokafka`` runs instead of ``python -m blo``).
Nothing outside bench/ is changed; each patch replaces one function in this process only,
to measure how much a proposed change to the product would gain before anyone writes it.

Variants:

* ``nolookup`` -- ``IngestRuntime._lookup_hashes`` returns ``{}`` at once: the upper bound
  of any cheaper conflict lookup (NOT a safe change: conflicts across restarts would go
  undetected). The product's lookup is already one query per batch with the ids sent as
  data (``Database.stored_body_hashes``; the former ``extlookup`` variant measured it).
* ``aiokafka`` -- the raw topic consumed with a plain aiokafka ``getmany`` loop (a Faust
  task, like the station registry reader) instead of the Faust agent's
  ``stream.noack_take`` + ``stream.ack`` per record; same ingest backend, same sink,
  commit after write. A measuring prototype, not production code (see ``_aiokafka``).

The former ``extlookup``, ``gc`` and ``orjson`` variants are now the product (the conflict
lookup with the ids sent as data, ``blo.worker.tune_gc``, the orjson path of
``schemas.identity.canonical_json``); docs/performance.md keeps what they measured.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _nolookup() -> None:
    from streams.runtime import IngestRuntime

    async def _lookup_hashes(self, stations: Sequence[str], ids: Sequence[UUID]
                             ) -> dict[UUID, str]:
        return {}

    IngestRuntime._lookup_hashes = _lookup_hashes  # type: ignore[method-assign]


def _aiokafka() -> None:
    """The raw topic read by a plain aiokafka consumer (``getmany``) in a Faust task, fed
    to the same ingest backend's ``handle``; acks record the next offset per partition (the
    sink calls ``on_durable`` in submission order, so it only grows) and a commit follows
    every ``BLO_KAFKA_COMMIT_INTERVAL_S`` and at the end. The Faust agent is removed (an
    idle one on the DLQ topic keeps Faust's consumer, which needs a subscription, happy).
    Simplified for measuring (consumer group ``<group>-aiokafka``; no pause on
    backpressure -- ``handle`` awaits the sink instead; no rebalance handling; inline, the
    lag and the caught-up partitions come from this consumer's positions)."""
    import logging
    import time

    import streams.app as sa

    original = sa.build_app

    def build_app(settings, db, *args, **kwargs):  # type: ignore[no-untyped-def]
        app = original(settings, db, *args, **kwargs)
        del app.agents["blo.ingest"]
        k, b = settings.kafka, settings.batch

        # Faust's consumer refuses to run without a subscription: keep an idle agent on the
        # DLQ topic (empty in the bench).
        @app.agent(app.topic(k.topic_dlq), name="bench.idle")
        async def idle(stream):  # type: ignore[no-untyped-def]
            async for _ in stream:
                pass

        @app.task
        async def aiokafka_ingest() -> None:
            from aiokafka import AIOKafkaConsumer, TopicPartition

            from blo.kafka_config import aiokafka_kwargs
            from streams.ingest import RawRecord
            from streams.runtime import IngestRuntime
            from streams.stages.decode import SourcePos

            consumer = AIOKafkaConsumer(
                k.topic_raw, group_id=f"{k.group_id}-aiokafka", enable_auto_commit=False,
                auto_offset_reset="earliest", session_timeout_ms=int(k.session_timeout_s * 1000),
                heartbeat_interval_ms=int(k.session_timeout_s * 250),
                **aiokafka_kwargs(k, role="consumer"))
            await consumer.start()
            backend = app.worker.backend
            if isinstance(backend, IngestRuntime):  # not Faust's consumer: it has no raw tps
                backend.positions = lambda: {(tp.topic, tp.partition): (
                    consumer.highwater(tp), None) for tp in consumer.assignment()}
            next_offset: dict[TopicPartition, int] = {}
            committed: dict[TopicPartition, int] = {}

            async def ack(record: RawRecord) -> None:
                src = record.source
                tp = TopicPartition(src.topic, src.partition)
                if src.offset + 1 > next_offset.get(tp, -1):
                    next_offset[tp] = src.offset + 1

            async def commit() -> None:
                todo = {tp: o for tp, o in next_offset.items() if committed.get(tp) != o}
                if todo:
                    await consumer.commit(todo)
                    committed.update(todo)

            last_commit = time.monotonic()
            try:
                while True:
                    batches = await consumer.getmany(timeout_ms=int(b.take_within_s * 1000),
                                                     max_records=b.take_max)
                    records = [RawRecord(r.value, SourcePos(r.topic, r.partition, r.offset))
                               for recs in batches.values() for r in recs]
                    if records:
                        await backend.handle(records, ack)
                    if time.monotonic() - last_commit >= k.commit_interval_s:
                        await commit()
                        last_commit = time.monotonic()
            finally:  # stopping: BloApp.on_stop drains the backend (acks what it wrote)
                try:
                    await commit()
                except Exception as e:  # noqa: BLE001 - uncommitted records are redelivered
                    logging.getLogger("bench.aiokafka").warning("final commit failed: %s", e)
                await consumer.stop()

        return app

    sa.build_app = build_app
    import blo.worker

    blo.worker.build_app = build_app  # imported by name there


VARIANTS = {"nolookup": _nolookup, "aiokafka": _aiokafka}


def apply(names: str) -> list[str]:
    applied = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        VARIANTS[name]()
        applied.append(name)
    return applied


def main() -> None:
    argv = sys.argv[1:]
    if not argv or "--" not in argv:
        raise SystemExit(__doc__)
    split = argv.index("--")
    names, rest = ",".join(argv[:split]), argv[split + 1 :]
    applied = apply(names)
    print(f"worker_variants: applied {applied}", file=sys.stderr, flush=True)
    from blo.cli import main as blo_main

    blo_main(args=rest, prog_name="blo")


if __name__ == "__main__":
    main()
