"""A fake kafka-python producer for the sender's unit tests (no network)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka.errors import KafkaTimeoutError


class FakeFuture:
    def __init__(self) -> None:
        self.is_done = False
        self.exception: BaseException | None = None

    def succeeded(self) -> bool:
        return self.is_done and self.exception is None

    def resolve(self, exc: BaseException | None = None) -> None:
        self.exception = exc
        self.is_done = True


@dataclass
class SentRecord:
    topic: str
    key: bytes
    value: bytes
    future: FakeFuture


@dataclass
class FakeBroker:
    """What the fake producers write to, and how the broker behaves.

    ``up``: producers can be created and records are acknowledged at ``flush``.
    ``verdict(record) -> exception | None``: per-record answer (None = acknowledged).
    ``hold``: when True, flush acknowledges nothing (records stay in flight).
    """

    up: bool = True
    hold: bool = False
    verdict: Callable[[SentRecord], BaseException | None] = lambda r: None
    send_error: Callable[[SentRecord], BaseException | None] = lambda r: None
    log: list[SentRecord] = field(default_factory=list)  # acknowledged records, in order
    attempts: list[SentRecord] = field(default_factory=list)  # every send
    producers_made: int = 0
    connect_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def factory(self) -> FakeProducer:
        with self.lock:
            if not self.up:
                self.connect_failures += 1
                raise KafkaTimeoutError("Unable to bootstrap from fake")
            self.producers_made += 1
        return FakeProducer(self)


class FakeProducer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.in_flight: list[SentRecord] = []
        self.closed = False

    def send(self, topic: str, value: bytes, key: bytes) -> FakeFuture:
        record = SentRecord(topic, key, value, FakeFuture())
        err = self.broker.send_error(record)
        if err is not None:
            raise err
        with self.broker.lock:
            self.broker.attempts.append(record)
        self.in_flight.append(record)
        return record.future

    def flush(self, timeout: float | None = None) -> None:
        if self.broker.hold or not self.broker.up:
            time.sleep(min(timeout or 0.02, 0.02))  # the real flush blocks for its timeout
            raise KafkaTimeoutError("Timeout waiting for future")
        for record in self.in_flight:
            exc = self.broker.verdict(record)
            if exc is None:
                with self.broker.lock:
                    self.broker.log.append(record)
            record.future.resolve(exc)
        self.in_flight = []

    def close(self, timeout: float | None = None) -> None:
        self.closed = True
