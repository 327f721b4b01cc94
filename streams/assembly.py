"""The ingest side of a worker, built the same way wherever it runs.

:func:`build_ingest` wires the station registry, the pure ingest step, the batching sink,
the window runtime and :class:`streams.runtime.IngestRuntime` — in the Faust process
(``BLO_INGEST_PROCESS=inline``) or in the ingest process beside it
(:mod:`streams.engine_process`). :func:`caught_up_partitions` and :func:`window_tick` are
the two things both places compute from the consumer's positions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from blo.metrics import Metrics
from blo.settings import Settings
from schemas.alert_input import partition_progress_record
from schemas.station import Registry
from sinks.base import Database
from sinks.batching import BatchingSink
from streams.guard import DlqGuard
from streams.ingest import IngestPolicy, IngestProcessor
from streams.runtime import IngestRuntime, Producer
from streams.window_runtime import WindowRuntime
from streams.windows import window_config

log = logging.getLogger("blo.ingest")

Positions = Mapping[tuple[str, int], tuple[int | None, int | None]]
"""(topic, partition) → (fetch high watermark, committed offset), from the Faust consumer."""


@dataclass
class IngestParts:
    registry: Registry
    sink: BatchingSink
    windows: WindowRuntime | None
    runtime: IngestRuntime


def build_ingest(settings: Settings, db: Database, metrics: Metrics, produce: Producer,
                 on_fatal: Callable[[BaseException], None]) -> IngestParts:
    """Registry, processor, sink, windows (when enabled) and the runtime joining them."""
    k, b, ing = settings.kafka, settings.batch, settings.ingest
    alerting = settings.windows.enabled and settings.alerts.enabled
    registry = Registry()
    sink = BatchingSink(db, b, metrics)
    processor = IngestProcessor(registry, IngestPolicy.from_settings(ing))
    windows: WindowRuntime | None = None
    if settings.windows.enabled:
        windows = WindowRuntime(
            config=window_config(settings.windows), sink=sink, database=db.database,
            metrics=metrics, produce=produce,
            topic=k.topic_windows if settings.windows.produce else None,
            raw_topic=k.topic_raw, alert_topic=k.topic_alert_input if alerting else None,
        )
    runtime = IngestRuntime(
        processor=processor, sink=sink, db=db, metrics=metrics,
        guard=DlqGuard(ing.dlq_guard_ratio, ing.dlq_guard_min_events),
        produce=produce, dlq_topic=k.topic_dlq, raw_topic=k.topic_raw,
        dlq_payload_limit=ing.dlq_payload_limit_bytes, on_fatal=on_fatal,
        enriched_topic=k.topic_enriched if ing.produce_enriched else None,
        slice_max_bytes=b.slice_max_bytes,
        windows=windows,
        alert_input_topic=k.topic_alert_input if alerting else None,
    )
    sink.add_failure_listener(runtime.fail)  # stop even when no batch is in flight
    return IngestParts(registry, sink, windows, runtime)


def caught_up_partitions(positions: Positions, processed_next: Mapping[tuple[str, int], int],
                         raw_topic: str) -> set[int]:
    """Raw-topic partitions whose every fetched record is processed and whose fetch
    position is at the high watermark the broker reported with its last fetch response
    (never the end-offset lookup, wrong on Tansu). Only these may idle-close windows."""
    out = set()
    for (topic, partition), (hw, committed) in positions.items():
        if topic != raw_topic or hw is None:
            continue
        nxt = processed_next.get((topic, partition))
        if nxt is None:  # nothing processed since the assignment
            nxt = committed or 0
        if nxt >= hw:
            out.add(partition)
    return out


async def take_assignment(runtime: IngestRuntime, windows: WindowRuntime | None,
                          tps: Iterable[tuple[str, int]]) -> None:
    """A new assignment: records of other partitions are skipped from now on, and the window
    state of its raw partitions is rebuilt before any of their records is counted. A
    restore that fails (ClickHouse unreachable for good, ...) stops the worker: no guessing."""
    runtime.assigned = set(tps)
    if windows is not None:
        try:
            await windows.restore(sorted(p for t, p in runtime.assigned
                                         if t == runtime.raw_topic))
        except Exception as e:
            log.exception("could not restore the window state")
            runtime.fail(e)


async def window_tick(runtime: IngestRuntime, windows: WindowRuntime, positions: Positions,
                      produce: Producer, alert_topic: str | None) -> None:
    """One windows tick: close and emit what is due, then (with alerting) tell the alert
    engine which raw partitions of this worker are caught up."""
    raw = runtime.raw_topic
    done = caught_up_partitions(positions, runtime.processed_next, raw)
    await windows.tick(done)
    if alert_topic is not None:
        parts = {p: p in done for (t, p) in positions if t == raw}
        if parts:
            await produce(alert_topic, *partition_progress_record(parts, time.time()))
