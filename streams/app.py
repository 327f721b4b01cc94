"""``build_app(settings, db, ...)``: the Faust application of the stream worker.

No module-level app: the CLI (or a test) builds settings once and calls :func:`build_app`.
The agent is thin — take a batch of raw records without acknowledging them, hand them to
the ingest backend (:mod:`streams.backend`, chosen by :mod:`streams.backend_factory`) — and
records are acknowledged only once what they produced is durable (:mod:`streams.runtime`:
the one place offsets advance). The parts of the running worker are one
:class:`streams.worker.Worker`, the app's :attr:`BloApp.worker`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust import transport
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaDriverConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport

from blo.kafka_config import faust_broker_kwargs
from blo.metrics import Metrics
from blo.settings import KafkaSettings, Settings
from schemas.station import StationRecord
from sinks.base import Database
from streams.alert_runtime import AlertRuntime, paired_types
from streams.alerts import RuleSet
from streams.backend import IngestBackend, Positions, Timer
from streams.backend_factory import BackendParts, build_backend
from streams.broker import BrokerState, retrying, watch_broker
from streams.dead_letters import DeadLetter, dlq_message, dlq_row
from streams.process_messages import ProcessSetup
from streams.raw_consumer import RawConsumer
from streams.raw_feed import RawFeed, take_loop
from streams.registry_reader import RegistryReader, station_row
from streams.runtime import Producer
from streams.tasks import Background, guarded
from streams.web import register_pages
from streams.windows import window_config
from streams.worker import Worker

log = logging.getLogger("blo.app")

PRODUCER_REQUEST_TIMEOUT_S = 30.0
"""When a produce the broker does not take fails (Faust's default: 20 minutes). It is
retried (:func:`streams.broker.retrying`) until the broker is back; a shutdown during an
outage waits at most this long for the producer's buffer."""


class _ConsumerThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, with the fetch wait the settings give."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes fetch_max_wait_ms=1500 and offers no setting: aiokafka (pinned) reads
        # the attribute when it starts its fetcher, which is after this returns
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer


class _Consumer(AIOKafkaDriverConsumer):
    """Faust's aiokafka consumer (the alert input topic), with the fetch wait the settings
    give. The raw topic has its own consumer (:mod:`streams.raw_consumer`)."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def subscribe(self, topics: Any) -> None:
        topics = set(topics)
        if topics:  # none with alerting off: aiokafka refuses an empty subscription
            await super().subscribe(topics)


class _Transport(AIOKafkaTransport):
    Consumer = _Consumer


class BloApp(faust.App):
    """A Faust app that starts its worker's parts before the consumer joins the group, and
    flushes the sink before Faust's final commit on shutdown."""

    worker: Worker  # set by build_app
    raw_feed: RawFeed | None = None  # set by add_raw_feed
    raw_consumer: RawConsumer | None = None  # set by add_raw_feed
    fetch_max_wait_ms: int = 1500  # set by faust_app (BLO_KAFKA_ALERT_INPUT_FETCH_MAX_WAIT_MS)
    faust_consumes: bool = True  # False with alerting off: Faust's group then has no topic

    def _new_transport(self) -> Any:
        if transport.by_url(self.conf.broker_consumer[0]) is not AIOKafkaTransport:
            return super()._new_transport()
        return _Transport(self.conf.broker_consumer, self)

    async def on_start(self) -> None:
        await self.worker.start()
        await super().on_start()

    async def _wait_for_table_recovery_completed(self) -> bool:
        # Faust starts the tasks, timers and web server once its first assignment is
        # recovered; with no topic of its own (alerting off: the raw topic has its own
        # consumer) no assignment ever comes, and there is no table to recover
        if not self.faust_consumes:
            return self.should_stop
        return await super()._wait_for_table_recovery_completed()

    async def on_stop(self) -> None:
        await self.worker.stop_taking()
        raw = self.raw_consumer
        if raw is not None:
            await raw.stop_fetching()
        await super().on_stop()  # stops Faust's fetching; it commits after this returns
        await self.worker.drain()  # what was processed is written and acknowledged
        if raw is not None:
            await raw.close()  # its final commit, then it leaves the group


AppParts = Callable[[BloApp, Worker, Producer], None]
"""What the application layer adds to the built app (pages, tasks), given the app, its
worker and its producer: in embedded mode ``blo.worker`` adds the query API and the admin
door."""


def build_app(settings: Settings, db: Database, metrics: Metrics | None = None,
              broker: BrokerState | None = None, with_app: AppParts | None = None, *,
              process_setup: ProcessSetup) -> BloApp:
    """Build the worker app. ``db`` is an open :class:`sinks.base.Database`; ``broker``:
    the broker's state as :mod:`blo.worker` saw it at start (a new one, reachable, if not
    given), which the app's probe drives from then on; ``with_app``: :data:`AppParts`;
    ``process_setup``: what an ingest process needs of the application."""
    metrics = metrics or Metrics()
    k = settings.kafka
    app = faust_app(settings)
    broker = broker_state(broker, k, metrics)
    background = Background()

    async def produce_once(topic: str, key: bytes, value: bytes) -> Any:
        fut = await app.producer.send(topic, key or None, value, None, None, None)
        return await fut

    # an outage is ridden out, not fatal: nothing is acknowledged until the produce is done
    produce = retrying(produce_once, broker, lambda: parts.backend.stopping)

    def on_fatal(exc: BaseException) -> None:
        # stop the worker; nothing of the failing batch was acknowledged
        background.spawn(app.crash(exc), "stopping the worker")

    parts = build_backend(
        settings, db, metrics, produce=produce, on_fatal=on_fatal,
        on_backpressure=lambda active: pause_fetching(app, active),
        positions=lambda: positions(app), process_setup=process_setup)
    alerts = alert_runtime(settings, parts, db.database, metrics, produce)

    def on_station_records(records: list[StationRecord]) -> None:
        now = datetime.now(UTC)
        rows = [station_row(r, now) for r in records]
        background.spawn(parts.sink.submit({"stations": rows}), "writing station rows")

    dlq_limit = settings.ingest.dlq_payload_limit_bytes

    async def dead_letter(dl: DeadLetter) -> None:  # a refused station record: as a bad event
        await produce(k.topic_dlq, *dlq_message(dl, dlq_limit))
        await parts.sink.submit({"dlq": [dlq_row(dl, dlq_limit)]})

    def on_bad_station_record(dl: DeadLetter) -> None:
        background.spawn(dead_letter(dl), "dead-lettering a station record")

    worker = app.worker = Worker(
        backend=parts.backend, sink=parts.sink,
        reader=RegistryReader(k, parts.registry, metrics, on_station_records,
                              on_bad_station_record),
        alerts=alerts, broker=broker, watch_broker=lambda: watch_broker(broker, k),
        shutdown_timeout_s=settings.batch.shutdown_flush_timeout_s)
    follow_rebalances(app, worker, k)
    add_raw_feed(app, settings, worker.backend, metrics)
    app.faust_consumes = alerts is not None
    if alerts is not None:
        add_alert_agent(app, settings, worker, alerts)
    if with_app is not None:  # the application's parts (embedded mode: API, admin door)
        with_app(app, worker, produce)
    add_registry_task(app, worker)
    for timer in worker.backend.timers():
        add_timer(app, worker.backend, timer)
    register_pages(app, worker, metrics)
    return app


def faust_app(settings: Settings) -> BloApp:
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
    app.fetch_max_wait_ms = k.alert_input_fetch_max_wait_ms  # Faust's consumer: alert input
    return app


def broker_state(broker: BrokerState | None, k: KafkaSettings, metrics: Metrics) -> BrokerState:
    if broker is None:  # reachable: the worker starts once its topics are there
        broker = BrokerState(",".join(k.bootstrap_servers()))
    metrics.kafka_broker_up.set(1 if broker.connected else 0)
    if broker.on_change is None:
        broker.on_change = lambda up: metrics.kafka_broker_up.set(1 if up else 0)
    return broker


def positions(app: BloApp) -> Positions:
    """The raw consumer's fetch high watermark and committed offset per raw partition."""
    raw = app.raw_consumer
    return {} if raw is None else raw.positions()


def pause_fetching(app: BloApp, active: bool) -> None:
    """The events sink is backpressured (or has room again): the raw partitions are paused
    (:meth:`streams.raw_consumer.RawConsumer.pause`)."""
    raw = app.raw_consumer
    if raw is not None:
        raw.pause(active)


def alert_runtime(settings: Settings, parts: BackendParts, database: str, metrics: Metrics,
                  produce: Producer) -> AlertRuntime | None:
    """The alert engine (with windows and alerts enabled), telling the backend which event
    types its paired rules need one by one, now and whenever the rules change."""
    if not (settings.windows.enabled and settings.alerts.enabled):
        return None
    k, backend = settings.kafka, parts.backend
    alerts = AlertRuntime(
        settings=settings.alerts, window_config=window_config(settings.windows),
        registry=parts.registry, sink=parts.sink, database=database, metrics=metrics,
        produce=produce, alerts_topic=k.topic_alerts if settings.alerts.produce else None,
        raw_partitions=k.partitions,
    )
    backend.alert_event_types = alerts.paired_types()

    def on_rules(ruleset: RuleSet) -> None:
        backend.alert_event_types = paired_types(ruleset)

    alerts.on_rules_changed.append(on_rules)
    return alerts


def follow_rebalances(app: faust.App, worker: Worker, k: KafkaSettings) -> None:
    """Faust's group (the alert input topic): the alert engine is restored when its input
    partition comes, forgotten when it goes. The raw topic's rebalances are the raw
    consumer's (:mod:`streams.raw_consumer`)."""
    alerts = worker.alerts
    if alerts is None:
        return
    backend = worker.backend

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        if any(tp.topic == k.topic_alert_input for tp in revoked):
            try:  # what the engine wrote, before another worker's engine restores from it
                await asyncio.wait_for(worker.sink.flush("rebalance"), k.session_timeout_s)
            except Exception as e:  # noqa: BLE001 - redelivered input rewrites it
                log.warning("could not write the alert engine's rows before the rebalance "
                            "(%s)", e or type(e).__name__)
            alerts.forget()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        if not any(tp.topic == k.topic_alert_input for tp in assigned):
            alerts.forget()
            return
        # paired rules take their pairs from the registry: restoring before it is loaded
        # would drop the stored halves of pairs (no partner known yet)
        try:
            await asyncio.wait_for(worker.reader.ready.wait(), k.session_timeout_s)
        except TimeoutError:
            log.warning("station registry not loaded yet: restoring the alert engine "
                        "without its pairs")
        try:
            await alerts.restore()
        except Exception as e:
            log.exception("could not restore the alert engine")
            backend.fail(e)


def add_raw_feed(app: BloApp, settings: Settings, backend: IngestBackend,
                 metrics: Metrics) -> None:
    """The raw topic: its own consumer (:class:`streams.raw_consumer.RawConsumer`, one task)
    fetching into a :class:`RawFeed`, and one task taking from the feed into
    ``backend.handle``; records are acknowledged to the consumer, which commits them."""
    b, k = settings.batch, settings.kafka
    feed = app.raw_feed = RawFeed(k.topic_raw, max(4096, b.take_max * 2))
    raw = app.raw_consumer = RawConsumer(
        k, feed, metrics, on_assign=backend.assign,
        on_revoke=lambda tps: backend.revoke(tps, flush_timeout=k.session_timeout_s),
        on_error=backend.fail)

    @app.task  # type: ignore[untyped-decorator]
    async def consume_raw() -> None:
        try:
            await raw.run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("the raw topic's consumer failed")
            backend.fail(e)

    @app.task  # type: ignore[untyped-decorator]
    async def take_raw() -> None:
        await take_loop(feed, backend.handle, raw.ack, b.take_max, b.take_within_s,
                        backend.fail, backend.ready_to_take)


def add_alert_agent(app: faust.App, settings: Settings, worker: Worker,
                    alerts: AlertRuntime) -> None:
    """The alert engine's input agent, its tick and its rules reload."""
    k, backend = settings.kafka, worker.backend
    alert_topic = app.topic(k.topic_alert_input, partitions=1)

    @app.agent(alert_topic, name="blo.alerts")
    async def alert_engine(stream: Any) -> None:
        async for batch in stream.noack_take(1000, within=0.2):
            if backend.fatal is not None or backend.stopping:
                continue  # left unacknowledged: read again after the restart
            try:
                await alerts.handle(batch, stream.ack)
            except Exception as e:  # a sink that failed for good, a refused produce
                log.exception("alert input batch failed")
                backend.fail(e)

    def input_caught_up() -> bool:
        tp = faust.types.TP(k.topic_alert_input, 0)
        if alerts.engine is None or tp not in app.consumer.assignment():
            return False
        hw = app.consumer.highwater(tp)
        nxt = alerts.processed_next
        if nxt is None:
            nxt = getattr(app.consumer, "_committed_offset", {}).get(tp) or 0
        return hw is not None and nxt >= hw

    async def tick() -> None:
        await alerts.tick(input_caught_up())

    add_timer(app, backend, Timer(settings.alerts.tick_interval_s, "alert tick", tick))
    add_timer(app, backend, Timer(settings.alerts.reload_interval_s,
                                  "applying the reloaded rules", alerts.reload_rules))


def add_registry_task(app: faust.App, worker: Worker) -> None:
    """Start the sinks, then read the stations topic until the app stops (the reader
    reconnects by itself); the backend hears when the registry is loaded."""

    @app.task  # type: ignore[untyped-decorator]
    async def follow_registry() -> None:
        worker.sink.start()
        if worker.alerts is not None:
            worker.alerts.start()
        reader = worker.reader
        task = asyncio.ensure_future(reader.run())
        await reader.ready.wait()
        worker.backend.registry_loaded()
        await task


def add_timer(app: faust.App, backend: IngestBackend, timer: Timer) -> None:
    """Run ``timer`` on Faust's timers, :func:`streams.tasks.guarded` by ``backend``."""

    async def step() -> None:
        await guarded(backend, timer.name, timer.step)

    app.timer(timer.interval_s, name=f"blo: {timer.name}")(step)
