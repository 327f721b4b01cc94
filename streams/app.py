"""``build_app(settings)``: the Faust application of the stream worker.

No module-level app: the CLI (or a test) builds settings once and calls :func:`build_app`.
The agent is thin — take a batch of raw records without acknowledging them, hand them to
the ingest runtime — and records are acknowledged only from the sink's ``on_durable``
callback (see :mod:`streams.runtime`: the one place offsets advance).

Where the per-event work runs (``BLO_INGEST_PROCESS``, :func:`ingest_process_mode`):
``inline`` — :class:`streams.runtime.IngestRuntime` in this process; ``separate`` — the same
runtime in a second process, fed and acknowledged through :class:`streams.offload.IngestProcess`
(the default with a ClickHouse server: it puts the work on a second core).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust

from blo.kafka_config import faust_broker_kwargs
from blo.metrics import Metrics
from blo.settings import Settings, SettingsError
from schemas.station import Registry, StationRecord
from sinks.base import Database
from sinks.batching import BatchingSink
from streams.alert_runtime import AlertRuntime, paired_types
from streams.assembly import build_ingest, take_assignment, window_tick
from streams.broker import BrokerState, retrying, watch_broker
from streams.offload import IngestProcess
from streams.registry_reader import RegistryReader, station_row
from streams.runtime import IngestRuntime
from streams.web import register_pages
from streams.window_runtime import WindowRuntime
from streams.windows import window_config

log = logging.getLogger("blo.app")

RESTORE_TIMEOUT_S = 600.0
"""How long a new assignment may take to restore in the ingest process before the worker
stops (the same wait is unbounded inline, where it runs in this process)."""

POSITIONS_INTERVAL_S = 0.5
"""How often the ingest process hears the consumer's positions (caught up, lag)."""

PRODUCER_REQUEST_TIMEOUT_S = 30.0
"""When a produce the broker does not take fails (Faust's default: 20 minutes). It is
retried (:func:`streams.broker.retrying`) until the broker is back; a shutdown during an
outage waits at most this long for the producer's buffer."""


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


class BloApp(faust.App):
    """A Faust app that flushes its sink before Faust's final commit on shutdown."""

    blo: IngestRuntime | IngestProcess
    blo_sink: BatchingSink
    blo_reader: RegistryReader
    blo_alerts: AlertRuntime | None
    blo_api_runner: Any = None
    blo_shutdown_timeout_s: float
    blo_broker: BrokerState
    blo_watch_broker: Callable[[], Awaitable[None]] | None = None
    _blo_watching: asyncio.Future[None] | None = None

    async def on_start(self) -> None:
        # the broker probe (/readyz broker_connected) runs from here, not as an app task:
        # those start only once the group is joined, which an outage may hold up for good
        if self.blo_watch_broker is not None and self._blo_watching is None:
            self._blo_watching = asyncio.ensure_future(self.blo_watch_broker())
        # before the consumer (a child service) joins the group: rebalance callbacks and
        # the first take talk to the ingest process
        runtime = getattr(self, "blo", None)
        if isinstance(runtime, IngestProcess):
            try:
                await runtime.start()
            except Exception as e:  # cannot fork, no socket: stop, clearly
                log.exception("could not start the ingest process")
                runtime.fail(e)
        await super().on_start()

    async def on_stop(self) -> None:
        api = getattr(self, "blo_api_runner", None)
        if api is not None:  # first: its audit rows go through the sink, flushed below
            await api.cleanup()
        runtime = getattr(self, "blo", None)
        if runtime is not None:
            runtime.stopping = True  # no new batch or hold release starts from here
        await super().on_stop()  # stops fetching; the consumer commits after this returns
        if runtime is not None:
            await runtime.drain(self.blo_shutdown_timeout_s)
        alerts = getattr(self, "blo_alerts", None)
        if alerts is not None:
            await alerts.close()  # webhook deliveries still pending get a few seconds
        if self._blo_watching is not None:
            self._blo_watching.cancel()


AppParts = Callable[["BloApp", BatchingSink, Callable[[str, bytes, bytes], Awaitable[Any]]],
                   None]
"""What the application layer adds to the built app (pages, tasks), given the app, its sink
and its producer: in embedded mode ``blo.worker`` adds the query API and the admin door."""


