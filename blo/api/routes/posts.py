"""``GET /api/v1/posts/{station_id}``: what the dashboard's post page shows of one visible
post — its registry card, events per event type over 24 hours (1-hour windows) and 7 days
(daily windows, else 1-hour ones), and its health. A post outside the token's scope is
answered as an unknown one, 404. Its recent seizures are ``/feed?station=…``, its alerts
``/alerts``."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from blo.api import shape
from blo.api.deps import API
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import LiveParams, parse, parse_station_id
from blo.api.queries import health_sql, post_series_sql


def ranges(windows: tuple[str, ...], now: datetime) -> dict[str, tuple[str, datetime]]:
    """Per range of the page, the window kind it reads and its start: 24 h of ``1h``
    windows, 7 days of ``day`` windows (``1h`` when there are none); the first configured
    kind when ``1h`` is not."""
    hourly = "1h" if "1h" in windows else windows[0]
    return {"24h": (hourly, now - timedelta(hours=24)),
            "7d": ("day" if "day" in windows else hourly, now - timedelta(days=7))}


async def post(request: web.Request) -> web.Response:
    sid = parse_station_id(request.match_info["station_id"])
    parse(LiveParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    registry, v = await api.sees(scope)
    card = next((s for s in registry.visible(v) if s["station_id"] == sid), None)
    if card is None:
        raise ApiError(404, f"no post {sid} in this token's scope")
    ctx = api.ctx
    now = ctx.clock()
    series = {}
    for key, (window, t0) in ranges(ctx.windows, now).items():
        sql, params = post_series_sql(ctx.database, window, t0, now, sid, ctx.max_rows)
        series[key] = (window, t0, shape.post_series(await ctx.query(sql, params)))
    (q1, p1), (q2, p2), (q3, p3) = health_sql(ctx.database, (sid,), now)
    health = shape.health_stations((sid,), now, await ctx.query(q1, p1),
                                   await ctx.query(q2, p2), await ctx.query(q3, p3))
    n = sum(len(pts) for _, _, pts in series.values())
    return answer(shape.post_body(scope, now, card, series, health[0]), n)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/posts/{station_id}", post)
