"""Several ingest processes per worker (``BLO_INGEST_PROCESSES`` > 1): the worker's raw
partitions are dealt between N :class:`streams.separate_backend.SeparateBackend`\\ s, each
with its own process, core, sink, window state and conflict cache.

Each ingest process is to its partitions what a whole worker is to the partitions the
consumer group gives it — the way the field scales (Kafka partitions → more consumers), one
level down, without more Faust processes. So the guarantees are those of several workers,
which the project already keeps:

* **Commit after write.** A record is acknowledged only from its own process's ``Acks``
  (that process's sink wrote it), per partition in offset order; a partition belongs to
  exactly one process at a time.
* **Windows exact after SIGKILL.** A process restores the window state of exactly the
  partitions it is given (``Assign``) from ClickHouse, as a worker does after a rebalance;
  the window rows are per partition, the readers' views add them up.
* **The alert engine** hears each partition's progress from the one process that owns it
  (each process is told only its own partitions' positions).

Which process gets a partition: a partition still assigned keeps its process; new ones go
to the process with the fewest (ties: the lowest index), so a worker's partitions spread
evenly and a rebalance moves as few as it can. One process failing stops the worker, as one
worker's failure would stop it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence

from prometheus_client.metrics_core import Metric

from blo.metrics import merge_families
from blo.settings import Settings
from streams.backend import TP, Acker, Positions, SinkHealth, Timer
from streams.ingest import RawRecord
from streams.process_messages import ProcessSetup
from streams.separate_backend import SeparateBackend, SinkState

log = logging.getLogger("blo.ingest.shards")


def deal(owners: dict[TP, int], assigned: set[TP], n: int) -> dict[TP, int]:
    """The owner (process index) of each partition of ``assigned``: kept for those that
    have one, the rest dealt in order to the least loaded of the ``n`` processes."""
    out = {tp: i for tp, i in owners.items() if tp in assigned and i < n}
    load = [0] * n
    for i in out.values():
        load[i] += 1
    for tp in sorted(assigned - out.keys()):
        i = min(range(n), key=lambda k: (load[k], k))
        out[tp] = i
        load[i] += 1
    return out


def split_by_owner(records: list[RawRecord], owners: dict[TP, int], n: int
                   ) -> list[list[RawRecord]]:
    """``records`` per process, each list in the take's order; records of partitions no
    process owns (fetched before a rebalance took them) are left out."""
    out: list[list[RawRecord]] = [[] for _ in range(n)]
    for rec in records:
        i = owners.get((rec.source.topic, rec.source.partition))
        if i is not None:
            out[i].append(rec)
    return out


class ShardsSinkState:
    """``/readyz`` over every process's sink and the Faust process's own: any one
    backpressured, failed or stalled makes the worker so."""

    def __init__(self, states: Sequence[SinkState]) -> None:
        self._states = list(states)

    def watch(self, sink: SinkHealth) -> None:
        self._states[0].watch(sink)  # answered once, with process 0's

    @property
    def backpressured(self) -> bool:
        return any(s.backpressured for s in self._states)

    @property
    def failed(self) -> BaseException | None:
        return next((s.failed for s in self._states if s.failed is not None), None)

    @property
    def stalled(self) -> bool:
        return any(s.stalled for s in self._states)

    def oldest_pending_s(self) -> float:
        return max(s.oldest_pending_s() for s in self._states)


class ShardedBackend:
    """An :class:`streams.backend.IngestBackend` over ``n`` ingest processes."""

    def __init__(self, settings: Settings, setup: ProcessSetup, n: int, *, raw_topic: str,
                 on_fatal: Callable[[BaseException], None] = lambda e: None,
                 on_backpressure: Callable[[bool], None] = lambda active: None,
                 positions: Callable[[], Positions] = dict) -> None:
        if n < 2:
            raise ValueError("a sharded backend has at least two ingest processes")
        self.raw_topic = raw_topic
        self.on_fatal = on_fatal
        self.on_backpressure = on_backpressure
        self.positions = positions
        self.fatal: BaseException | None = None
        self._stopping = False
        self.registry_ready = asyncio.Event()
        self.owners: dict[TP, int] = {}
        self._pressed: set[int] = set()
        self._alert_types: frozenset[str] = frozenset()
        self.shards = [
            SeparateBackend(settings, setup, raw_topic=raw_topic, on_fatal=self.fail,
                            on_backpressure=functools.partial(self._backpressure, i),
                            positions=functools.partial(self._positions_of, i))
            for i in range(n)]
        self._sink = ShardsSinkState([s.sink for s in self.shards])
        self._ready_task: asyncio.Task[None] | None = None

    # -- the IngestBackend surface -------------------------------------------------------
    @property
    def sink(self) -> ShardsSinkState:
        return self._sink

    @property
    def stopping(self) -> bool:
        return self._stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._stopping = value
        for s in self.shards:
            s.stopping = value

    @property
    def alert_event_types(self) -> frozenset[str]:
        return self._alert_types

    @alert_event_types.setter
    def alert_event_types(self, types: frozenset[str]) -> None:
        self._alert_types = frozenset(types)
        for s in self.shards:
            s.alert_event_types = self._alert_types

    async def start(self) -> None:
        await asyncio.gather(*(s.start() for s in self.shards))
        self._ready_task = asyncio.ensure_future(self._all_registries())

    async def _all_registries(self) -> None:
        await asyncio.gather(*(s.registry_ready.wait() for s in self.shards))
        self.registry_ready.set()

    def registry_loaded(self) -> None:
        """Nothing: each ingest process reads the registry itself."""

    async def ready_to_take(self) -> None:
        """At once: the ingest process lets takes follow its own sink (it merges what
        arrives while it waits, :meth:`streams.engine_process.IngestServer._take_loop`)."""

    async def handle(self, records: list[RawRecord], ack: Acker) -> None:
        if self.fatal is not None or self._stopping or not records:
            return
        parts = split_by_owner(records, self.owners, len(self.shards))
        await asyncio.gather(*(s.handle(recs, ack)
                               for s, recs in zip(self.shards, parts, strict=True) if recs))

    async def assign(self, tps: set[TP]) -> None:
        raw = {tp for tp in tps if tp[0] == self.raw_topic}
        self.owners = deal(self.owners, raw, len(self.shards))
        log.info("raw partitions per ingest process: %s", "; ".join(
            f"{i}: {sorted(p for (_, p), o in self.owners.items() if o == i)}"
            for i in range(len(self.shards))))
        await asyncio.gather(*(
            s.assign({tp for tp, o in self.owners.items() if o == i})
            for i, s in enumerate(self.shards)))

    async def revoke(self, tps: Sequence[TP], flush_timeout: float) -> None:
        by_shard: dict[int, list[TP]] = {}
        for tp in tps:
            i = self.owners.pop(tp, None)
            if i is not None:
                by_shard.setdefault(i, []).append(tp)
        await asyncio.gather(*(self.shards[i].revoke(mine, flush_timeout)
                               for i, mine in sorted(by_shard.items())))

    async def drain(self, timeout: float) -> None:
        self.stopping = True
        await asyncio.gather(*(s.drain(timeout) for s in self.shards))
        if self._ready_task is not None:
            self._ready_task.cancel()

    def timers(self) -> list[Timer]:
        return [t for s in self.shards for t in s.timers()]

    async def metric_families(self) -> list[Metric]:
        """Every process's families added up (:func:`blo.metrics.merge_families`: counters
        and histograms add, gauges of one fact take the larger value)."""
        each = await asyncio.gather(*(s.metric_families() for s in self.shards))
        merged: list[Metric] = []
        for families in each:
            merged = merge_families(merged, families)
        return merged

    def fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            for s in self.shards:
                s.fail(exc)
            self.on_fatal(exc)

    # -- internals -----------------------------------------------------------------------
    def _positions_of(self, i: int) -> Positions:
        """The consumer's positions of process ``i``'s partitions only: each process tells
        the alert engine about its own."""
        return {tp: v for tp, v in self.positions().items() if self.owners.get(tp) == i}

    def _backpressure(self, i: int, active: bool) -> None:
        was = bool(self._pressed)
        if active:
            self._pressed.add(i)
        else:
            self._pressed.discard(i)
        if bool(self._pressed) != was:
            self.on_backpressure(bool(self._pressed))
