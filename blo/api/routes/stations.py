"""``/api/v1/stations`` (the visible stations' registry records) and ``/api/v1/health``
(per visible station: last event, event-time lag, late events, dead letters)."""

from __future__ import annotations

from aiohttp import web

from blo.api import shape
from blo.api.deps import API
from blo.api.http import TOKEN, answer
from blo.api.params import LiveParams, parse
from blo.api.queries import health_sql


async def stations(request: web.Request) -> web.Response:
    parse(LiveParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    registry, v = await api.sees(scope)
    out = registry.visible(v)
    return answer({"scope": scope.describe(), "stations": out}, len(out))


async def health(request: web.Request) -> web.Response:
    parse(LiveParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    v = await api.visibility(scope)
    now = api.ctx.clock()
    (q1, p1), (q2, p2), (q3, p3) = health_sql(api.ctx.database, v.station_ids(), now)
    query = api.ctx.query
    out = shape.health_stations(v.stations, now, await query(q1, p1), await query(q2, p2),
                                await query(q3, p3))
    return answer(shape.health_body(scope, now, out), len(out))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/stations", stations)
    router.add_get("/api/v1/health", health)
