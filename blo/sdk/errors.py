"""What the station SDK raises. Every error is a :class:`PublishError`."""

from __future__ import annotations


class PublishError(Exception):
    """Base class of the SDK's errors."""


class InvalidEvent(PublishError, ValueError):
    """The event cannot be buffered: no ``station_id``, no ``source_seq`` to derive the
    ``event_id`` from, or a value that has no JSON form (e.g. a naive datetime).

    The SDK checks only what it needs to key, identify and serialise an event; the
    pipeline validates the rest and dead-letters what is wrong."""


class EventTooLarge(PublishError, ValueError):
    """The serialised event is larger than the broker accepts in one record."""


class BufferFull(PublishError):
    """The on-disk buffer reached ``max_buffer_bytes``: the broker has been unreachable for
    long. Nothing was written; retry later or raise the limit."""


class BufferLocked(PublishError):
    """Another process has this buffer file open (one publisher per buffer file)."""


class PublisherClosed(PublishError):
    """``publish()`` after ``close()``."""


class FlushTimeout(PublishError, TimeoutError):
    """``flush(timeout)`` returned with events still buffered (they stay on disk and are
    sent later, by this publisher or the next one on the same buffer file)."""

    def __init__(self, pending: int, timeout_s: float) -> None:
        super().__init__(f"{pending} event(s) still buffered after {timeout_s:g} s")
        self.pending = pending
