"""pytest plugin: the real Kafka-protocol broker (Tansu) for integration tests.

Registered from ``tests/conftest.py``. Fixtures:

* ``kafka_broker`` (session) -- one :class:`TansuBroker` on a free loopback port;
* ``kafka_settings`` (session) -- :class:`KafkaSettings` pointing at it (no env read);
* ``fresh_topic`` -- factory ``fresh_topic(partitions=1) -> name``: a new, unique topic;
* ``restartable_broker`` -- a started broker of the test's own, free to ``stop()`` and
  ``start()`` (same port; memory storage is empty again after a restart).

:func:`consume_records` reads a topic back without a consumer group (a group join costs
half the session timeout on Tansu) and without trusting end offsets (Tansu reports the
last batch's base offset + 1): it reads until it has the records it expects.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blo.localservices.tansu import TansuBroker
from blo.settings import KafkaSettings


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    broker = TansuBroker(workdir=tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: TansuBroker) -> KafkaSettings:
    return KafkaSettings(bootstrap=kafka_broker.bootstrap, security_protocol="PLAINTEXT")


def unique_topic_name(hint: str = "t") -> str:
    """``blo.test.<hint>.<random>``: valid Kafka topic characters, never reused."""
    cleaned = re.sub(r"[^a-zA-Z0-9._-]+", "-", hint)[:60].strip("-.") or "t"
    return f"blo.test.{cleaned}.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fresh_topic(
    kafka_broker: TansuBroker, request: pytest.FixtureRequest
) -> Callable[..., str]:
    def make(partitions: int = 1, *, hint: str | None = None) -> str:
        name = unique_topic_name(hint or request.node.name)
        kafka_broker.create_topics([name], partitions)
        return name

    return make


@pytest.fixture
def restartable_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(workdir=tmp_path / "tansu")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def consume_records(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    timeout_s: float = 60.0,
    weight: Callable[[Any], int] = lambda record: 1,
) -> list[Any]:
    """Read ``topic`` from the beginning of every partition until ``expected`` units
    arrived (or ``timeout_s`` passed, then return what came; callers assert the count),
    then read one more second so that surplus records (duplicates) show up too. A record
    counts ``weight(record)`` units (1: records; e.g. events per batched record).
    Records come back as kafka-python ``ConsumerRecord`` objects, per-partition order."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="blo-test-reader",
    )
    try:
        deadline = time.monotonic() + timeout_s
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.1)
        if partitions is None:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[Any] = []
        units = 0
        while units < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(batch)
                units += sum(weight(r) for r in batch)
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            for batch in consumer.poll(timeout_ms=200).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()
