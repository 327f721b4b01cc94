"""The Faust process's handle on its ingest process (``BLO_INGEST_PROCESS=separate``).

Why: a Faust agent costs ~70 µs of event-loop time per Kafka record before any work is
done (docs/performance.md), and the per-event work (validate, enrich, windows, rows for
ClickHouse) is another ~55–75 µs. In one process they queue behind each other on one core
while the machine's other cores idle. Here the Faust agent only takes records, sends their
values to the ingest process (:mod:`streams.engine_process`) and acknowledges them when that
process says they are durable; the work runs on another core.

What does not change: **commit after write.** The ingest process acknowledges a record
only from its sink's ``on_durable`` callback, through the same frontier as inline, as
``("ack", {(topic, partition): next_offset})``; this side then acknowledges every record of
that partition below ``next_offset`` with Faust, which commits them on its interval. A crash
of either process loses nothing: unacknowledged records are redelivered, and redelivered
rows collapse in the readers' view. Rebalances, the shutdown flush and the window restore
run in the ingest process, called from Faust's callbacks and awaited.

:class:`IngestProcess` offers the surface of :class:`streams.runtime.IngestRuntime` the app
uses (``handle``, ``on_revoked``, ``drain``, ``fatal``…), so the app wires both the same way.
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
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric

from streams.assembly import Positions
from streams.channel import Channel, ChannelClosed

log = logging.getLogger("blo.ingest.offload")

Acker = Callable[[Any], Any]


MESSAGE_MAX_BYTES = 8 * 1024 * 1024
"""Record values per take message: bounds the memory a take holds in the socket and the
ingest process, and lets that process start on a big take before all of it has crossed."""


class IngestProcessError(RuntimeError):
    """The ingest process failed (its message is the process's own error)."""


class SinkState:
    """What ``/readyz`` reads of the sinks of a worker with an ingest process: the ingest
    process's sink as last reported (its ``pause``, ``stall`` and ``fatal`` messages) and,
    once :meth:`watch` gave it, the Faust process's own sink (alert versions, station rows).
    Either one backpressured, failed or stalled makes the worker so."""

    def __init__(self) -> None:
        self.remote_backpressured = False
        self.remote_failed: BaseException | None = None
        self._remote_stalled_since: float | None = None  # this process's monotonic clock
        self._local: Any = None  # a sinks.batching.BatchingSink

    def watch(self, sink: Any) -> None:
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


class IngestProcess:
    def __init__(self, settings: Any, *, raw_topic: str, max_in_flight: int = 2,
                 on_fatal: Callable[[BaseException], None] = lambda e: None,
                 on_backpressure: Callable[[bool], None] = lambda active: None,
                 positions: Callable[[], Positions] = dict) -> None:
        self.settings = settings
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
        self._pending: dict[tuple[str, int], deque[tuple[int, Any]]] = {}
        self._in_flight: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._seq = itertools.count()
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._call_ids = itertools.count()
        self._reader: asyncio.Task[None] | None = None
        self._alert_types: frozenset[str] = frozenset()
        self._started = asyncio.Event()
        self._background: set[asyncio.Future[Any]] = set()
        self._closed = False  # the channel reached EOF: the process is gone
        self.generation = 0  # of the partition assignment: bumped by each revoke and assign
        self._families: list[Metric] = []  # the last metrics the process sent

    # -- life ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the process and hand it the settings; returns at once (the process loads
        the registry and connects by itself; ``handle`` waits for nothing). A second
        call does nothing."""
        if self.proc is not None:
            return
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
        await channel.send("init", self.settings, level, self._alert_types)
        self._reader = asyncio.ensure_future(self._read_loop())
        self._started.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to exit (after :meth:`drain`), kill it if it does not."""
        proc = self.proc
        if proc is None:
            return
        if self._channel is not None and proc.poll() is None:
            try:
                await self._channel.send("stop")
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

    # -- the surface the app uses (as IngestRuntime) --------------------------------------
    async def handle(self, events: Sequence[Any], acker: Acker) -> None:
        """Send one take to the ingest process, in messages of at most
        :data:`MESSAGE_MAX_BYTES` of values (a take counts records, and batched records
        can make it hundreds of MB); wait while more than ``max_in_flight`` messages are
        there (so a backpressured sink slows the agent, which fills Faust's buffer, which
        pauses fetching). A rebalance while it waits ends the take there: the rest is
        fetched again from the committed offsets."""
        self.acker = acker
        if self.fatal is not None or self.stopping or not events:
            return
        generation, assigned = self.generation, self.assigned
        chunks: list[list[Any]] = [[]]
        size = 0
        for ev in events:
            m = ev.message
            if assigned is not None and (m.topic, m.partition) not in assigned:
                continue  # fetched before a rebalance gave its partition to another worker
            n = len(ev.value) if ev.value is not None else 0
            if size + n > MESSAGE_MAX_BYTES and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append(ev)
            size += n
        pending = self._pending
        for chunk in chunks:
            if not chunk or self.generation != generation or self.fatal is not None \
                    or self.stopping:
                return
            for ev in chunk:
                m = ev.message
                key = (m.topic, m.partition)
                q = pending.get(key)
                if q is None:
                    q = pending[key] = deque()
                q.append((m.offset, ev))
            seq = next(self._seq)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._in_flight.append((seq, done))
            await self._send("batch", seq, generation, self.raw_topic,
                             [ev.message.partition for ev in chunk],
                             [ev.message.offset for ev in chunk],
                             [ev.value for ev in chunk], dict(self.positions()))
            while len(self._in_flight) > self.max_in_flight and self.fatal is None:
                await asyncio.shield(self._in_flight[0][1])

    async def send_positions(self, positions: Positions) -> None:
        if self.fatal is None:
            await self._send("positions", dict(positions))

    async def assign(self, tps: Iterable[tuple[str, int]], timeout: float) -> None:
        """New assignment: the ingest process restores the window state of its raw
        partitions before processing any of their records."""
        tps = list(tps)
        self.assigned = set(tps)
        self.generation += 1  # takes sent before this are dropped there, unprocessed
        await self._call("assign", (tps, self.generation), timeout)

    async def on_revoked(self, tps: Sequence[tuple[str, int]], flush_timeout: float) -> None:
        """As :meth:`IngestRuntime.on_revoked`: the ingest process writes what it processed
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
            await self._call("revoke", (tps, flush_timeout), None)
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
            await self._call("drain", (timeout,), timeout + 5.0)
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
            fut = asyncio.ensure_future(self._call("alert_types", (self._alert_types,), 30.0))
            self._background.add(fut)
            fut.add_done_callback(self._background_done)

    def _background_done(self, fut: asyncio.Future[Any]) -> None:
        self._background.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.error("telling the ingest process the paired event types failed: %s",
                      fut.exception())

    async def metric_families(self, timeout: float = 5.0) -> list[Metric]:
        """The ingest process's metrics (for the one ``/metrics`` page). If it does not
        answer in time, the last ones it sent: counters that vanished from a scrape would
        look like resets to Prometheus."""
        try:
            self._families = await self._call("metrics", (), timeout)
        except (IngestProcessError, TimeoutError) as e:
            log.warning("the ingest process did not send its metrics (%s); serving the "
                        "last ones", e or type(e).__name__)
        return self._families

    def fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            self._started.set()  # nothing waits for a start that will not come
            log.critical("%s", exc)
            for _, fut in self._in_flight:
                if not fut.done():
                    fut.set_result(None)
            self.on_fatal(exc)

    # -- internals -----------------------------------------------------------------------
    async def _send(self, *message: Any) -> None:
        """Send, once started (Faust may assign partitions or deliver a first take before
        the task that starts the process has run)."""
        if self._channel is None:
            await self._started.wait()
        if self._channel is None:
            raise IngestProcessError("the ingest process did not start")
        try:
            await self._channel.send(*message)
        except (ConnectionError, ChannelClosed) as e:
            self.fail(IngestProcessError(f"ingest process unreachable: {e}"))

    async def _call(self, name: str, args: tuple[Any, ...], timeout: float | None) -> Any:
        if self._closed:  # nobody would answer
            raise IngestProcessError(f"cannot {name}: the ingest process has exited")
        call_id = next(self._call_ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = fut
        try:
            await self._send("call", call_id, name, args)
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
                    self.fail(IngestProcessError(
                        f"the ingest process exited unexpectedly (exit status {code})"))
                for fut in self._calls.values():
                    if not fut.done():
                        fut.set_exception(IngestProcessError("the ingest process exited"))
                return
            try:
                await self._dispatch(msg)
            except Exception as e:
                log.exception("handling %r from the ingest process failed", msg[0])
                self.fail(e)

    async def _dispatch(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ack":
            await self._ack(msg[1])
        elif kind == "done":
            seq = msg[1]
            while self._in_flight and self._in_flight[0][0] <= seq:
                _, batch_done = self._in_flight.popleft()
                if not batch_done.done():
                    batch_done.set_result(None)
        elif kind == "reply":
            call = self._calls.get(msg[1])
            if call is not None and not call.done():
                if msg[2]:
                    call.set_result(msg[3])
                else:
                    call.set_exception(IngestProcessError(msg[3]))
        elif kind == "pause":
            self.sink.remote_backpressured = bool(msg[1])
            self.on_backpressure(bool(msg[1]))
        elif kind == "stall":
            self.sink.remote_stall(bool(msg[1]), float(msg[2]))
        elif kind == "ready":
            self.registry_ready.set()
        elif kind == "fatal":
            from streams.guard import DlqFloodError

            flood = len(msg) > 3 and bool(msg[3])
            err = DlqFloodError(msg[2]) if flood else IngestProcessError(msg[2])
            if msg[1]:  # the sink failed for good
                self.sink.remote_failed = err
            self.fail(err)
        else:
            log.error("unknown message %r from the ingest process", kind)

    async def _ack(self, acks: dict[tuple[str, int], int]) -> None:
        acker = self.acker
        if acker is None:
            return
        for key, nxt in acks.items():
            q = self._pending.get(key)
            while q and q[0][0] < nxt:
                await acker(q.popleft()[1])

