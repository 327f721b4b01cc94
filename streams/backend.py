"""The one interface of an ingest backend, and what both backends share.

An ingest backend takes the raw records a Faust agent fetched and makes them rows in
ClickHouse, acknowledging each record only once everything it produced is durable (commit
after write, :mod:`streams.runtime`). Two implement :class:`IngestBackend`:

* :class:`streams.runtime.IngestRuntime` (``BLO_INGEST_PROCESS=inline``) does the work in
  the Faust process;
* :class:`streams.separate_backend.SeparateBackend` (``separate``) hands it to a second
  process (:mod:`streams.engine_process`), which runs an ``IngestRuntime`` of its own.

:func:`streams.backend_factory.build_backend` chooses between them, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.metrics_core import Metric

from streams.ingest import RawRecord

TP = tuple[str, int]
"""(topic, partition)."""

Positions = Mapping[TP, tuple[int | None, int | None]]
"""(topic, partition) → (fetch high watermark, committed offset), from the Faust consumer."""

Acker = Callable[[RawRecord], Awaitable[object]]
"""Acknowledges one record with the consumer (its ``handle``: the Faust event)."""


@dataclass(frozen=True, slots=True)
class Timer:
    """A step a backend wants run every ``interval_s`` (through :func:`streams.tasks.guarded`:
    skipped while stopping, an error stops the worker)."""

    interval_s: float
    name: str
    step: Callable[[], Awaitable[object]]


class SinkHealth(Protocol):
    """What ``/readyz`` reads of a backend's sink."""

    @property
    def backpressured(self) -> bool: ...

    @property
    def failed(self) -> BaseException | None: ...

    @property
    def stalled(self) -> bool: ...

    def oldest_pending_s(self) -> float: ...


class IngestBackend(Protocol):
    """Where the per-event work of a worker runs.

    Life: :meth:`start` before the consumer joins the group; :meth:`handle` for every take;
    :meth:`assign` and :meth:`revoke` from the rebalance callbacks (both awaited: a revoke
    writes what was processed before the partitions go); ``stopping = True`` when the
    shutdown begins, then :meth:`drain` once Faust stopped fetching. A failure that must stop
    the worker goes to :meth:`fail`, which sets :attr:`fatal` and calls :attr:`on_fatal`
    once; from then on nothing more is acknowledged."""

    stopping: bool
    fatal: BaseException | None
    on_fatal: Callable[[BaseException], None]
    registry_ready: asyncio.Event
    alert_event_types: frozenset[str]
    """Event types whose events the alert engine needs one by one (paired rules)."""

    @property
    def sink(self) -> SinkHealth: ...

    async def start(self) -> None:
        """Before the consumer joins the group. Never raises (a failure goes to :meth:`fail`)."""

    async def handle(self, records: list[RawRecord], ack: Acker) -> None:
        """One take of raw records, in fetch order; ``ack`` is called for each once it is
        durable, in offset order per partition. May wait (backpressure)."""

    async def ready_to_take(self) -> None:
        """Called by the take loop once a take has its first record, if the take is small
        (``streams.raw_feed.SMALL_TAKE_BYTES``): return when it should be taken (``BLO_BATCH_TAKE_FOLLOWS_SINK_S``; at once where the sink
        is in another process, which waits on its own)."""

    async def assign(self, tps: set[TP]) -> None:
        """A new assignment (window state restored before its records count). Never raises."""

    async def revoke(self, tps: Sequence[TP], flush_timeout: float) -> None:
        """Partitions go: write what was processed, then forget them."""

    def registry_loaded(self) -> None:
        """The Faust process's station registry reader has loaded the registry."""

    async def drain(self, timeout: float) -> None:
        """Shutdown: finish, flush within ``timeout`` (acknowledging what was written)."""

    def timers(self) -> list[Timer]:
        """The periodic steps this backend needs run in the Faust process."""

    async def metric_families(self) -> list[Metric] | None:
        """Metrics kept outside this process's registry (the ingest process's), or None."""

    def fail(self, exc: BaseException) -> None:
        """Stop the worker with this error."""


def slices_by_bytes(records: list[RawRecord], max_bytes: int) -> list[list[RawRecord]]:
    """Cut a take into consecutive slices of at most ``max_bytes`` of record values (at
    least one record each). A take counts records, and a batched record may carry hundreds
    of events: processing a whole take of those in one step would hold the event loop for
    seconds (no HTTP answers, no writes meanwhile) and leave the sink idle; sending it to
    the ingest process in one message would hold it all in the socket. Value bytes are the
    proxy for the work, known before decoding."""
    out: list[list[RawRecord]] = []
    current: list[RawRecord] = []
    size = 0
    for rec in records:
        n = len(rec.value) if rec.value is not None else 0
        if current and size + n > max_bytes:
            out.append(current)
            current, size = [], 0
        current.append(rec)
        size += n
    if current:
        out.append(current)
    return out
