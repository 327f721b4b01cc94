"""The ingest process: the per-event work of a worker, beside its Faust process.

Started by :class:`streams.offload.IngestProcess` (``BLO_INGEST_PROCESS=separate``, the
default with a ClickHouse server); never by hand. It owns exactly what
:func:`streams.assembly.build_ingest` builds in the inline mode — station registry (its own
reader of the stations topic), validation and enrichment, the conflict cache, holds, the
window state, the batching sink and its ClickHouse connection — plus a Kafka producer for
dead letters, window rows and alert input. The Faust process keeps the consumer group, the
offsets, the alert engine and the HTTP endpoints.

Messages (pickled tuples on one socket, :mod:`streams.channel`), Faust side → here:

* ``("batch", seq, generation, topic, partitions, offsets, values, positions)`` — a take;
  answered by ``("done", seq)`` once processed and handed to the sink (which may block:
  backpressure). A take of an older assignment ``generation`` than the current one is
  dropped unprocessed: after a rebalance Faust fetches again from the committed offsets;
* ``("positions", {(topic, partition): (highwater, committed)})`` — the consumer's view,
  for "caught up" (idle closes) and lag; also carried by every take;
* ``("call", id, name, args)`` — ``assign`` (starts a new generation), ``revoke``,
  ``drain``, ``metrics``, ``alert_types``; answered by ``("reply", id, ok, value)``;
* ``("stop",)``.

Here → Faust side: ``("ack", {(topic, partition): next_offset})`` — everything before
``next_offset`` is durable (the sink's ``on_durable``, through the same
:class:`streams.frontier.AckFrontier` as inline), ``("pause", bool)`` — the sink's
backpressure, ``("stall", bool, age_s)`` — the sink stalled (its oldest pending write
``age_s`` old: ``/readyz`` answers 503) or writes again, ``("ready",)`` — registry loaded,
and ``("fatal", sink_failed, message, dlq_flood)``.
Everything goes out in program order, so the acknowledgements of a revoke's or a drain's
flush arrive before its reply.

The process dies with its parent (``PR_SET_PDEATHSIG``): a SIGKILLed worker leaves no
orphan writing behind its successor. SIGINT and SIGTERM are ignored: the Faust process
drives the shutdown (``drain``, then ``stop``).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("blo.ingest.process")


class _Message:
    __slots__ = ("offset", "partition", "topic")

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset


class _Event:
    """What :meth:`streams.runtime.IngestRuntime.handle` reads of a Faust event."""

    __slots__ = ("message", "value")

    def __init__(self, message: _Message, value: bytes | None) -> None:
        self.message, self.value = message, value


def die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the parent dies (however it dies)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the channel's EOF still stops us
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class IngestServer:
    """The ingest process's side of the channel."""

    def __init__(self, channel: Any, settings: Any) -> None:
        from blo.db import open_database
        from blo.metrics import Metrics
        from streams.assembly import build_ingest

        self.channel = channel
        self.settings = settings
        self.metrics = Metrics()
        self.db = open_database(settings.clickhouse)
        self.producer: Any = None
        self.positions: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        self._acks: dict[tuple[str, int], int] = {}
        self._ack_flush_scheduled = False
        self.generation = 0  # of the assignment, set by the Faust side with each `assign`
        self._tasks: set[asyncio.Future[Any]] = set()
        self._batches: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        from streams.broker import BrokerState, retrying

        # a broker outage is waited out (one line when it starts, one when it ends)
        self.broker = BrokerState(",".join(settings.kafka.bootstrap_servers()))
        self._produce = retrying(self._produce_once, self.broker,
                                 lambda: self.runtime.stopping, drives_state=True)
        self.parts = build_ingest(settings, self.db, self.metrics, self.produce, self._on_fatal)
        self.runtime = self.parts.runtime
        self.runtime.highwater = lambda t, p: self.positions.get((t, p), (None, None))[0]
        self.parts.sink.add_backpressure_listener(self._on_backpressure)
        self.parts.sink.add_stall_listener(self._on_stall)

    # -- outgoing ------------------------------------------------------------------------
    async def produce(self, topic: str, key: bytes, value: bytes) -> Any:
        return await self._produce(topic, key, value)

    async def _produce_once(self, topic: str, key: bytes, value: bytes) -> Any:
        return await self.producer.send_and_wait(topic, value, key=key or None)

    def _post(self, *message: Any) -> None:
        from streams.channel import ChannelClosed

        try:
            self.channel.post(*message)
        except ChannelClosed:
            pass  # the Faust process is gone; so are we, soon (PR_SET_PDEATHSIG)

    def _on_fatal(self, exc: BaseException) -> None:
        from sinks.base import SinkError
        from streams.guard import DlqFloodError

        # the Faust side exits 3 for the dead-letter guard, 4 for anything else
        self._post("fatal", isinstance(exc, SinkError), str(exc),
                   isinstance(exc, DlqFloodError))

    def _on_backpressure(self, active: bool) -> None:
        self._post("pause", active)

    def _on_stall(self, stalled: bool, age_s: float) -> None:
        self._post("stall", stalled, age_s)

    async def _ack(self, handle: _Event) -> None:
        m = handle.message
        key = (m.topic, m.partition)
        nxt = m.offset + 1
        if nxt > self._acks.get(key, -1):
            self._acks[key] = nxt
        if not self._ack_flush_scheduled:  # one message for every ack of this loop turn
            self._ack_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self._ack_flush_scheduled = False
        acks, self._acks = self._acks, {}
        if acks:
            self._post("ack", acks)

    def _spawn(self, coro: Awaitable[Any], what: str) -> None:
        fut = asyncio.ensure_future(coro)
        self._tasks.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            self._tasks.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("%s failed: %s", what, f.exception())

        fut.add_done_callback(done)

    # -- the loops -----------------------------------------------------------------------
    async def run(self) -> None:
        from aiokafka import AIOKafkaProducer

        from blo.kafka_config import aiokafka_kwargs
        from blo.worker import tune_gc
        from streams.registry_reader import RegistryReader

        s = self.settings
        self.producer = AIOKafkaProducer(acks="all", linger_ms=5, request_timeout_ms=30_000,
                                         **aiokafka_kwargs(s.kafka, role="producer"))
        await self.producer.start()
        parts, runtime = self.parts, self.runtime
        parts.sink.start()
        # the Faust process writes the `stations` rows; this reader only feeds enrichment
        reader = RegistryReader(s.kafka, parts.registry, self.metrics, lambda records: None)
        loops = [reader.run(), self._batch_loop(), self._timer(0.5, runtime.release_holds),
                 self._timer(2.0, self._update_lag)]
        if parts.windows is not None:
            loops.append(self._timer(s.windows.tick_interval_s, self._tick_windows))
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        for t in tasks:
            t.add_done_callback(self._loop_ended)
        tune_gc()

        async def registry_ready() -> None:
            await reader.ready.wait()
            runtime.registry_ready.set()
            self._post("ready")

        self._spawn(registry_ready(), "waiting for the station registry")
        try:
            await self._read_loop()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await self.producer.stop()
            finally:
                self.db.close()

    def _loop_ended(self, task: asyncio.Future[Any]) -> None:
        """The loops run until cancelled: one that ends by itself is a bug; say so, loudly,
        instead of leaving a process that no longer processes anything."""
        if task.cancelled():
            return
        exc = task.exception() or RuntimeError("a loop of the ingest process ended")
        log.error("ingest process loop failed: %r", exc)
        self.runtime.fail(RuntimeError(f"the ingest process failed: {exc!r}"))

    async def _read_loop(self) -> None:
        from streams.channel import ChannelClosed

        while True:
            try:
                msg = await self.channel.recv()
            except ChannelClosed:
                log.error("the Faust process closed the channel; stopping")
                return
            kind = msg[0]
            if kind == "batch":
                self._batches.put_nowait(msg)
            elif kind == "positions":
                self.positions = msg[1]
            elif kind == "call":
                if msg[2] == "assign":  # takes after this message belong to it
                    self.generation = msg[3][1]
                self._spawn(self._call(msg[1], msg[2], msg[3]), f"call {msg[2]}")
            elif kind == "stop":
                return
            else:
                log.error("unknown message %r from the Faust process", kind)

    async def _batch_loop(self) -> None:
        runtime, ack, windows = self.runtime, self._ack, self.parts.windows
        while True:
            msg = await self._batches.get()
            _, seq, generation, topic, partitions, offsets, values, positions = msg
            self.positions = positions
            # wait here, not inside handle(): between the generation check and handle()
            # nothing may yield, or a rebalance could slip in between
            if not runtime.registry_ready.is_set():
                log.info("waiting for the station registry before the first batch")
                await runtime.registry_ready.wait()
            if windows is not None and not windows.ready.is_set():
                await windows.ready.wait()  # the new assignment's state being restored
            if generation == self.generation:
                events = [_Event(_Message(topic, p, o), v)
                          for p, o, v in zip(partitions, offsets, values, strict=True)]
                await runtime.handle(events, ack)
            self._post("done", seq)

    async def _timer(self, interval: float, step: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(interval)
            runtime = self.runtime
            if runtime.stopping or runtime.fatal is not None:
                continue
            try:
                await step()
            except Exception as e:  # a sink that failed for good, a refused produce
                if runtime.stopping:  # begun before the drain, cut by it (sink closed)
                    log.warning("timer step interrupted by the shutdown: %s", e)
                    continue
                log.exception("timer step failed")
                runtime.fail(e)

    async def _update_lag(self) -> None:
        self.runtime.update_lag()

    async def _tick_windows(self) -> None:
        from streams.assembly import window_tick

        s, windows = self.settings, self.parts.windows
        assert windows is not None
        alert_topic = (s.kafka.topic_alert_input
                       if s.windows.enabled and s.alerts.enabled else None)
        await window_tick(self.runtime, windows, self.positions, self.produce, alert_topic)

    # -- calls ---------------------------------------------------------------------------
    async def _call(self, call_id: int, name: str, args: tuple[Any, ...]) -> None:
        try:
            value = await getattr(self, f"call_{name}")(*args)
            ok = True
        except Exception as e:
            log.exception("%s failed", name)
            value, ok = f"{type(e).__name__}: {e}", False
        self._post("reply", call_id, ok, value)

    async def call_assign(self, tps: list[tuple[str, int]], generation: int) -> None:
        from streams.assembly import take_assignment

        mine = set(tps)
        self.positions = {tp: v for tp, v in self.positions.items() if tp in mine}
        await take_assignment(self.runtime, self.parts.windows, mine)

    async def call_revoke(self, tps: list[tuple[str, int]], flush_timeout: float) -> None:
        await self.runtime.on_revoked(tps, flush_timeout=flush_timeout)
        gone = set(tps)
        self.positions = {tp: v for tp, v in self.positions.items() if tp not in gone}
        self._flush_acks()  # what the flush made durable, before the reply

    async def call_drain(self, timeout: float) -> None:
        await self.runtime.drain(timeout)
        self._flush_acks()

    async def call_alert_types(self, types: frozenset[str]) -> None:
        self.runtime.alert_event_types = types

    async def call_metrics(self) -> list[Any]:
        return list(self.metrics.registry.collect())


async def _main(fd: int) -> None:
    from streams.channel import Channel

    sock = socket.socket(fileno=fd)
    channel = await Channel.open(sock)
    msg = await channel.recv()
    if msg[0] != "init":
        raise SystemExit(f"expected init, got {msg[0]!r}")
    settings, level, alert_types = msg[1], msg[2], msg[3]
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s [ingest]: %(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    from blo.redact import install_redaction, settings_secrets

    install_redaction(settings_secrets(settings))  # as in the worker: no secret in any log
    try:
        server = IngestServer(channel, settings)
        server.runtime.alert_event_types = alert_types
        from streams.broker import tame_client_logs

        tame_client_logs(server.broker)
    except Exception as e:
        channel.post("fatal", False, f"the ingest process could not start: {e}")
        await asyncio.sleep(0.1)  # let it go out
        raise
    await server.run()


def main(argv: list[str]) -> int:
    die_with_parent(int(argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_main(int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
