"""The separate ingest backend (``BLO_INGEST_PROCESS=separate``): the Faust process's handle
on its ingest process.

Why: a Faust agent costs ~70 µs of event-loop time per Kafka record before any work is
done (docs/performance.md), and the per-event work (validate, enrich, windows, rows for
ClickHouse) is another ~55–75 µs. In one process they queue behind each other on one core
while the machine's other cores idle. Here the Faust agent only takes records, sends their
values to the ingest process (:mod:`streams.engine_process`) and acknowledges them when that
process says they are durable; the work runs on another core.

What does not change: **commit after write.** The ingest process acknowledges a record
only from its sink's ``on_durable`` callback, through the same frontier as inline, as
:class:`streams.process_messages.Acks`; this side then acknowledges every record of that
partition below the acknowledged offset with Faust, which commits them on its interval. A
crash of either process loses nothing: unacknowledged records are redelivered, and
redelivered rows collapse in the readers' view. Rebalances, the shutdown flush and the
window restore run in the ingest process, called from Faust's callbacks and awaited.

:class:`SeparateBackend` is an :class:`streams.backend.IngestBackend`, as
:class:`streams.runtime.IngestRuntime` is.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence

from prometheus_client.metrics_core import Metric

from blo.settings import Settings
from streams.backend import TP, Acker, Positions, SinkHealth, Timer, slices_by_bytes
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
    ProcessSetup,
    RegistryReady,
    Reply,
    Revoke,
    SetAlertTypes,
    Stall,
    Stop,
    Take,
    TakeDone,
)
from streams.raw_feed import value_bytes
from streams.tasks import Background

log = logging.getLogger("blo.ingest.offload")


MESSAGE_MAX_BYTES = 8 * 1024 * 1024
"""Record values per take message: bounds the memory a take holds in the socket and the
ingest process, and lets that process start on a big take before all of it has crossed."""

SMALL_IN_FLIGHT_BYTES = 1 << 20
"""Take messages in flight beyond ``max_in_flight`` are allowed while their values add up to
less than this: live traffic's small takes must reach the ingest process while it waits for
its sink (``BLO_BATCH_TAKE_FOLLOWS_SINK_S``) and join the take it is holding, instead of
queueing behind it here for the next insert."""

RESTORE_TIMEOUT_S = 600.0
"""How long a new assignment may take to restore in the ingest process before the worker
stops (the same wait is unbounded inline, where it runs in this process)."""

POSITIONS_INTERVAL_S = 0.5
"""How often the ingest process hears the consumer's positions (caught up, lag)."""


class IngestProcessError(RuntimeError):
    """The ingest process failed (its message is the process's own error)."""


class SinkState:
    """What ``/readyz`` reads of the sinks of a worker with an ingest process: the ingest
    process's sink as last reported (its :class:`Pause`, :class:`Stall` and :class:`Fatal`) and,
    once :meth:`watch` gave it, the Faust process's own sink (alert versions, station rows).
    Either one backpressured, failed or stalled makes the worker so."""

    def __init__(self) -> None:
        self.remote_backpressured = False
        self.remote_failed: BaseException | None = None
        self._remote_stalled_since: float | None = None  # this process's monotonic clock
        self._local: SinkHealth | None = None

    def watch(self, sink: SinkHealth) -> None:
        """Also answer for ``sink`` (the Faust process's own)."""
        self._local = sink

    def remote_stall(self, stalled: bool, age_s: float) -> None:
        """The ingest process's sink stalled (its oldest pending write ``age_s`` old) or
        writes again."""
        self._remote_stalled_since = time.monotonic() - age_s if stalled else None

    @property
    def backpressured(self) -> bool:
        local = self._local is not None and self._local.backpressured
        return self.remote_backpressured or bool(local)

    @property
    def failed(self) -> BaseException | None:
        if self.remote_failed is not None or self._local is None:
            return self.remote_failed
        failed: BaseException | None = self._local.failed
        return failed

    @property
    def stalled(self) -> bool:
        local = self._local is not None and self._local.stalled
        return self._remote_stalled_since is not None or bool(local)

    def oldest_pending_s(self) -> float:
        """The larger of the two sinks' ages (the ingest process's is known only while it
        is stalled: it reports changes, not every tick)."""
        since = self._remote_stalled_since
        remote = 0.0 if since is None else time.monotonic() - since
        local = 0.0 if self._local is None else float(self._local.oldest_pending_s())
        return max(remote, local)


