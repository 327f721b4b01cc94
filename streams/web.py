"""HTTP endpoints of the worker (loopback by default, ``BLO_WEB_HOST``/``BLO_WEB_PORT``).

* ``/healthz`` — liveness: the process is serving.
* ``/readyz`` — readiness: registry loaded, no fatal error, sink not backpressured.
* ``/metrics`` — Prometheus exposition of the one registry.
* ``/api/tokens`` (POST) — embedded mode only: ``blo tokens`` while the worker holds chDB.
* ``/api/query?sql=SELECT…`` — embedded mode only: one read-only statement against the
  worker's chDB (one process per data directory), which is how ``blo query``/``blo stats``/
  ``blo dlq list`` reach the data while the worker runs. See :func:`sinks.sql.is_read_only`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from prometheus_client.metrics_core import Metric

from blo.metrics import Metrics
from sinks.base import Database
from sinks.sql import is_read_only
from streams.offload import IngestProcess
from streams.runtime import IngestRuntime


def _jsonable(v: Any) -> Any:
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return str(v)


def register_pages(app: faust.App, runtime: IngestRuntime | IngestProcess, db: Database,
                   metrics: Metrics,
                   more_metrics: Callable[[], Awaitable[list[Metric]]] | None = None) -> None:
    """``more_metrics``: the ingest process's families, merged into ``/metrics``."""

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
        }
        ok = all(checks.values())
        return self.json({"ready": ok, "checks": checks}, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics_page(self: Any, request: Any) -> Any:
        # aiohttp takes the charset separately; this is Prometheus' text format 0.0.4
        extra = await more_metrics() if more_metrics is not None else None
        return self.bytes(metrics.render(extra), content_type="text/plain; version=0.0.4")

    if db.kind != "chdb":
        return  # a server is read directly by `blo query`; only embedded mode needs a door

    @app.page("/api/tokens")
    class Tokens(faust.web.View):
        """``blo tokens`` while the worker holds chDB (loopback, like /api/query)."""

        async def post(self, request: Any) -> Any:
            from blo.api.tokens import TokenError
            from blo.cli.api import token_operation

            try:
                body = orjson.loads(await request.read())
                if not isinstance(body, dict):
                    raise TokenError("a JSON object")
                loop = asyncio.get_running_loop()
                got = await loop.run_in_executor(None, token_operation, db, body)
            except (TokenError, orjson.JSONDecodeError) as e:
                return self.json({"error": str(e)}, status=400)
            return self.bytes(orjson.dumps(got), content_type="application/json")

    @app.page("/api/query")
    async def query(self: Any, request: Any) -> Any:
        sql = request.query.get("sql", "")
        if not sql and request.method == "POST":
            sql = (await request.text()).strip()
        if not is_read_only(sql):
            return self.json(
                {"error": "only one read-only statement (SELECT/WITH/SHOW/DESCRIBE) is allowed"},
                status=400,
            )
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(None, db.query, sql, None)
        except Exception as e:  # noqa: BLE001 - the reader's SQL error, reported back
            return self.json({"error": str(e).splitlines()[0][:500]}, status=400)
        body = orjson.dumps({"rows": [[_jsonable(v) for v in r] for r in rows]})
        return self.bytes(body, content_type="application/json")
