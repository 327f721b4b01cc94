"""``build_app(settings)``: the Faust application of the stream worker.

No module-level app: the CLI (or a test) builds settings once and calls :func:`build_app`.
The agent is thin — take a batch of raw records without acknowledging them, hand them to
:class:`streams.runtime.IngestRuntime` — and the runtime acknowledges records only from the
sink's ``on_durable`` callback (see its docstring: the one place offsets advance).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from blo.kafka_config import faust_broker_kwargs
from blo.metrics import Metrics
from blo.settings import Settings
from schemas.station import Registry, StationRecord
from sinks.base import Database
from sinks.batching import BatchingSink
from streams.alert_input import partition_progress_record
from streams.alert_runtime import AlertRuntime, paired_types
from streams.guard import DlqGuard
from streams.ingest import IngestPolicy, IngestProcessor
from streams.registry_reader import RegistryReader, station_row
from streams.runtime import IngestRuntime
from streams.web import register_pages
from streams.window_runtime import WindowRuntime

log = logging.getLogger("blo.app")


class BloApp(faust.App):
    """A Faust app that flushes its sink before Faust's final commit on shutdown."""

    blo: IngestRuntime
    blo_sink: BatchingSink
    blo_reader: RegistryReader
    blo_alerts: AlertRuntime | None
    blo_api_runner: Any = None
    blo_shutdown_timeout_s: float

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