class SeparateBackend:
    def __init__(self, settings: Settings, setup: ProcessSetup, *,
                 raw_topic: str, max_in_flight: int = 2,
                 on_fatal: Callable[[BaseException], None] = lambda e: None,
                 on_backpressure: Callable[[bool], None] = lambda active: None,
                 positions: Callable[[], Positions] = dict) -> None:
        """``settings`` and ``setup`` go to the ingest process with :class:`Init`."""
        self.settings = settings
        self.setup = setup
        self.positions = positions  # the consumer's view, sent with every take
        self.raw_topic = raw_topic
        self.max_in_flight = max_in_flight
        self.on_fatal = on_fatal
        self.on_backpressure = on_backpressure
        self.fatal: BaseException | None = None
        self.stopping = False
        self.registry_ready = asyncio.Event()  # the ingest process has loaded the registry
        self.sink = SinkState()
        self.assigned: set[tuple[str, int]] | None = None
        self.acker: Acker | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._channel: Channel | None = None
        self._pending: dict[TP, deque[RawRecord]] = {}  # sent, not yet acknowledged
        self._in_flight: deque[tuple[int, asyncio.Future[None], int]] = deque()
        self._in_flight_bytes = 0  # of record values in the messages of _in_flight
        self._seq = itertools.count()
        self._calls: dict[int, asyncio.Future[object]] = {}
        self._call_ids = itertools.count()
        self._reader: asyncio.Task[None] | None = None
        self._alert_types: frozenset[str] = frozenset()
        self._started = asyncio.Event()
        self._background = Background()
        self._closed = False  # the channel reached EOF: the process is gone
        self.generation = 0  # of the partition assignment: bumped by each revoke and assign
        self._families: list[Metric] = []  # the last metrics the process sent

    # -- life ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the process and hand it the settings; returns at once (the process loads
        the registry and connects by itself; ``handle`` waits for nothing). A second
        call does nothing; a failure (cannot fork, no socket) stops the worker, clearly."""
        if self.proc is not None:
            return
        try:
            await self._spawn()
        except Exception as e:
            log.exception("could not start the ingest process")
            self.fail(e)

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - a fork and exec, not a wait
            [sys.executable, "-m", "streams.engine_process", str(fd), str(os.getpid())],
            pass_fds=(fd,), close_fds=True, cwd=os.getcwd(), env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        await self.attach(await Channel.open(ours))
        log.info("ingest process started (pid %d)", self.proc.pid)

    async def attach(self, channel: Channel) -> None:
        """Talk to the ingest process over ``channel``: the settings first, then takes and
        calls; its messages are read from here on. (:meth:`start` opens the channel to the
        process it starts; a test may hold the other end itself.)"""
        self._channel = channel
        level = logging.getLogger().getEffectiveLevel()
        await channel.send(Init(self.settings, level, self._alert_types, self.setup))
        self._reader = asyncio.ensure_future(self._read_loop())
        self._started.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to exit (after :meth:`drain`), kill it if it does not."""
        proc = self.proc
        if proc is None:
            return
        if self._channel is not None and proc.poll() is None:
            try:
                await self._channel.send(Stop())
            except (ConnectionError, ChannelClosed):
                pass
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, proc.wait), timeout)
        except TimeoutError:
            log.error("ingest process did not exit within %.0f s; killing it", timeout)
            proc.kill()
            await loop.run_in_executor(None, proc.wait)
        if self._channel is not None:
            self._channel.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # -- the IngestBackend surface -------------------------------------------------------
    def registry_loaded(self) -> None:
        """Nothing: the ingest process reads the registry itself (:class:`RegistryReady`)."""

    def timers(self) -> list[Timer]:
        return [Timer(POSITIONS_INTERVAL_S, "sending positions",
                      lambda: self.send_positions(self.positions()))]

    async def ready_to_take(self) -> None:
        """At once: the ingest process lets takes follow its own sink (it merges what
        arrives while it waits, :meth:`streams.engine_process.IngestServer._take_loop`)."""

    async def handle(self, records: list[RawRecord], ack: Acker) -> None:
        """Send one take to the ingest process, in messages of at most
        :data:`MESSAGE_MAX_BYTES` of values (a take counts records, and batched records
        can make it hundreds of MB); wait while more than ``max_in_flight`` messages are
        there and they hold :data:`SMALL_IN_FLIGHT_BYTES` or more (so a backpressured sink
        slows the take loop, which fills the raw feed, which pauses fetching). A rebalance while it waits ends the take there: the rest is
        fetched again from the committed offsets."""
        self.acker = ack
        if self.fatal is not None or self.stopping or not records:
            return
        generation, assigned = self.generation, self.assigned
        if assigned is not None:  # fetched before a rebalance gave the partition away
            records = [r for r in records
                       if (r.source.topic, r.source.partition) in assigned]
        pending = self._pending
        for chunk in slices_by_bytes(records, MESSAGE_MAX_BYTES):
            if self.generation != generation or self.fatal is not None or self.stopping:
                return
            for rec in chunk:
                key = (rec.source.topic, rec.source.partition)
                q = pending.get(key)
                if q is None:
                    q = pending[key] = deque()
                q.append(rec)
            seq = next(self._seq)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            nbytes = value_bytes(r.value for r in chunk)
            self._in_flight.append((seq, done, nbytes))
            self._in_flight_bytes += nbytes
            await self._send(Take(seq, generation, self.raw_topic,
                                  [r.source.partition for r in chunk],
                                  [r.source.offset for r in chunk],
                                  [r.value for r in chunk], dict(self.positions())))
            while (len(self._in_flight) > self.max_in_flight
                   and self._in_flight_bytes >= SMALL_IN_FLIGHT_BYTES and self.fatal is None):
                await asyncio.shield(self._in_flight[0][1])

    async def send_positions(self, positions: Positions) -> None:
        if self.fatal is None:
            await self._send(PositionsUpdate(dict(positions)))

    async def assign(self, tps: set[TP], timeout: float = RESTORE_TIMEOUT_S) -> None:
        """New assignment: the ingest process restores the window state of its raw
        partitions before processing any of their records. One that fails or takes longer
        than ``timeout`` stops the worker."""
        self.assigned = set(tps)
        self.generation += 1  # takes sent before this are dropped there, unprocessed
        try:
            await self._call(Assign(self._call_id(), sorted(tps), self.generation), timeout)
        except Exception as e:
            log.exception("the ingest process could not take the new assignment")
            self.fail(e)

    async def revoke(self, tps: Sequence[TP], flush_timeout: float) -> None:
        """As :meth:`IngestRuntime.revoke`: the ingest process writes what it processed
        (its acknowledgements arrive before the reply), then forgets the partitions. No
        deadline, as inline: going on while it still works on them would let the revoke
        land on the next assignment."""
        tps = list(tps)
        if not tps:
            return
        if self.assigned is not None:  # no more takes of them from here
            self.assigned -= set(tps)
        self.generation += 1  # a take under way stops; what it sent is dropped there
        try:
            await self._call(Revoke(self._call_id(), tps, flush_timeout), None)
        except IngestProcessError as e:
            log.warning("ingest process could not finish before the rebalance: %s", e)
        for tp in tps:
            self._pending.pop(tp, None)

    async def drain(self, timeout: float) -> None:
        """Shutdown: the ingest process flushes its sink (acknowledging what it wrote); what
        is not written by then is redelivered to the next worker. Then it exits."""
        self.stopping = True
        if self._channel is None:
            return  # never started
        try:
            await self._call(Drain(self._call_id(), timeout), timeout + 5.0)
        except (IngestProcessError, TimeoutError) as e:
            log.error("final flush of the ingest process failed: %s", e)
        await self.stop()

    @property
    def alert_event_types(self) -> frozenset[str]:
        return self._alert_types

    @alert_event_types.setter
    def alert_event_types(self, types: frozenset[str]) -> None:
        self._alert_types = frozenset(types)
        if self._channel is not None:  # else the init message carries them
            self._background.spawn(
                self._call(SetAlertTypes(self._call_id(), self._alert_types), 30.0),
                "telling the ingest process the paired event types")

    async def metric_families(self, timeout: float = 5.0) -> list[Metric]:
        """The ingest process's metrics (for the one ``/metrics`` page). If it does not
        answer in time, the last ones it sent: counters that vanished from a scrape would
        look like resets to Prometheus."""
        try:
            families = await self._call(CollectMetrics(self._call_id()), timeout)
            assert isinstance(families, list)
            self._families = families
        except (IngestProcessError, TimeoutError) as e:
            log.warning("the ingest process did not send its metrics (%s); serving the "
                        "last ones", e or type(e).__name__)
        return self._families

    def fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            self._started.set()  # nothing waits for a start that will not come
            log.critical("%s", exc)
            for _, fut, _ in self._in_flight:
                if not fut.done():
                    fut.set_result(None)
            self.on_fatal(exc)

    # -- internals -----------------------------------------------------------------------
    async def _send(self, message: object) -> None:
        """Send, once started (Faust may assign partitions or deliver a first take before
        the task that starts the process has run)."""
        if self._channel is None:
            await self._started.wait()
        if self._channel is None:
            raise IngestProcessError("the ingest process did not start")
        try:
            await self._channel.send(message)
        except (ConnectionError, ChannelClosed) as e:
            # a send may notice a killed process before the read loop does: say the same
            code = await self._exit_status()
            self.fail(IngestProcessError(
                f"ingest process unreachable: {e}" if code is None else _exited(code)))

    def _call_id(self) -> int:
        return next(self._call_ids)

    async def _call(self, call: Call, timeout: float | None) -> object:
        """Send ``call`` and wait for its :class:`Reply` (its value returned) or
        :class:`CallFailed` (raised as :class:`IngestProcessError`)."""
        if self._closed:  # nobody would answer
            raise IngestProcessError(
                f"cannot {type(call).__name__}: the ingest process has exited")
        call_id = call.call_id
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = fut
        try:
            await self._send(call)
            if timeout is None:
                return await fut
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._calls.pop(call_id, None)

    async def _exit_status(self) -> int | None:
        """The exit status of a process that closed its end (the socket closes a moment
        before the status is there: wait a little for it)."""
        proc = self.proc
        if proc is None:
            return None
        try:
            return await asyncio.get_running_loop().run_in_executor(None, proc.wait, 2.0)
        except subprocess.TimeoutExpired:
            return None

    async def _read_loop(self) -> None:
        assert self._channel is not None
        while True:
            try:
                msg = await self._channel.recv()
            except ChannelClosed:
                self._closed = True
                code = await self._exit_status()
                if not self.stopping:
                    self.fail(IngestProcessError(_exited(code)))
                for fut in self._calls.values():
                    if not fut.done():
                        fut.set_exception(IngestProcessError("the ingest process exited"))
                return
            try:
                await self._dispatch(msg)
            except Exception as e:
                log.exception("handling %r from the ingest process failed", msg)
                self.fail(e)

    async def _dispatch(self, msg: object) -> None:
        match msg:
            case Acks(next_offsets=acks):
                await self._ack(acks)
            case TakeDone(seq=seq):
                while self._in_flight and self._in_flight[0][0] <= seq:
                    _, batch_done, nbytes = self._in_flight.popleft()
                    self._in_flight_bytes -= nbytes
                    if not batch_done.done():
                        batch_done.set_result(None)
            case Reply(call_id=call_id, value=value):
                call = self._calls.get(call_id)
                if call is not None and not call.done():
                    call.set_result(value)
            case CallFailed(call_id=call_id, error=error):
                call = self._calls.get(call_id)
                if call is not None and not call.done():
                    call.set_exception(IngestProcessError(error))
            case Pause(active=active):
                self.sink.remote_backpressured = active
                self.on_backpressure(active)
            case Stall(stalled=stalled, age_s=age_s):
                self.sink.remote_stall(stalled, age_s)
            case RegistryReady():
                self.registry_ready.set()
            case Fatal(message=message, sink_failed=sink_failed, dlq_flood=flood):
                err = DlqFloodError(message) if flood else IngestProcessError(message)
                if sink_failed:  # the sink failed for good
                    self.sink.remote_failed = err
                self.fail(err)
            case _:
                log.error("unknown message %r from the ingest process", msg)

    async def _ack(self, acks: dict[TP, int]) -> None:
        acker = self.acker
        if acker is None:
            return
        for key, nxt in acks.items():
            q = self._pending.get(key)
            while q and q[0].source.offset < nxt:
                await acker(q.popleft())


def _exited(code: int | None) -> str:
    return f"the ingest process exited unexpectedly (exit status {code})"
