"""The ingest process: the per-event work of a worker, beside its Faust process.

Started by :class:`streams.separate_backend.SeparateBackend` (``BLO_INGEST_PROCESS=separate``,
the default with a ClickHouse server); never by hand. It runs exactly what
:func:`streams.backend_factory.build_inline` builds in the inline mode — an
:class:`streams.runtime.IngestRuntime` with its station registry (its own reader of the
stations topic), validation and enrichment, the conflict cache, holds, the window state, the
batching sink and its ClickHouse connection — plus a Kafka producer for dead letters, window
rows and alert input. The Faust process keeps the consumer group, the offsets, the alert
engine and the HTTP endpoints. What it needs of the application (opening the database,
tuning the garbage collector) comes with :class:`streams.process_messages.Init`.

The messages are :mod:`streams.process_messages`. Takes arrive as columns and become
:class:`streams.ingest.RawRecord` here; the runtime acknowledges a record (from its sink's
``on_durable``, through its :class:`streams.frontier.AckFrontier`) by its position, sent back
as :class:`streams.process_messages.Acks` (one message per event-loop turn).

The process dies with its parent (``PR_SET_PDEATHSIG``): a SIGKILLed worker leaves no
orphan writing behind its successor. SIGINT and SIGTERM are ignored: the Faust process
drives the shutdown (``Drain``, then ``Stop``).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
from typing import Any

from aiokafka import AIOKafkaProducer

from blo.kafka_config import aiokafka_kwargs
from blo.metrics import Metrics
from blo.redact import install_redaction, settings_secrets
from sinks.base import SinkError
from sinks.batching import BatchingSink
from streams.backend_factory import build_inline
from streams.broker import BrokerState, retrying, tame_client_logs
from streams.channel import Channel, ChannelClosed
from streams.guard import DlqFloodError
from streams.ingest import RawRecord
from streams.process_messages import (
    Acks,
    Assign,
    Call,
    CallFailed,
    CollectMetrics,
    Drain,
    Fatal,
    Init,
    Pause,
    PositionsUpdate,
    RegistryReady,
    Reply,
    Revoke,
    SetAlertTypes,
    Stall,
    Stop,
    Take,
    TakeDone,
)
from streams.raw_feed import is_small_take, value_bytes
from streams.registry_reader import RegistryReader
from streams.stages.decode import SourcePos
from streams.tasks import Background, every

log = logging.getLogger("blo.ingest.process")


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

    def __init__(self, channel: Channel, init: Init) -> None:
        settings = self.settings = init.settings
        self.channel = channel
        self.init = init
        self.metrics = Metrics()
        self.db = init.setup.open_database(settings.clickhouse)
        self.producer: AIOKafkaProducer | None = None
        self.positions: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        self._acks: dict[tuple[str, int], int] = {}
        self._ack_flush_scheduled = False
        self.generation = 0  # of the assignment, set by the Faust side with each Assign
        self._background = Background()
        self._takes: asyncio.Queue[Take] = asyncio.Queue()
        # a broker outage is waited out (one line when it starts, one when it ends)
        self.broker = BrokerState(",".join(settings.kafka.bootstrap_servers()))
        self._produce = retrying(self._produce_once, self.broker,
                                 lambda: self.runtime.stopping, drives_state=True)
        self.sink = BatchingSink(self.db, settings.batch, self.metrics)
        self.runtime = build_inline(settings, self.db, self.sink, self.metrics, self.produce,
                                    self._on_fatal, lambda: self.positions)
        self.runtime.alert_event_types = init.alert_types
        self.sink.add_backpressure_listener(self._on_backpressure)
        self.sink.add_stall_listener(self._on_stall)

    # -- outgoing ------------------------------------------------------------------------
    async def produce(self, topic: str, key: bytes, value: bytes) -> Any:
        return await self._produce(topic, key, value)

    async def _produce_once(self, topic: str, key: bytes, value: bytes) -> Any:
        assert self.producer is not None
        return await self.producer.send_and_wait(topic, value, key=key or None)

    def _post(self, message: object) -> None:
        try:
            self.channel.post(message)
        except ChannelClosed:
            pass  # the Faust process is gone; so are we, soon (PR_SET_PDEATHSIG)

    def _on_fatal(self, exc: BaseException) -> None:
        self._post(Fatal(str(exc), sink_failed=isinstance(exc, SinkError),
                         dlq_flood=isinstance(exc, DlqFloodError)))

    def _on_backpressure(self, active: bool) -> None:
        self._post(Pause(active))

    def _on_stall(self, stalled: bool, age_s: float) -> None:
        self._post(Stall(stalled, age_s))

    async def _ack(self, rec: RawRecord) -> None:
        src = rec.source
        key = (src.topic, src.partition)
        nxt = src.offset + 1
        if nxt > self._acks.get(key, -1):
            self._acks[key] = nxt
        if not self._ack_flush_scheduled:  # one message for every ack of this loop turn
            self._ack_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self._ack_flush_scheduled = False
        acks, self._acks = self._acks, {}
        if acks:
            self._post(Acks(acks))

    # -- the loops -----------------------------------------------------------------------
    async def run(self) -> None:
        s, runtime = self.settings, self.runtime
        self.producer = AIOKafkaProducer(acks="all", linger_ms=5, request_timeout_ms=30_000,
                                         **aiokafka_kwargs(s.kafka, role="producer"))
        await self.producer.start()
        self.sink.start()
        # the Faust process writes the `stations` rows; this reader only feeds enrichment
        reader = RegistryReader(s.kafka, runtime.processor.registry, self.metrics,
                                lambda records: None)
        loops = [reader.run(), self._take_loop()]
        loops += [every(t.interval_s, runtime, t.name, t.step) for t in runtime.timers()]
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        for t in tasks:
            t.add_done_callback(self._loop_ended)
        if self.init.setup.tune is not None:
            self.init.setup.tune()

        async def registry_ready() -> None:
            await reader.ready.wait()
            runtime.registry_loaded()
            self._post(RegistryReady())

        self._background.spawn(registry_ready(), "waiting for the station registry")
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
        while True:
            try:
                msg = await self.channel.recv()
            except ChannelClosed:
                log.error("the Faust process closed the channel; stopping")
                return
            match msg:
                case Take():
                    self._takes.put_nowait(msg)
                case PositionsUpdate(positions=positions):
                    self.positions = positions
                case Call():
                    if isinstance(msg, Assign):  # takes after this message belong to it
                        self.generation = msg.generation
                    self._background.spawn(self._answer(msg), type(msg).__name__)
                case Stop():
                    return
                case _:
                    log.error("unknown message %r from the Faust process", msg)

    async def _take_loop(self) -> None:
        runtime, windows = self.runtime, self.runtime.windows
        take_max = self.settings.batch.take_max
        while True:
            take = await self._takes.get()
            self.positions = take.positions
            small = self._takes.empty() and is_small_take(
                len(take.offsets), value_bytes(take.values), take_max)
            if small:
                await runtime.ready_to_take()  # light traffic: one take per insert
            # wait here, not inside handle(): between the generation check and handle()
            # nothing may yield, or a rebalance could slip in between
            if not runtime.registry_ready.is_set():
                log.info("waiting for the station registry before the first batch")
                await runtime.registry_ready.wait()
            if windows is not None and not windows.ready.is_set():
                await windows.ready.wait()  # the new assignment's state being restored
            takes = [take]
            while small and not self._takes.empty():  # what arrived meanwhile joins it
                takes.append(self._takes.get_nowait())
            self.positions = takes[-1].positions
            records = [RawRecord(v, SourcePos(t.topic, p, o))
                       for t in takes if t.generation == self.generation
                       for p, o, v in zip(t.partitions, t.offsets, t.values, strict=True)]
            if records:
                await runtime.handle(records, self._ack)
            for t in takes:
                self._post(TakeDone(t.seq))

    # -- calls ---------------------------------------------------------------------------
    async def _answer(self, call: Call) -> None:
        try:
            value = await self._run(call)
        except Exception as e:
            log.exception("%s failed", type(call).__name__)
            self._post(CallFailed(call.call_id, f"{type(e).__name__}: {e}"))
        else:
            self._post(Reply(call.call_id, value))

    async def _run(self, call: Call) -> object:
        runtime = self.runtime
        match call:
            case Assign(tps=tps):
                mine = set(tps)
                self.positions = {tp: v for tp, v in self.positions.items() if tp in mine}
                await runtime.assign(mine)
            case Revoke(tps=tps, flush_timeout=flush_timeout):
                await runtime.revoke(tps, flush_timeout=flush_timeout)
                gone = set(tps)
                self.positions = {tp: v for tp, v in self.positions.items() if tp not in gone}
                self._flush_acks()  # what the flush made durable, before the reply
            case Drain(timeout=timeout):
                await runtime.drain(timeout)
                self._flush_acks()
            case SetAlertTypes(types=types):
                runtime.alert_event_types = types
            case CollectMetrics():
                return list(self.metrics.registry.collect())
            case _:
                raise ValueError(f"unknown call {call!r}")
        return None


async def _main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    channel = await Channel.open(sock)
    init = await channel.recv()
    if not isinstance(init, Init):
        raise SystemExit(f"expected Init, got {init!r}")
    level = init.log_level
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s [ingest]: %(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    install_redaction(settings_secrets(init.settings))  # as in the worker: no secret in a log
    try:
        server = IngestServer(channel, init)
        tame_client_logs(server.broker)
    except Exception as e:
        channel.post(Fatal(f"the ingest process could not start: {e}"))
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
