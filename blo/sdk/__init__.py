"""The station SDK: publish events to the pipeline through a durable on-disk buffer.

    from blo.sdk import StationPublisher

    with StationPublisher(settings.kafka, settings.kafka.topic_raw, "outbox.db") as pub:
        pub.publish({"station_id": "KG-TOR-01", "source_seq": 42, ...})

See docs/sdk.md for the guarantees (durability, order, batching, identity).
"""

from blo.sdk.corrections import revision_record, void_record
from blo.sdk.envelope import SCHEMA_VERSION, Event, complete_event, encode_event
from blo.sdk.errors import (
    BufferFull,
    BufferLocked,
    EventTooLarge,
    FlushTimeout,
    InvalidEvent,
    PublisherClosed,
    PublishError,
)
from blo.sdk.jsonl import JsonlError, iter_jsonl
from blo.sdk.publisher import StationPublisher, kafka_producer_factory

__all__ = [
    "SCHEMA_VERSION",
    "BufferFull",
    "BufferLocked",
    "Event",
    "EventTooLarge",
    "FlushTimeout",
    "InvalidEvent",
    "JsonlError",
    "PublishError",
    "PublisherClosed",
    "StationPublisher",
    "complete_event",
    "encode_event",
    "iter_jsonl",
    "kafka_producer_factory",
    "revision_record",
    "void_record",
]
