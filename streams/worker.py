"""The parts of a running stream worker, held together: :class:`Worker`.

:func:`streams.app.build_app` builds one and gives it to the Faust app
(:class:`streams.app.BloApp`), whose start and stop call it; the application layer
(:mod:`blo.worker`) and the HTTP pages (:mod:`streams.web`) read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sinks.batching import BatchingSink
from streams.alert_runtime import AlertRuntime
from streams.backend import IngestBackend
from streams.broker import BrokerState
from streams.registry_reader import RegistryReader


class ApiRunner(Protocol):
    """The embedded query API's server (an ``aiohttp.web.AppRunner``)."""

    async def cleanup(self) -> None: ...


@dataclass(eq=False)
class Worker:
    backend: IngestBackend
    sink: BatchingSink
    """This process's sink (alert versions, station rows, API audit; inline: events too)."""
    reader: RegistryReader
    alerts: AlertRuntime | None
    broker: BrokerState
    """The Kafka broker's state as the probe last saw it (``/readyz``)."""
    watch_broker: Callable[[], Awaitable[None]]
    """The probe that drives :attr:`broker` (runs from :meth:`start` until the end)."""
    shutdown_timeout_s: float
    api_runner: ApiRunner | None = None
    """The embedded query API, once the application layer started it."""
    _watching: asyncio.Future[None] | None = field(default=None, repr=False)

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped the worker, if one did."""
        return self.backend.fatal

    @property
    def on_fatal(self) -> Callable[[BaseException], None]:
        """Called once with the error that must stop the worker."""
        return self.backend.on_fatal

    @on_fatal.setter
    def on_fatal(self, callback: Callable[[BaseException], None]) -> None:
        self.backend.on_fatal = callback

    async def start(self) -> None:
        """Before the consumer (a child service of the app) joins the group: the broker probe
        (not an app task: those start only once the group is joined, which an outage may
        hold up for good) and the backend (rebalance callbacks and the first take talk to
        it)."""
        if self._watching is None:
            self._watching = asyncio.ensure_future(self.watch_broker())
        await self.backend.start()

    async def stop_taking(self) -> None:
        """The shutdown begins: the API first (its audit rows go through the sink, flushed
        by :meth:`drain`); no new batch or hold release starts from here."""
        if self.api_runner is not None:
            await self.api_runner.cleanup()
        self.backend.stopping = True

    async def drain(self) -> None:
        """Once Faust stopped fetching (the consumer commits after this returns): flush what
        was processed, acknowledging it; pending webhook deliveries get a few seconds."""
        await self.backend.drain(self.shutdown_timeout_s)
        if self.alerts is not None:
            await self.alerts.close()
        if self._watching is not None:
            self._watching.cancel()
