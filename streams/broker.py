"""The Kafka broker's reachability as the worker sees it: one state, one log line per change.

A long-running consumer must outlive its broker's outages: keep retrying, say so once, show
it on ``/readyz``, and carry on by itself when the broker is back. Three parts:

* :class:`BrokerState` -- reachable or not, why, since when. :meth:`~BrokerState.down` and
  :meth:`~BrokerState.up` log one line each **on a change** ("Kafka broker unreachable at
  BLO_KAFKA_BOOTSTRAP=…: …; retrying", "Kafka broker reachable again after 63 s"), never per
  retry; ``/readyz`` shows it as the check ``broker_connected``.
* :func:`watch_broker` -- the probe that drives the state: an ApiVersions request to
  ``BLO_KAFKA_BOOTSTRAP`` every :data:`PROBE_INTERVAL_S`, bounded by
  :data:`PROBE_TIMEOUT_S` (a paused or hung broker still accepts TCP connections and never
  answers; the clients' own timeouts are 30-40 s and more).
* :func:`retrying` -- a produce that rides out an outage: retriable Kafka errors (node not
  ready, request timed out, connection lost) are retried with backoff until the broker
  takes the record, or until the worker stops. Nothing is acknowledged meanwhile (offsets
  advance only after the produce), so the stream waits instead of failing; a retried
  produce may put a record on its topic twice (at-least-once, as after any crash).
* :class:`ClientLogTamer` -- the Kafka clients (aiokafka, kafka-python, Faust's transport)
  log every failed reconnect, fetch and heartbeat, hundreds of lines a second while the
  broker is away. The filter lets the first of each kind through, then holds repeats back
  at DEBUG: all of them while the state is "down" (after the first of the outage), and any
  repeat of the same message within :data:`REPEAT_WINDOW_S` otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from blo.backoff import delays
from blo.kafka_config import aiokafka_kwargs
from blo.settings import KafkaSettings

log = logging.getLogger("blo.broker")

PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 5.0
PROBE_FAILURES_TO_DOWN = 2
"""Consecutive failed probes before the broker counts as unreachable (one slow answer from
a busy broker is not an outage)."""

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
REPEAT_WINDOW_S = 300.0
CLIENT_LOGGERS = ("aiokafka", "kafka", "faust.transport")
"""Loggers (and their children) of the Kafka clients whose repeats :class:`ClientLogTamer`
holds back."""

T = TypeVar("T")


class BrokerState:
    """Whether the broker answers, as last seen; logs one line per change of state.

    ``connected`` starts True (the worker starts only once its topics exist, i.e. after the
    broker answered; :func:`blo.worker.run_worker` marks it down while it waits).
    ``on_change(connected)``: e.g. a Prometheus gauge."""

    def __init__(self, bootstrap: str, logger: logging.Logger = log,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.bootstrap = bootstrap
        self.log = logger
        self.on_change = on_change
        self.connected = True
        self.reason = ""
        self.since = time.monotonic()
        self.outage = 0
        """Number of the current (or last) outage: bumped by each up → down change."""
        self.held_back = 0
        """Client log lines held back at DEBUG during the current outage."""

    @property
    def where(self) -> str:
        return f"BLO_KAFKA_BOOTSTRAP={self.bootstrap}"

    def describe(self) -> str:
        """For ``/readyz``: why the broker counts as unreachable, for how long."""
        if self.connected:
            return ""
        return (f"Kafka broker unreachable at {self.where} for "
                f"{time.monotonic() - self.since:.0f} s: {self.reason}")

    def down(self, reason: str) -> None:
        self.reason = reason
        if not self.connected:
            return  # already said; /readyz shows the latest reason
        self.connected = False
        self.since = time.monotonic()
        self.outage += 1
        self.held_back = 0
        self.log.warning("Kafka broker unreachable at %s: %s; retrying (the worker waits "
                         "for it: nothing is lost)", self.where, reason)
        if self.on_change is not None:
            self.on_change(False)

    def up(self, first: bool = False) -> None:
        """``first``: the broker answered for the first time since the process started."""
        if self.connected:
            return
        self.connected = True
        took = time.monotonic() - self.since
        held = (f" ({self.held_back} repeated Kafka client messages held back at DEBUG)"
                if self.held_back else "")
        if first:
            self.log.info("Kafka broker at %s reachable after %.0f s%s", self.where, took, held)
        else:
            self.log.info("Kafka broker reachable again after %.0f s%s", took, held)
        self.reason = ""
        if self.on_change is not None:
            self.on_change(True)


# -- the probe ---------------------------------------------------------------------------
_API_VERSIONS_V0 = struct.pack(">hhih", 18, 0, 1, 16) + b"blo-broker-probe"
"""An ApiVersions v0 request (key 18, correlation id 1, client id): the one request every
Kafka broker answers before authentication, so the probe needs no client library (whose
own log lines would add to the noise) and no credentials."""


async def _ask_api_versions(host: str, port: int, ssl_context: Any) -> None:
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ssl_context, server_hostname=host if ssl_context else None)
    try:
        writer.write(struct.pack(">i", len(_API_VERSIONS_V0)) + _API_VERSIONS_V0)
        await writer.drain()
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        body = await reader.readexactly(size)
        if size < 4 or struct.unpack(">i", body[:4])[0] != 1:
            raise ConnectionError("not a Kafka answer")
    finally:
        writer.close()


async def probe(kafka: KafkaSettings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """One ApiVersions request to the bootstrap servers (the first that answers wins).
    Raises ``ConnectionError`` with a short reason (per server when there are several)
    when none answers within ``timeout_s``."""
    ctx = aiokafka_kwargs(kafka, role="consumer").get("ssl_context")
    reasons = []
    for server in kafka.bootstrap_servers():
        host, _, port = server.rpartition(":")
        try:
            await asyncio.wait_for(_ask_api_versions(host, int(port), ctx), timeout_s)
            return
        except TimeoutError:
            reasons.append(f"{server}: no answer within {timeout_s:.0f} s")
        except (OSError, EOFError, ValueError, struct.error) as e:
            what = ("connection refused" if isinstance(e, ConnectionRefusedError) else
                    "host not found" if isinstance(e, socket.gaierror) else
                    "connection closed" if isinstance(e, EOFError) else
                    str(e).strip() or type(e).__name__)
            reasons.append(f"{server}: {what}")
    if len(reasons) == 1:  # the line names BLO_KAFKA_BOOTSTRAP, hence the server
        raise ConnectionError(reasons[0].split(": ", 1)[1])
    raise ConnectionError("; ".join(reasons))


async def watch_broker(state: BrokerState, kafka: KafkaSettings,
                       interval_s: float = PROBE_INTERVAL_S,
                       timeout_s: float = PROBE_TIMEOUT_S,
                       failures_to_down: int = PROBE_FAILURES_TO_DOWN) -> None:
    """Probe forever (cancel to stop), driving ``state``."""
    failures = 0
    while True:
        try:
            await probe(kafka, timeout_s)
        except Exception as e:  # noqa: BLE001 - whatever the probe hit, the broker did not answer
            failures += 1
            if failures >= failures_to_down or not state.connected:
                state.down(str(e))
        else:
            failures = 0
            state.up()
        await asyncio.sleep(interval_s)


# -- producing through an outage ----------------------------------------------------------
def is_retriable(exc: BaseException) -> bool:
    """Errors that a broker coming back cures: connection and timeout errors, and Kafka
    errors the client marks retriable (node not ready, not leader, request timed out)."""
    from aiokafka.errors import KafkaError, KafkaTimeoutError

    if isinstance(exc, KafkaTimeoutError | TimeoutError | ConnectionError):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def retrying(produce: Callable[..., Awaitable[T]], state: BrokerState,
             stopping: Callable[[], bool], *, drives_state: bool = False,
             logger: logging.Logger = log) -> Callable[..., Awaitable[T]]:
    """``produce`` retried on :func:`is_retriable` errors, with backoff
    (:data:`RETRY_FIRST_S` doubling to :data:`RETRY_MAX_S`), until it succeeds or
    ``stopping()`` (then the last error is raised: the records stay unacknowledged).
    Other errors (a record too large, no authorization) are raised at once.

    ``drives_state=False`` (a process with a probe): nothing is logged while ``state``
    already says the broker is down (it said so); otherwise one warning per produce that
    fails, and one line when it got through. ``drives_state=True`` (a process without a
    probe, the ingest process): the first retriable failure marks ``state`` down, the next
    success marks it up -- one line each."""

    async def produce_retrying(topic: str, *args: Any) -> T:
        waits = delays(RETRY_FIRST_S, RETRY_MAX_S)
        warned = False
        started = time.monotonic()
        while True:
            try:
                result = await produce(topic, *args)
            except Exception as e:
                if not is_retriable(e) or stopping():
                    raise
                reason = f"producing to {topic} failed: {type(e).__name__}: {e}"
                if drives_state:
                    state.down(reason)
                elif state.connected and not warned:
                    logger.warning("%s; retrying until the broker takes it", reason)
                    warned = True
                await asyncio.sleep(next(waits))
                continue
            if drives_state:
                state.up()
            elif warned:
                logger.info("produced to %s after %.0f s of retries", topic,
                            time.monotonic() - started)
            return result

    return produce_retrying


# -- taming the clients' logs -------------------------------------------------------------
_NUMBERS = re.compile(r"\d+")


class ClientLogTamer(logging.Filter):
    """A handler filter: repeated WARNING/ERROR records of the Kafka clients
    (:data:`CLIENT_LOGGERS`) are held back at DEBUG (dropped unless the root logger is at
    DEBUG). The first of each kind always passes (a message with its numbers blanked out:
    node ids, ports, backoffs). While ``state`` says the broker is down, only the first
    client record of that outage passes; otherwise a repeat passes again after
    :data:`REPEAT_WINDOW_S`."""

    def __init__(self, state: BrokerState | None = None,
                 window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__("blo.broker.tamer")
        self.state = state
        self.window_s = window_s
        self._seen: dict[tuple[str, str], float] = {}
        self._outage_shown = 0
        self.held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.levelno >= logging.CRITICAL:
            return True
        name = record.name
        if not any(name == p or name.startswith(p + ".") for p in CLIENT_LOGGERS):
            return True
        now = time.monotonic()
        key = (name, _NUMBERS.sub("N", record.getMessage())[:200])
        state = self.state
        last = self._seen.get(key)
        recent = last is not None and now - last < self.window_s
        if state is not None and not state.connected:
            if self._outage_shown == state.outage or recent:
                return self._hold_back(record)
            self._outage_shown = state.outage  # the first client line of this outage
        elif recent:
            return self._hold_back(record)
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = now
        return True

    def _hold_back(self, record: logging.LogRecord) -> bool:
        self.held_back += 1
        if self.state is not None:
            self.state.held_back += 1
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def tame_client_logs(state: BrokerState | None = None) -> ClientLogTamer:
    """Install one :class:`ClientLogTamer` on every handler of the root logger (the Kafka
    clients' loggers propagate there); returns it."""
    tamer = ClientLogTamer(state)
    for handler in logging.getLogger().handlers:
        for f in list(handler.filters):
            if isinstance(f, ClientLogTamer):
                handler.removeFilter(f)
        handler.addFilter(tamer)
    return tamer
