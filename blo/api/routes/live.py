"""``/api/v1/live``: server-sent events for the dashboard.

Every ``live_interval_s`` the stream re-checks its token (a revocation or expiry ends it
with an ``error`` event) and sends a ``snapshot`` — one computed for its scope within the
last half interval if there is one (:mod:`blo.api.shared`: open dashboards of one scope
share their snapshots' queries); while ClickHouse does not answer it sends
``unavailable`` instead and stays open. Open streams are cancelled at shutdown, so an open
dashboard never holds the server up.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from blo.api import shape
from blo.api.deps import API, Api
from blo.api.http import DETAIL, TOKEN
from blo.api.params import LiveParams, parse
from blo.api.queries import AlertFilter, live_sql
from blo.api.routes.alerts import alert_list
from blo.api.scope import Scope
from sinks.base import SinkUnavailable

_UNAVAILABLE = {"error": "ClickHouse is not answering; the next snapshot follows when it does"}


async def snapshot(api: Api, scope: Scope, window: str) -> shape.JsonObject:
    registry, v = await api.sees(scope)
    now = api.ctx.clock()
    (q1, p1), (q2, p2) = live_sql(api.ctx.database, window, v.station_ids(), now)
    per_station = await api.ctx.query(q1, p1)
    minutes = await api.ctx.query(q2, p2)
    # the open alerts: the 50 worst (muted or not, each says), exact counts of all of them
    # and each station's worst open unmuted severity
    alerts = await alert_list(api, scope, AlertFilter(state="firing"), sort="severity",
                              limit=50, offset=0, worst=True)
    return shape.snapshot(now, scope, window, api.ctx.live_interval_s, registry.visible(v), v,
                          per_station, minutes, alerts["alerts"], alerts["counts"],
                          alerts["worst_by_station"])


async def live(request: web.Request) -> web.StreamResponse:
    parse(LiveParams, dict(request.query))
    api = request.app[API]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    window = shape.live_window(api.ctx.windows)
    task = asyncio.current_task()
    if task is not None:
        api.live_streams.add(task)
    try:
        while True:
            try:
                # the token as it is now: a revocation or expiry ends the stream
                verdict = await api.tokens.recheck(request[TOKEN])
                if verdict.token is None:
                    request[DETAIL] = f"stream ended: {verdict.error}"
                    resp.force_close()
                    await resp.write(shape.sse("error", {"error": verdict.error}))
                    break
                scope: Scope = request[TOKEN].scope
                body = await api.snapshots.get(
                    (scope, window), functools.partial(snapshot, api, scope, window))
            except SinkUnavailable:
                # no token check, no data: say so and keep the stream (the dashboard shows
                # it stale), the next snapshot follows
                await resp.write(shape.sse("unavailable", _UNAVAILABLE))
                await asyncio.sleep(api.ctx.live_interval_s)
                continue
            await resp.write(shape.sse("snapshot", body))
            await asyncio.sleep(api.ctx.live_interval_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        api.live_streams.discard(task)
    return resp


async def close_streams(app: web.Application) -> None:
    """``on_shutdown``: cancel the open streams."""
    for task in list(app[API].live_streams):
        task.cancel()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/live", live)