def build_app(settings: Settings, db: Database, metrics: Metrics | None = None) -> BloApp:
    """Build the worker app. ``db`` is an open :class:`sinks.base.Database`."""
    metrics = metrics or Metrics()
    k, b, ing, web = settings.kafka, settings.batch, settings.ingest, settings.web
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

    registry = Registry()
    sink = BatchingSink(db, b, metrics)
    processor = IngestProcessor(registry, IngestPolicy.from_settings(ing))

    background: set[asyncio.Future[Any]] = set()  # keep references; surface failures

    def in_background(coro: Any, what: str) -> None:
        fut = asyncio.ensure_future(coro)
        background.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            background.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("%s failed: %s", what, f.exception())

        fut.add_done_callback(done)

    async def produce(topic: str, key: bytes, value: bytes) -> Any:
        fut = await app.producer.send(topic, key or None, value, None, None, None)
        return await fut

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
            log.exception("%s failed", what)
            runtime.fail(e)

    windows: WindowRuntime | None = None
    alerts: AlertRuntime | None = None
    if settings.windows.enabled:
        window_config = settings.windows.window_config()
        alerting = settings.alerts.enabled
        windows = WindowRuntime(
            config=window_config, sink=sink, database=db.database, metrics=metrics,
            produce=produce, topic=k.topic_windows if settings.windows.produce else None,
            raw_topic=k.topic_raw, alert_topic=k.topic_alert_input if alerting else None,
        )
        if alerting:
            alerts = AlertRuntime(
                settings=settings.alerts, window_config=window_config, registry=registry,
                sink=sink, database=db.database, metrics=metrics, produce=produce,
                alerts_topic=k.topic_alerts if settings.alerts.produce else None,
                raw_partitions=k.partitions,
            )

    runtime = IngestRuntime(
        processor=processor, sink=sink, db=db, metrics=metrics,
        guard=DlqGuard(ing.dlq_guard_ratio, ing.dlq_guard_min_events),
        produce=produce, dlq_topic=k.topic_dlq, raw_topic=k.topic_raw,
        dlq_payload_limit=ing.dlq_payload_limit_bytes, on_fatal=on_fatal,
        enriched_topic=k.topic_enriched if ing.produce_enriched else None,
        slice_max_bytes=b.slice_max_bytes,
        windows=windows,
        alert_input_topic=k.topic_alert_input if alerts is not None else None,
    )
    if alerts is not None:
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

    sink.add_backpressure_listener(on_backpressure)
    sink.add_failure_listener(runtime.fail)  # stop even when no batch is in flight

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await runtime.on_revoked([(tp.topic, tp.partition) for tp in revoked],
                                 flush_timeout=k.session_timeout_s)
        if alerts is not None and any(tp.topic == k.topic_alert_input for tp in revoked):
            alerts.forget()  # its writes were flushed with the sink above

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        runtime.assigned = {(tp.topic, tp.partition) for tp in assigned}
        if windows is not None:
            parts = [tp.partition for tp in assigned if tp.topic == k.topic_raw]
            try:
                await windows.restore(parts)
            except Exception as e:  # ClickHouse unreachable for good, ...: do not guess
                log.exception("could not restore the window state")
                runtime.fail(e)
        if alerts is not None:
            if any(tp.topic == k.topic_alert_input for tp in assigned):
                # paired rules take their pairs from the registry: restoring before it is
                # loaded would drop the stored halves of pairs (no partner known yet)
                try:
                    await asyncio.wait_for(runtime.registry_ready.wait(), k.session_timeout_s)
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

    if db.kind == "chdb":  # one process per data directory: the worker serves the API
        from blo.api.app import build_api
        from blo.api.serve import context, start_site

        async def api_query(sql: str, params: Any) -> list[Any]:
            rows: list[Any] = await sink.query(sql, params, table="api")
            return rows

        async def api_insert(table: str, cols: Any, rows: Any) -> None:
            await sink.submit({table: rows})

        api_ctx = context(settings, query=api_query, insert=api_insert, database=db.database,
                          produce=produce)

        @app.task  # type: ignore[untyped-decorator]
        async def serve_api() -> None:
            where = f"http://{settings.api.host}:{settings.api.port}/"
            try:
                runner = await start_site(build_api(api_ctx), settings.api.host,
                                          settings.api.port)
            except OSError as e:  # the stream goes on without the API
                log.error("cannot serve the query API on %s (%s); set BLO_API_PORT", where, e)
                return
            log.info("query API and dashboard on %s", where)
            app.blo_api_runner = runner

    @app.task  # type: ignore[untyped-decorator]
    async def follow_registry() -> None:
        sink.start()
        if alerts is not None:
            alerts.start()
        task = asyncio.ensure_future(reader.run())
        await reader.ready.wait()
        runtime.registry_ready.set()
        await task  # runs until the app stops (it reconnects by itself)

    @app.timer(0.5)  # type: ignore[untyped-decorator]
    async def release_holds() -> None:
        await runtime.release_holds()

    # the consumer is created when the app starts; the lambda looks it up at each call
    runtime.highwater = lambda t, p: app.consumer.highwater(faust.types.TP(t, p))

    @app.timer(2.0)  # type: ignore[untyped-decorator]
    async def update_lag() -> None:
        runtime.update_lag()

    def caught_up() -> set[int]:
        """Raw-topic partitions whose every fetched record is processed and whose fetch
        position is at the high watermark the broker reported with its last fetch response
        (never the end-offset lookup, wrong on Tansu). Only these may idle-close windows."""
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        out = set()
        for tp in consumer.assignment():
            if tp.topic != k.topic_raw:
                continue
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            nxt = runtime.processed_next.get((tp.topic, tp.partition))
            if nxt is None:  # nothing processed since the assignment
                nxt = committed.get(tp)
                if nxt is None:
                    nxt = 0
            if nxt >= hw:
                out.add(tp.partition)
        return out

    if windows is not None:
        @app.timer(settings.windows.tick_interval_s)  # type: ignore[untyped-decorator]
        async def tick_windows() -> None:
            async def tick() -> None:
                done = caught_up()
                await windows.tick(done)
                if alerts is not None:  # tell the alert engine how far this worker is
                    parts = {tp.partition: tp.partition in done
                             for tp in app.consumer.assignment() if tp.topic == k.topic_raw}
                    if parts:
                        await produce(k.topic_alert_input,
                                      *partition_progress_record(parts, time.time()))

            await guarded("window tick", tick)

    register_pages(app, runtime, db, metrics)
    return app
