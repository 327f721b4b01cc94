"""The one place that chooses where the per-event work of a worker runs (as snuba's
``consumers/strategy_factory.py`` chooses in-process or multiprocess).

``BLO_INGEST_PROCESS`` (:func:`ingest_process_mode`): ``inline`` —
:class:`streams.runtime.IngestRuntime` in the Faust process; ``separate`` — the same runtime
in a second process, fed and acknowledged through
:class:`streams.separate_backend.SeparateBackend` (the default with a ClickHouse server: it
puts the work on a second core), or in ``BLO_INGEST_PROCESSES`` of them with the worker's
partitions dealt between them (:class:`streams.sharded_backend.ShardedBackend`). :func:`build_inline` builds the runtime the same way
wherever it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blo.metrics import Metrics
from blo.settings import Settings, SettingsError
from schemas.station import Registry
from sinks.base import Database
from sinks.batching import BatchingSink
from streams.backend import IngestBackend, Positions
from streams.guard import DlqGuard
from streams.ingest import IngestPolicy, IngestProcessor
from streams.process_messages import ProcessSetup
from streams.runtime import IngestRuntime, Producer
from streams.separate_backend import SeparateBackend
from streams.sharded_backend import ShardedBackend
from streams.window_runtime import WindowRuntime
from streams.windows import window_config


def ingest_process_mode(settings: Settings, db: Database) -> str:
    """``inline`` or ``separate`` for ``BLO_INGEST_PROCESS`` (``auto``: separate with a
    ClickHouse server and more than one CPU available; inline with embedded chDB,
    which allows one process per data directory)."""
    mode = settings.ingest.process
    if mode == "separate" and db.kind == "chdb":
        raise SettingsError(
            "BLO_INGEST_PROCESS=separate needs a ClickHouse server (BLO_CLICKHOUSE_URL="
            "clickhouse://…): embedded chDB allows one process per data directory")
    if mode == "auto":
        return "separate" if db.kind != "chdb" and available_cpus() > 1 else "inline"
    return mode


def ingest_processes(settings: Settings) -> int:
    """How many ingest processes a worker in the separate mode runs
    (``BLO_INGEST_PROCESSES``; 0 = one per available CPU beyond the first, at most 4)."""
    n = settings.ingest.processes
    if n == 0:
        return max(1, min(4, int(available_cpus()) - 1))
    return n


def available_cpus() -> float:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (``cpu.max``,
    e.g. ``docker run --cpus 1``), which ``os.cpu_count`` does not see."""
    n: float = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return n
    if quota != "max":
        n = min(n, int(quota) / int(period))
    return n


def build_inline(settings: Settings, db: Database, sink: BatchingSink, metrics: Metrics,
                 produce: Producer, on_fatal: Callable[[BaseException], None],
                 positions: Callable[[], Positions]) -> IngestRuntime:
    """Registry, processor, windows (when enabled) and the runtime joining them and ``sink``
    (the Faust process's in the inline mode, the ingest process's in the separate)."""
    k, b, ing = settings.kafka, settings.batch, settings.ingest
    alerting = settings.windows.enabled and settings.alerts.enabled
    processor = IngestProcessor(Registry(), IngestPolicy.from_settings(ing))
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
        guard=DlqGuard(ing.dlq_guard_ratio, ing.dlq_guard_min_events, ing.dlq_guard_window_s),
        produce=produce, dlq_topic=k.topic_dlq, raw_topic=k.topic_raw,
        dlq_payload_limit=ing.dlq_payload_limit_bytes, on_fatal=on_fatal,
        enriched_topic=k.topic_enriched if ing.produce_enriched else None,
        slice_max_bytes=b.slice_max_bytes,
        windows=windows,
        alert_input_topic=k.topic_alert_input if alerting else None,
        positions=positions, window_tick_s=settings.windows.tick_interval_s,
        take_follows_sink_s=b.take_follows_sink_s,
    )
    sink.add_failure_listener(runtime.fail)  # stop even when no batch is in flight
    return runtime


@dataclass
class BackendParts:
    backend: IngestBackend
    registry: Registry
    """The Faust process's station registry (the alert engine's pairs; inline: enrichment's
    too)."""
    sink: BatchingSink
    """The Faust process's sink (alert versions, station rows, API audit; inline: events
    too)."""


def build_backend(settings: Settings, db: Database, metrics: Metrics, *, produce: Producer,
                  on_fatal: Callable[[BaseException], None],
                  on_backpressure: Callable[[bool], None],
                  positions: Callable[[], Positions],
                  process_setup: ProcessSetup) -> BackendParts:
    """The ingest backend ``BLO_INGEST_PROCESS`` asks for, with the registry and sink the
    Faust process uses beside it. ``on_backpressure``: the events sink is backpressured (or
    has room again); ``positions``: the consumer's view; ``process_setup``: what the ingest
    process needs of the application."""
    sink = BatchingSink(db, settings.batch, metrics)
    if ingest_process_mode(settings, db) == "separate":
        n = ingest_processes(settings)
        separate: SeparateBackend | ShardedBackend
        if n > 1:
            separate = ShardedBackend(settings, process_setup, n,
                                      raw_topic=settings.kafka.topic_raw, on_fatal=on_fatal,
                                      on_backpressure=on_backpressure, positions=positions)
        else:
            separate = SeparateBackend(settings, process_setup,
                                       raw_topic=settings.kafka.topic_raw, on_fatal=on_fatal,
                                       on_backpressure=on_backpressure, positions=positions)
        sink.add_failure_listener(separate.fail)  # alerts, station rows
        separate.sink.watch(sink)  # /readyz answers for both processes' sinks
        # enrichment has its own registry, in the ingest process
        return BackendParts(separate, Registry(), sink)
    inline = build_inline(settings, db, sink, metrics, produce, on_fatal, positions)
    sink.add_backpressure_listener(on_backpressure)
    return BackendParts(inline, inline.processor.registry, sink)
