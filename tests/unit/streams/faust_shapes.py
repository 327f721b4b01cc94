"""What the runtime reads of a Faust event (``event.message.topic/partition/offset``,
``event.value``), for tests that hand takes to it without a broker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


@dataclass
class Event:
    message: Message
    value: bytes