def build_app(settings: Settings, db: Database, metrics: Metrics | None = None,
              broker: BrokerState | None = None, with_app: AppParts | None = None) -> BloApp:
    """Build the worker app. ``db`` is an open :class:`sinks.base.Database`; ``broker``:
    the broker's state as :mod:`blo.worker` saw it at start (a new one, reachable, if not
    given), which the app's probe drives from then on; ``with_app``: :data:`AppParts`."""
    metrics = metrics or Metrics()
    k, b, web = settings.kafka, settings.batch, settings.web
    app = BloApp(
        k.group_id,
        **faust_broker_kwargs(k),
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=k.commit_interval_s,
        broker_session_timeout=k.session_timeout_s,
        broker_heartbeat_interval=max(0.5, k.session_timeout_s / 4),
        broker_rebalance_timeout=max(k.session_timeout_s * 2, 20.0),
        producer_request_timeout=PRODUCER_REQUEST_TIMEOUT_S,
        stream_wait_empty=False,
        stream_buffer_maxsize=max(4096, b.take_max * 2),
        web_enabled=True,
        web_bind=web.host,
        web_port=web.port,
        web_host=web.host,
        datadir=str(settings.data_dir / "faust"),
        store="memory://",
    )
    # topics are created before the app starts (blo.worker), not declared by Faust
    raw_topic = app.topic(k.topic_raw, partitions=k.partitions)

    background: set[asyncio.Future[Any]] = set()  # keep references; surface failures

    def in_background(coro: Any, what: str) -> None:
        fut = asyncio.ensure_future(coro)
        background.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            background.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("%s failed: %s", what, f.exception())

        fut.add_done_callback(done)

    if broker is None:  # reachable: the worker starts once its topics are there
        broker = BrokerState(",".join(k.bootstrap_servers()))
    metrics.kafka_broker_up.set(1 if broker.connected else 0)
    if broker.on_change is None:
        broker.on_change = lambda up: metrics.kafka_broker_up.set(1 if up else 0)
    app.blo_broker = broker
    app.blo_watch_broker = lambda: watch_broker(broker, k)  # started by BloApp.on_start

    async def produce_once(topic: str, key: bytes, value: bytes) -> Any:
        fut = await app.producer.send(topic, key or None, value, None, None, None)
        return await fut

    # an outage is ridden out, not fatal: nothing is acknowledged until the produce is done
    produce = retrying(produce_once, broker, lambda: runtime.stopping)

    def on_fatal(exc: BaseException) -> None:
        # stop the worker; nothing of the failing batch was acknowledged
        in_background(app.crash(exc), "stopping the worker")

    async def guarded(what: str, step: Callable[[], Awaitable[Any]]) -> None:
        """A timer's step: skipped while stopping; an error (a sink that failed for good, a
        refused produce) stops the worker instead of repeating every tick."""
        if runtime.stopping or runtime.fatal is not None:
            return
        try:
            await step()
        except Exception as e:
            if runtime.stopping:  # begun before the shutdown, cut by it (producer closed)
                log.warning("%s interrupted by the shutdown: %s", what, e)
                return
            log.exception("%s failed", what)
            runtime.fail(e)

    def on_backpressure(active: bool) -> None:
        # Paused the way Faust pauses a partition whose stream buffer is full, not with
        # consumer.pause_partitions(): that one makes the fetcher silently skip records it
        # has already fetched for those partitions, and when later offsets arrive Faust
        # takes the hole for a compaction gap and commits past it: records lost for good.
        # This way fetching stops, and what is already in memory is still delivered.
        consumer = app.consumer
        tps = consumer.assignment()
        if active:
            for tp in tps:
                consumer.on_buffer_full(tp)
            metrics.pauses.inc()
            metrics.paused_partitions.set(len(tps))
            # at full speed this toggles whenever the buffer fills: normal, so not a warning
            # (the sink warns itself, on every retry, when ClickHouse is failing)
            log.debug("sink backpressured: paused %d partitions", len(tps))
        else:
            for tp in tps:
                consumer.on_buffer_drop(tp)
            metrics.paused_partitions.set(0)
            log.debug("sink has room again: resumed %d partitions", len(tps))

    separate = ingest_process_mode(settings, db) == "separate"
    runtime: IngestRuntime | IngestProcess
    windows: WindowRuntime | None = None
    if separate:  # the per-event work runs in a process of its own (streams/offload.py)
        registry = Registry()  # for the alert engine's pairs; enrichment has its own
        sink = BatchingSink(db, b, metrics)  # alerts, station rows
        runtime = IngestProcess(settings, raw_topic=k.topic_raw, on_fatal=on_fatal,
                                on_backpressure=on_backpressure,
                                positions=lambda: positions())  # defined below
        sink.add_failure_listener(runtime.fail)
        runtime.sink.watch(sink)  # /readyz answers for both processes' sinks
    else:
        parts = build_ingest(settings, db, metrics, produce, on_fatal)
        registry, sink, windows, runtime = parts.registry, parts.sink, parts.windows, parts.runtime
        sink.add_backpressure_listener(on_backpressure)

    alerts: AlertRuntime | None = None
    if settings.windows.enabled and settings.alerts.enabled:
        alerts = AlertRuntime(
            settings=settings.alerts, window_config=window_config(settings.windows),
            registry=registry, sink=sink, database=db.database, metrics=metrics,
            produce=produce, alerts_topic=k.topic_alerts if settings.alerts.produce else None,
            raw_partitions=k.partitions,
        )
        runtime.alert_event_types = alerts.paired_types()

        def on_rules(ruleset: Any) -> None:
            runtime.alert_event_types = paired_types(ruleset)

        alerts.on_rules_changed.append(on_rules)

    def on_station_records(records: list[StationRecord]) -> None:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        rows = [station_row(r, now) for r in records]
        in_background(sink.submit({"stations": rows}), "writing station rows")

    reader = RegistryReader(k, registry, metrics, on_station_records)
    app.blo, app.blo_sink, app.blo_reader = runtime, sink, reader
    app.blo_alerts = alerts
    app.blo_shutdown_timeout_s = b.shutdown_flush_timeout_s

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await runtime.on_revoked([(tp.topic, tp.partition) for tp in revoked],
                                 flush_timeout=k.session_timeout_s)
        if alerts is not None and any(tp.topic == k.topic_alert_input for tp in revoked):
            alerts.forget()  # its writes were flushed with the sink above

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        tps = {(tp.topic, tp.partition) for tp in assigned}
        if isinstance(runtime, IngestProcess):  # it restores its window state itself
            try:
                await runtime.assign(tps, timeout=RESTORE_TIMEOUT_S)
            except Exception as e:
                log.exception("the ingest process could not take the new assignment")
                runtime.fail(e)
        else:
            await take_assignment(runtime, windows, tps)
        if alerts is not None:
            if any(tp.topic == k.topic_alert_input for tp in assigned):
                # paired rules take their pairs from the registry: restoring before it is
                # loaded would drop the stored halves of pairs (no partner known yet)
                try:
                    await asyncio.wait_for(reader.ready.wait(), k.session_timeout_s)
                except TimeoutError:
                    log.warning("station registry not loaded yet: restoring the alert "
                                "engine without its pairs")
                try:
                    await alerts.restore()
                except Exception as e:
                    log.exception("could not restore the alert engine")
                    runtime.fail(e)
            else:
                alerts.forget()

    @app.agent(raw_topic, name="blo.ingest")
    async def ingest(stream: Any) -> None:  # faust.Stream; noack_take is not in StreamT
        async for batch in stream.noack_take(b.take_max, within=b.take_within_s):
            await runtime.handle(batch, stream.ack)

    if alerts is not None:
        alert_topic = app.topic(k.topic_alert_input, partitions=1)

        @app.agent(alert_topic, name="blo.alerts")
        async def alert_engine(stream: Any) -> None:
            async for batch in stream.noack_take(1000, within=0.2):
                if runtime.fatal is not None or runtime.stopping:
                    continue  # left unacknowledged: read again after the restart
                try:
                    await alerts.handle(batch, stream.ack)
                except Exception as e:  # a sink that failed for good, a refused produce
                    log.exception("alert input batch failed")
                    runtime.fail(e)

        def alert_input_caught_up() -> bool:
            tp = faust.types.TP(k.topic_alert_input, 0)
            if alerts.engine is None or tp not in app.consumer.assignment():
                return False
            hw = app.consumer.highwater(tp)
            nxt = alerts.processed_next
            if nxt is None:
                nxt = getattr(app.consumer, "_committed_offset", {}).get(tp) or 0
            return hw is not None and nxt >= hw

        @app.timer(settings.alerts.tick_interval_s)  # type: ignore[untyped-decorator]
        async def tick_alerts() -> None:
            await guarded("alert tick", lambda: alerts.tick(alert_input_caught_up()))

        @app.timer(settings.alerts.reload_interval_s)  # type: ignore[untyped-decorator]
        async def reload_rules() -> None:
            await guarded("applying the reloaded rules", alerts.reload_rules)

    if with_app is not None:  # the application's parts (embedded mode: API, admin door)
        with_app(app, sink, produce)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_registry() -> None:
        sink.start()
        if alerts is not None:
            alerts.start()
        task = asyncio.ensure_future(reader.run())
        await reader.ready.wait()
        if not isinstance(runtime, IngestProcess):  # that one reports its own registry
            runtime.registry_ready.set()
        await task  # runs until the app stops (it reconnects by itself)

    def positions() -> dict[tuple[str, int], tuple[int | None, int | None]]:
        """The consumer's fetch high watermark and committed offset per raw partition."""
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        return {(tp.topic, tp.partition): (consumer.highwater(tp), committed.get(tp))
                for tp in consumer.assignment() if tp.topic == k.topic_raw}

    if isinstance(runtime, IngestProcess):
        process = runtime

        @app.timer(POSITIONS_INTERVAL_S)  # type: ignore[untyped-decorator]
        async def send_positions() -> None:
            await guarded("sending positions", lambda: process.send_positions(positions()))
    else:
        inline = runtime

        @app.timer(0.5)  # type: ignore[untyped-decorator]
        async def release_holds() -> None:
            await inline.release_holds()

        # the consumer is created when the app starts; the lambda looks it up at each call
        inline.highwater = lambda t, p: app.consumer.highwater(faust.types.TP(t, p))

        @app.timer(2.0)  # type: ignore[untyped-decorator]
        async def update_lag() -> None:
            inline.update_lag()

        if windows is not None:
            window_state = windows
            alert_input = k.topic_alert_input if alerts is not None else None

            @app.timer(settings.windows.tick_interval_s)  # type: ignore[untyped-decorator]
            async def tick_windows() -> None:
                await guarded("window tick", lambda: window_tick(
                    inline, window_state, positions(), produce, alert_input))

    families = runtime.metric_families if isinstance(runtime, IngestProcess) else None
    register_pages(app, runtime, db, metrics, families)
    return app
