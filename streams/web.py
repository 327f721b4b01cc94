"""HTTP endpoints of the worker (loopback by default, ``BLO_WEB_HOST``/``BLO_WEB_PORT``).

* ``/healthz`` — liveness: the process is serving.
* ``/readyz`` — readiness: registry loaded, no fatal error, sink not backpressured and
  not stalled (``sink_stalled``: its oldest pending write older than
  ``BLO_BATCH_SINK_STALL_S``; 503 until ClickHouse takes it), and the Kafka broker
  answering (``broker_connected``; why not in ``broker_unreachable``).
* ``/metrics`` — Prometheus exposition of the one registry.

In embedded mode the application adds the admin door (``/api/query``, ``/api/tokens``, behind
the admin key): :mod:`blo.door`.
"""

from __future__ import annotations

from typing import Any

import faust

from blo.metrics import Metrics
from streams.worker import Worker


def register_pages(app: faust.App, worker: Worker, metrics: Metrics) -> None:
    """The pages answer for ``worker``; ``/metrics`` merges the families its backend keeps
    elsewhere (the ingest process's) into ``metrics``."""
    runtime = worker.backend

    @app.page("/healthz")
    async def healthz(self: Any, request: Any) -> Any:
        return self.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(self: Any, request: Any) -> Any:
        checks = {
            "registry_loaded": runtime.registry_ready.is_set(),
            "no_fatal_error": runtime.fatal is None,
            "sink_flowing": not runtime.sink.backpressured,
            "sink_healthy": runtime.sink.failed is None,
            "sink_not_stalled": not runtime.sink.stalled,
        }
        broker = worker.broker
        checks["broker_connected"] = broker.connected
        ok = all(checks.values())
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        if not broker.connected:
            body["broker_unreachable"] = broker.describe()
        if not checks["sink_not_stalled"]:
            body["sink_stalled"] = (
                f"the oldest write not yet in ClickHouse is "
                f"{runtime.sink.oldest_pending_s():.0f} s old: ClickHouse is not answering")
        return self.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics_page(self: Any, request: Any) -> Any:
        # aiohttp takes the charset separately; this is Prometheus' text format 0.0.4
        extra = await runtime.metric_families()
        return self.bytes(metrics.render(extra), content_type="text/plain; version=0.0.4")
