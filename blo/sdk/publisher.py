"""``StationPublisher``: how a station hands events to the pipeline.

``publish(event)`` completes the envelope (:mod:`blo.sdk.envelope`), writes the event to
the on-disk buffer (:mod:`blo.sdk.buffer`) and returns -- the event is then durable on the
station. A background thread (:mod:`blo.sdk.sender`) sends buffered events to Kafka,
packed per station into records, and deletes them only once the broker acknowledged
them. A broker that is down (even at start) only delays delivery: the publisher keeps
buffering up to ``max_buffer_bytes``, retries, and resumes by itself; a new publisher on
the same buffer file sends what an earlier process left, first and in order.

Delivery is at-least-once: after a crash or an outage an event may arrive twice, with the
same ``event_id``, which the pipeline collapses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from blo.kafka_config import kafka_python_kwargs
from blo.sdk.buffer import BufferClosed, BufferedEvent, DiskBuffer
from blo.sdk.corrections import revision_record, void_record
from blo.sdk.envelope import EncodedEvent, Event, encode_event
from blo.sdk.errors import EventTooLarge, FlushTimeout, PublisherClosed
from blo.sdk.sender import Producer, ProducerFactory, Sender, SenderConfig
from blo.settings import KafkaSettings

log = logging.getLogger("blo.sdk")

#: Bytes of a Kafka record batch that are not key or value (v2 batch header 61 bytes plus
#: the record's own varint header), with headroom.
RECORD_OVERHEAD = 128
#: Assumed upper bound of a station id's length, when sizing packed records.
_MAX_KEY_BYTES = 256


def kafka_producer_factory(
    kafka: KafkaSettings,
    *,
    compression: str | None = "gzip",
    connect_timeout_s: float = 5.0,
    delivery_timeout_s: float = 600.0,
    client_id: str = "blo-station-sdk",
) -> ProducerFactory:
    """A factory of kafka-python producers set up for ordered, acknowledged delivery.

    Validates the TLS/SASL settings now (raises :class:`~blo.settings.SettingsError`);
    each call connects and raises if no broker answers within ``connect_timeout_s``.
    """
    kwargs = kafka_python_kwargs(kafka, "producer")
    timeout_ms = int(connect_timeout_s * 1000)

    def make() -> Producer:
        from kafka import KafkaProducer

        producer: Producer = KafkaProducer(
            **kwargs,
            client_id=client_id,
            acks="all",
            # Not relying on the idempotent producer (Tansu's transactional support is
            # partial): order comes from one request in flight per connection and one
            # record per station in flight; duplicates are collapsed by event_id.
            enable_idempotence=False,
            max_in_flight_requests_per_connection=1,
            compression_type=compression,
            linger_ms=0,  # the SDK batches; a round is flushed as a whole
            batch_size=min(1024 * 1024, kafka.max_request_bytes),
            bootstrap_timeout_ms=timeout_ms,
            max_block_ms=timeout_ms,
            delivery_timeout_ms=int(delivery_timeout_s * 1000),
            reconnect_backoff_max_ms=5000,
        )
        return producer

    return make


def quiet_kafka_client_logs() -> None:
    """Raise the ``kafka`` (kafka-python) logger to CRITICAL -- unless the application
    set its level itself.

    During an outage kafka-python logs every failed connection attempt at ERROR, several
    lines a second; the publisher reports outages itself (a warning when one starts, one
    every ``log_every_s``, an info line when it ends). Set
    ``logging.getLogger("kafka").setLevel(logging.INFO)`` to see the client's own lines."""
    kafka_logger = logging.getLogger("kafka")
    if kafka_logger.level == logging.NOTSET:
        kafka_logger.setLevel(logging.CRITICAL)


