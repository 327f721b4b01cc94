"""The background thread that drains the :class:`DiskBuffer` into Kafka, in order.

One *round*: read a window of the oldest rows, pack each station's events into records
(:func:`group_records`), send the **first record of each station**, wait until the broker
answered every one, and delete the rows of the acknowledged records. Nothing is deleted
before its record is acknowledged (``acks=all``), so a crash at any point loses nothing;
it may resend (the event ids make that harmless downstream).

Order: a station never has more than one record in flight, so a record that fails is
retried before anything behind it of that station is sent -- order holds per station
(= per key, = per partition order of that key) even across failures. Stations are
independent: one station's failure does not hold back another's acknowledged rows.

While the broker is unreachable the thread keeps the rows, retries with exponential
backoff (jittered, capped), logs a warning at the start of the outage, every
``log_every_s`` while it lasts and an info line when it ends -- and resumes by itself.
A record the broker refuses for good (too large / invalid) is split into single events
first; a single event still refused is moved to the buffer's ``rejected`` table so it does
not block its station forever.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from blo.backoff import delay_s
from blo.sdk.batching import OutgoingRecord, first_per_station, group_records
from blo.sdk.buffer import BufferClosed, BufferedEvent, DiskBuffer

log = logging.getLogger("blo.sdk")

#: The broker will never take this record: split it, or set the event aside.
RECORD_REFUSED: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidRecordError,
    CorruptRecordError,
)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` without kafka-python's habit of repeating the type."""
    name, text = type(exc).__name__, str(exc)
    return text if text.startswith(name) else f"{name}: {text}"


