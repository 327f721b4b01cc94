"""The query API and dashboard as an aiohttp application: ``build_api(ctx)``.

Every ``/api/v1`` endpoint but the OpenAPI document needs ``Authorization: Bearer <token>``
(only the live stream, which browsers open with ``EventSource``, may pass
``?access_token=``; anywhere else it is a 401): no or an unknown/revoked/expired token →
401; asking for what the token's scope does not cover (a station, a country) → 403; a bad
parameter → 400 with every reason. An open live stream re-checks its token before every
snapshot and ends with an ``error`` event once it is revoked or expired. Every call —
refused ones too — is recorded in ``api_audit`` (who, what, when, status, rows; the token
secret never); what reaches the port without reaching the guard (the dashboard's files,
requests aiohttp's parser refuses) is recorded through :data:`AUDIT_RECORD` by the access
logger of ``blo.api.serve.start_site``. docs/api.md describes each endpoint;
``/api/v1/openapi.json`` is the spec.

Where things are: the endpoints in :mod:`blo.api.routes` (one module per family), what
they share in :mod:`blo.api.deps` (``request.app[API]``), the token check, error answers
and audit in :mod:`blo.api.guard`; pure parts: :mod:`blo.api.params` (parameters),
:mod:`blo.api.scope` (who sees what), :mod:`blo.api.queries` (SQL), :mod:`blo.api.shape`
(the answers).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from blo.api.deps import API, Api, ApiContext
from blo.api.guard import AUDIT_RECORD, guard, unguarded_recorder
from blo.api.routes import add_all
from blo.api.routes.live import close_streams

__all__ = ["AUDIT_RECORD", "ApiContext", "build_api"]


def build_api(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[API] = Api.build(ctx)
    app[AUDIT_RECORD] = unguarded_recorder(app)
    add_all(app.router)
    app.on_startup.append(_start_audit)
    app.on_shutdown.append(close_streams)
    app.on_cleanup.append(_stop_audit)
    return app


async def _start_audit(app: web.Application) -> None:
    audit = app[API].audit
    audit.task = asyncio.ensure_future(audit.run())


async def _stop_audit(app: web.Application) -> None:
    """Stop the periodic writes, then write what is left."""
    audit = app[API].audit
    if audit.task is not None:
        audit.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await audit.task
    await audit.flush()
