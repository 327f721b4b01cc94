"""Small synchronous Kafka helpers for CLI commands (kafka-python)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from blo.kafka_config import kafka_python_kwargs
from blo.settings import KafkaSettings

log = logging.getLogger("blo.kafka")


# The registry and the dead letters must outlive the broker's default retention (7 days on
# Apache Kafka): a worker started later reads the whole registry, and `blo dlq replay` reads
# the DLQ topic. The registry is not compacted: its key is the station, and compaction would
# erase the valid_from history that enrichment of old events needs.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def ensure_pipeline_topics(kafka: KafkaSettings, *, enriched: bool = False,
                           windows: bool = False, alerts: bool = False,
                           timeout_s: float | None = None) -> None:
    """Create the pipeline's topics that are missing, with their retention policies. The
    alert input has one partition (one engine sees every station), and so has the alerts
    topic (an alert's versions in order, for every consumer). ``timeout_s``: see
    :func:`ensure_topics`."""
    topics = {kafka.topic_raw: kafka.partitions, kafka.topic_dlq: kafka.partitions,
              kafka.topic_stations: 1}
    if enriched:
        topics[kafka.topic_enriched] = kafka.partitions
    if windows:
        topics[kafka.topic_windows] = kafka.partitions
    if alerts:
        topics[kafka.topic_alert_input] = 1
        topics[kafka.topic_alerts] = 1
    ensure_topics(kafka, topics, configs={kafka.topic_stations: KEEP_FOREVER,
                                          kafka.topic_dlq: KEEP_FOREVER}, timeout_s=timeout_s)


def ensure_topics(kafka: KafkaSettings, topics: dict[str, int],
                  configs: dict[str, dict[str, str]] | None = None,
                  timeout_s: float | None = None) -> None:
    """Create missing topics (name → partitions, optional topic configs); existing ones are
    left as they are. ``timeout_s``: how long to wait for the broker's first answer and
    for each request (kafka-python's default: 30 s); an unreachable broker raises
    ``kafka.errors.NoBrokersAvailable`` / ``KafkaTimeoutError``."""
    limits = {} if timeout_s is None else {"bootstrap_timeout_ms": int(timeout_s * 1000),
                                           "request_timeout_ms": int(timeout_s * 1000)}
    admin = KafkaAdminClient(**kafka_python_kwargs(kafka, role="admin"), **limits)
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(t, num_partitions=p, replication_factor=kafka.replication_factor,
                        topic_configs=(configs or {}).get(t, {}))
               for t, p in topics.items() if t not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def produce(kafka: KafkaSettings, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send (key, value) records and wait for every acknowledgement. Returns the count."""
    producer = KafkaProducer(acks="all", **kafka_python_kwargs(kafka))
    n = 0
    try:
        futures = [producer.send(topic, key=k, value=v) for k, v in records]
        producer.flush()
        for f in futures:
            f.get(timeout=60)
            n += 1
    finally:
        producer.close()
    return n


def read_topic(kafka: KafkaSettings, topic: str, idle_timeout_s: float = 3.0
               ) -> Iterator[tuple[int, int, bytes | None, bytes | None]]:
    """Every record of a topic from the beginning: (partition, offset, key, value).

    Stops once no record arrived for ``idle_timeout_s`` (end offsets are not trusted:
    they are wrong on some brokers)."""
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=int(idle_timeout_s * 1000),
                             **kafka_python_kwargs(kafka, role="consumer"))
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        for m in consumer:
            yield m.partition, m.offset, m.key, m.value
    finally:
        consumer.close()