class RecordFuture(Protocol):
    """What kafka-python's ``send()`` returns (``FutureRecordMetadata``)."""

    is_done: bool
    exception: BaseException | None

    def succeeded(self) -> bool: ...


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` the sender uses."""

    def send(self, topic: str, value: bytes, key: bytes) -> RecordFuture: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


ProducerFactory = Callable[[], Producer]
"""Builds a connected producer or raises (broker unreachable): called again after backoff."""


@dataclasses.dataclass(frozen=True)
class SenderConfig:
    topic: str
    batch_max_events: int = 500
    batch_max_bytes: int = 256 * 1024
    linger_s: float = 0.05
    window_events: int = 1000  # rows read per round (>= batch_max_events)
    window_bytes: int = 1024 * 1024
    retry_initial_s: float = 0.5
    retry_max_s: float = 10.0
    ack_poll_s: float = 0.5
    log_every_s: float = 30.0
    idle_wait_s: float = 1.0


class Sender:
    """Owns the producer and the drain loop; see the module docstring for the contract."""

    def __init__(
        self,
        buffer: DiskBuffer,
        producer_factory: ProducerFactory,
        config: SenderConfig,
        *,
        on_progress: Callable[[], None] = lambda: None,
        describe_target: str = "Kafka",
    ) -> None:
        self._buffer = buffer
        self._factory = producer_factory
        self.config = config
        self._on_progress = on_progress
        self._target = describe_target
        self._producer: Producer | None = None
        self._wake = threading.Event()  # rows were appended
        self._urgent = threading.Event()  # flush()/close() waiting: skip the linger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blo-sdk-sender", daemon=True)
        self._failures = 0
        self._down_since: float | None = None
        self._last_warning = 0.0
        self._window: list[BufferedEvent] = []  # read, not yet acknowledged or set aside
        self._read_through = 0  # highest sequence number read into the window
        self._split: dict[str, int] = {}  # station -> rows up to this seq go one per record
        self.sent_events = 0
        self.rejected_events = 0
        self.last_error: str | None = None

    # -- control (called from the publisher's threads) ------------------------------------
    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def set_urgent(self, urgent: bool) -> None:
        if urgent:
            self._urgent.set()
            self._wake.set()
        else:
            self._urgent.clear()

    @property
    def connected(self) -> bool:
        """False while the broker is known to be unreachable."""
        return self._down_since is None and self._producer is not None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float) -> bool:
        """Stop now (rows not yet acknowledged stay buffered); True if the thread ended."""
        self._stop.set()
        self._urgent.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._step()
                except BufferClosed:
                    return
                except Exception as e:
                    log.exception("station SDK sender: unexpected error; retrying")
                    self._drop_producer()
                    self._failure("unexpected error", e)
        finally:
            self._drop_producer(timeout_s=0.0)

    def _step(self) -> None:
        pending = self._buffer.pending()
        if pending == 0:
            self._wake.wait(self.config.idle_wait_s)
            self._wake.clear()
            return
        if (
            pending < self.config.batch_max_events
            and self.config.linger_s > 0
            and not self._urgent.is_set()
        ):
            self._urgent.wait(self.config.linger_s)  # let a batch gather
        if self._stop.is_set():
            return
        producer = self._ensure_producer()
        if producer is None:
            return
        if self._run_round(producer):
            self._recovered()
        else:
            self._drop_producer()

    def _ensure_producer(self) -> Producer | None:
        if self._producer is not None:
            return self._producer
        try:
            producer = self._factory()
        except Exception as e:  # noqa: BLE001 -- any failure to connect is retried
            self._failure("cannot connect", e)
            return None
        if self._stop.is_set():
            producer.close(0.0)
            return None
        self._producer = producer
        return producer

    def _drop_producer(self, timeout_s: float = 1.0) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout_s)
            except Exception:
                log.debug("closing the producer failed", exc_info=True)

    # -- one round -----------------------------------------------------------------------
    def _fill_window(self) -> list[BufferedEvent]:
        """The rows of this round: those read before and still unacknowledged (kept in
        memory, so the buffer is read once), topped up with newer rows."""
        c = self.config
        need = c.window_events - len(self._window)
        if need > 0:
            have = sum(len(r.payload) for r in self._window)
            more = self._buffer.head(
                need, max(1, c.window_bytes - have), after=self._read_through
            )
            if more:
                self._window += more
                self._read_through = more[-1].seq
        return self._window

    def _records(self, rows: Sequence[BufferedEvent]) -> list[OutgoingRecord]:
        """This round's records: the first record of each station in the window."""
        c = self.config
        split = [r for r in rows if r.seq <= self._split.get(r.station_id, 0)]
        rest = [r for r in rows if r.seq > self._split.get(r.station_id, 0)]
        records = group_records(split, max_events=1, max_bytes=c.batch_max_bytes)
        records += group_records(
            rest, max_events=c.batch_max_events, max_bytes=c.batch_max_bytes
        )
        records.sort(key=lambda r: r.first_seq)
        return first_per_station(records)

    def _run_round(self, producer: Producer) -> bool:
        """Send one record per station from the head of the buffer, wait for the answers,
        delete what was acknowledged. False if the broker failed us (back off)."""
        c = self.config
        rows = self._fill_window()
        if not rows:
            return True
        sent: list[tuple[OutgoingRecord, RecordFuture]] = []
        refused: list[tuple[OutgoingRecord, BaseException]] = []
        failure: BaseException | None = None
        for record in self._records(rows):
            if self._stop.is_set():
                break
            try:
                sent.append((record, producer.send(c.topic, value=record.value, key=record.key)))
            except RECORD_REFUSED as e:
                refused.append((record, e))
            except Exception as e:  # noqa: BLE001 -- e.g. no metadata within max_block_ms
                failure = e
                break
        self._await_acks(producer, sent)
        done: list[int] = []
        for record, future in sent:
            if not future.is_done:  # stopping
                continue
            if future.succeeded():
                done.extend(record.seqs)
                continue
            exc = future.exception or RuntimeError("send failed without an exception")
            if isinstance(exc, RECORD_REFUSED):
                refused.append((record, exc))
            else:
                failure = failure or exc
        if done:
            self.sent_events += self._buffer.delete(done)
        for record, exc in refused:
            if self._refused(record, exc):
                done.extend(record.seqs)
        if done:
            finished = set(done)
            self._window = [r for r in self._window if r.seq not in finished]
        if done or refused:
            self._on_progress()
        if failure is not None:
            self._failure("send failed", failure)
            return False
        return True

    def _await_acks(
        self, producer: Producer, sent: Sequence[tuple[OutgoingRecord, RecordFuture]]
    ) -> None:
        """Until every record is answered (or stop). Never gives a record up: the producer
        retries until its delivery timeout, which fails the future."""
        started = time.monotonic()
        warned = False
        while sent and not all(f.is_done for _, f in sent):
            if self._stop.is_set():
                return
            try:
                producer.flush(self.config.ack_poll_s)
            except KafkaTimeoutError:
                pass
            waited = time.monotonic() - started
            if waited >= 10.0 and (not warned or self._may_warn()):
                warned = True
                self._mark_down(since=started)
                log.warning(
                    "no acknowledgement from %s for %.0f s; %d event(s) buffered in %s, "
                    "the producer keeps retrying",
                    self._target, waited, self._buffer.pending(), self._buffer.path,
                )

    def _refused(self, record: OutgoingRecord, exc: BaseException) -> bool:
        """Split a refused batch (False), or set a refused single event aside (True)."""
        reason = describe_error(exc)
        if record.count > 1:
            self._split[record.station_id] = max(
                self._split.get(record.station_id, 0), record.last_seq
            )
            log.warning(
                "%s refused a record of %d events of station %s (%s); resending them one "
                "per record", self._target, record.count, record.station_id, reason,
            )
            return False
        self._buffer.reject(record.first_seq, reason)
        self.rejected_events += 1
        log.error(
            "%s refused event seq=%d of station %s for good (%s); it is kept in the "
            "'rejected' table of %s and will not be resent",
            self._target, record.first_seq, record.station_id, reason, self._buffer.path,
        )
        return True

    # -- outage bookkeeping and logging ---------------------------------------------------
    def _may_warn(self) -> bool:
        return time.monotonic() - self._last_warning >= self.config.log_every_s

    def _mark_down(self, since: float | None = None) -> None:
        if self._down_since is None:
            self._down_since = since if since is not None else time.monotonic()
        self._last_warning = time.monotonic()

    def _failure(self, what: str, exc: BaseException) -> None:
        c = self.config
        self._failures += 1
        delay = delay_s(self._failures, c.retry_initial_s, c.retry_max_s, jitter=(0.8, 1.2))
        self.last_error = f"{what}: {describe_error(exc)}"
        since = self._down_since
        if since is None or self._may_warn():
            outage = "" if since is None else f" (for {time.monotonic() - since:.0f} s)"
            self._mark_down()
            log.warning(
                "%s unreachable%s -- %s; %d event(s) buffered in %s; retrying in %.1f s",
                self._target, outage, self.last_error, self._buffer.pending(),
                self._buffer.path, delay,
            )
        else:
            log.debug("%s still unreachable -- %s; retrying in %.1f s",
                      self._target, self.last_error, delay)
        self._stop.wait(delay)

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.info(
                "%s reachable again after %.0f s; %d event(s) still buffered",
                self._target, time.monotonic() - self._down_since, self._buffer.pending(),
            )
        self._down_since = None
        self._failures = 0
        self.last_error = None