class StationPublisher:
    """Durable, ordered, batched publishing of one station's (or a gateway's) events.

    ``kafka`` gives the broker and its limits (``max_request_bytes``); ``topic`` is
    normally ``kafka.topic_raw``; ``buffer_path`` is the SQLite outbox file (one publisher
    process per file). Records hold up to ``batch_max_events`` events and
    ``batch_max_bytes`` bytes (clamped below the broker limit); the sender waits up to
    ``linger_s`` for a batch to fill. ``synchronous="FULL"`` fsyncs every publish (survives
    power loss; see :mod:`blo.sdk.buffer`). ``quiet_kafka_logs``: see
    :func:`quiet_kafka_client_logs`. ``producer_factory`` replaces the kafka-python producer
    (tests).

    Raises :class:`~blo.settings.SettingsError` (bad TLS/SASL settings) and
    :class:`~blo.sdk.errors.BufferLocked` (buffer file in use).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        buffer_path: Path | str,
        *,
        batch_max_events: int = 500,
        batch_max_bytes: int = 256 * 1024,
        linger_s: float = 0.05,
        max_buffer_bytes: int = 256 * 1024 * 1024,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        compression: str | None = "gzip",
        connect_timeout_s: float = 5.0,
        delivery_timeout_s: float = 600.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 10.0,
        log_every_s: float = 30.0,
        quiet_kafka_logs: bool = True,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        if batch_max_events < 1:
            raise ValueError("batch_max_events must be >= 1")
        if quiet_kafka_logs:
            quiet_kafka_client_logs()
        self.topic = topic
        self.record_limit = kafka.max_request_bytes - RECORD_OVERHEAD
        self.batch_max_bytes = max(1, min(batch_max_bytes, self.record_limit - _MAX_KEY_BYTES))
        factory = producer_factory or kafka_producer_factory(
            kafka,
            compression=compression,
            connect_timeout_s=connect_timeout_s,
            delivery_timeout_s=delivery_timeout_s,
        )
        self._stop_timeout_s = connect_timeout_s + 5.0
        self._buffer = DiskBuffer(buffer_path, max_bytes=max_buffer_bytes, synchronous=synchronous)
        self._closed = False
        self._cv = threading.Condition()
        self._flushers = 0
        config = SenderConfig(
            topic=topic,
            batch_max_events=batch_max_events,
            batch_max_bytes=self.batch_max_bytes,
            linger_s=linger_s,
            window_events=max(1000, 2 * batch_max_events),
            window_bytes=max(1024 * 1024, 2 * self.batch_max_bytes),
            retry_initial_s=retry_initial_s,
            retry_max_s=retry_max_s,
            log_every_s=log_every_s,
        )
        target = f"Kafka at {kafka.bootstrap}" if kafka.bootstrap else "Kafka"
        self._sender = Sender(
            self._buffer, factory, config, on_progress=self._progress, describe_target=target
        )
        left = self._buffer.pending()
        log.info(
            "station publisher: topic %s, %s, buffer %s%s",
            topic, target, self._buffer.path,
            f" ({left} event(s) left from before: sending them first)" if left else "",
        )
        self._sender.start()

    # -- publishing ----------------------------------------------------------------------
    def _encode(self, event: Event) -> EncodedEvent:
        encoded = encode_event(event)
        size = len(encoded.payload) + len(encoded.station_id.encode())
        if size > self.record_limit:
            raise EventTooLarge(
                f"event {encoded.event_id} of station {encoded.station_id} is {size} bytes "
                f"with its key; the broker takes at most {self.record_limit} per record "
                "(BLO_KAFKA_MAX_REQUEST_BYTES minus record overhead)"
            )
        return encoded

    def publish(self, event: Event) -> str:
        """Buffer one event durably and return its ``event_id``; sending happens later.

        Raises :class:`InvalidEvent`, :class:`EventTooLarge`, :class:`BufferFull`,
        :class:`PublisherClosed`. Nothing is buffered when it raises.
        """
        return self.publish_many([event])[0]

    def publish_many(self, events: Iterable[Event]) -> list[str]:
        """Buffer several events in one transaction (all or none; one fsync) and return
        their ids. Raises like :meth:`publish` -- for the first bad event, before any is
        buffered."""
        if self._closed:
            raise PublisherClosed("publish() after close()")
        encoded = [self._encode(e) for e in events]
        if not encoded:
            return []
        try:
            self._buffer.append_many([(e.station_id, e.payload) for e in encoded])
        except BufferClosed:
            raise PublisherClosed("publish() after close()") from None
        self._sender.notify()
        return [e.event_id for e in encoded]

    def revise(self, event: Event, *, revision: int, reason: str) -> str:
        """Buffer ``event`` -- the corrected event, whole -- as revision ``revision`` of
        itself (same ``event_id``, derived as :meth:`publish` does when absent), with
        ``reason``; return the id. ``revision`` must be higher than any sent for the event
        (the original is 0): the highest revision wins. Checked with the schema models
        first (:func:`blo.sdk.corrections.revision_record`); raises like :meth:`publish`."""
        return self.publish(revision_record(event, revision=revision, reason=reason))

    def void(self, event: Event, *, revision: int, reason: str) -> str:
        """Buffer the ``void`` of ``event`` (its ``event_id``, ``station_id``,
        ``occurred_at``, ``source_seq``) at ``revision`` with ``reason``; return the id.
        The event leaves every statistic; its history stays. Checked with the schema
        models first (:func:`blo.sdk.corrections.void_record`); raises like
        :meth:`publish`."""
        return self.publish(void_record(event, revision=revision, reason=reason))

    # -- waiting -------------------------------------------------------------------------
    def _progress(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def pending(self) -> int:
        """Events buffered and not yet acknowledged by the broker."""
        return self._buffer.pending()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every buffered event is acknowledged (the buffer is empty).

        Raises :class:`FlushTimeout` after ``timeout`` seconds (``None``: wait as long as it
        takes); the events stay buffered and are still sent."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            self._flushers += 1
            self._sender.set_urgent(True)
            try:
                while self._buffer.pending() > 0 and not self._buffer.closed:
                    remaining = 1.0 if deadline is None else deadline - time.monotonic()
                    if remaining <= 0:
                        raise FlushTimeout(self._buffer.pending(), timeout or 0.0)
                    self._cv.wait(min(remaining, 1.0))
            finally:
                self._flushers -= 1
                if self._flushers == 0:
                    self._sender.set_urgent(False)

    # -- state ---------------------------------------------------------------------------
    @property
    def buffer_path(self) -> Path:
        return self._buffer.path

    @property
    def connected(self) -> bool:
        """False while the broker is known to be unreachable (or not reached yet)."""
        return self._sender.connected

    @property
    def last_error(self) -> str | None:
        """Why the last attempt to reach the broker failed (None once it works again)."""
        return self._sender.last_error

    @property
    def sent_events(self) -> int:
        """Events acknowledged by the broker through this publisher."""
        return self._sender.sent_events

    def rejected(self) -> list[tuple[BufferedEvent, str]]:
        """Events the broker refused for good, set aside in the buffer file, with reasons."""
        return self._buffer.rejected()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting events, try to deliver the buffer for up to ``timeout`` seconds,
        stop the sender. What is still buffered stays on disk for the next publisher."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._buffer.pending():
                self.flush(timeout)
        except FlushTimeout as e:
            log.warning(
                "closing with %d event(s) still buffered in %s: they are sent by the next "
                "publisher on that file", e.pending, self._buffer.path,
            )
        finally:
            if not self._sender.stop(self._stop_timeout_s):
                log.warning("the sender thread did not stop within %.0f s", self._stop_timeout_s)
            self._buffer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connected else "buffering")
        return (
            f"StationPublisher(topic={self.topic}, {state}, pending={self.pending()}, "
            f"buffer={self._buffer.path})"
        )
