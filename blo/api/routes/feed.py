"""``GET /api/v1/feed``: the significant events of the visible stations — seizures (drug,
kg), detentions (counts and offence, never names), incidents (type, impact) — newest first.
The dashboard polls it; the audit records every call, as any other read."""

from __future__ import annotations

from aiohttp import web

from blo.api import shape
from blo.api.deps import API
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import FEED_TYPES, FeedParams, parse
from blo.api.queries import feed_details_sql, feed_sql
from blo.api.scope import filter_refusal


async def feed(request: web.Request) -> web.Response:
    p = parse(FeedParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    registry, v = await api.sees(scope)
    refused = filter_refusal(scope, v, station=p.station)
    if refused:
        raise ApiError(403, refused)
    now = api.ctx.clock()
    lo = p.lower_bound(now)
    stations = (p.station,) if p.station else v.station_ids()
    types = (p.event_type,) if p.event_type else FEED_TYPES
    sql, params = feed_sql(api.ctx.database, stations, lo, now, p.limit, types)
    rows = await api.ctx.query(sql, params)
    ids = shape.feed_detail_ids(rows)
    payloads = []
    if ids:
        sql, params = feed_details_sql(api.ctx.database, stations, ids, lo, now)
        payloads = await api.ctx.query(sql, params)
    countries = {i.station_id: i.country for i in registry.infos}
    items = shape.feed_items(rows, payloads, countries)
    return answer(shape.feed_body(scope, now, lo, items), len(items))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/feed", feed)
