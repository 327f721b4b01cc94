"""``/api/v1/stats``, ``/top`` and ``/series``: figures summed over the window rows of the
visible stations in a time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from aiohttp import web

from blo.api import shape
from blo.api.deps import API, Api
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import Filters, ParamError, Range, SeriesParams, StatsParams, TopParams, parse
from blo.api.queries import series_sql, stats_sql, top_sql
from blo.api.scope import Scope, Visibility, filter_refusal

_R = TypeVar("_R", bound=Range)


@dataclass(frozen=True)
class Ranged(Generic[_R]):
    """A statistics call, checked: its parameters, the token's scope and what it sees, and
    the time range."""

    api: Api
    p: _R
    scope: Scope
    v: Visibility
    t0: datetime
    t1: datetime


async def ranged(request: web.Request, model: type[_R]) -> Ranged[_R]:
    """The prologue of the statistics endpoints: parameters, scope checks, range."""
    api = request.app[API]
    p = parse(model, dict(request.query))
    if p.window not in api.ctx.windows:
        raise ParamError([f"window: one of {', '.join(api.ctx.windows)}"])
    scope = request[TOKEN].scope
    v = await api.visibility(scope)
    refused = filter_refusal(scope, v, p.station, p.country, p.border)
    if refused:
        raise ApiError(403, refused)
    t0, t1 = p.bounds(api.ctx.clock(), api.ctx.max_range_days)
    return Ranged(api, p, scope, v, t0, t1)


async def stats(request: web.Request) -> web.Response:
    r = await ranged(request, StatsParams)
    p, ctx = r.p, r.api.ctx
    sql, params = stats_sql(ctx.database, p.window, r.t0, r.t1, r.v.station_ids(), p,
                            p.group_by, ctx.max_rows)
    rows = shape.stat_rows(p.group_by, await ctx.query(sql, params))
    paired = None
    if r.v.paired and not p.station:
        # the foreign side of the token's BLO pairs: aggregated, never per station
        groups = shape.paired_groups(p.group_by)
        pf = Filters.model_validate({"event_type": p.event_type, "drug": p.drug})
        sql, params = stats_sql(ctx.database, p.window, r.t0, r.t1, r.v.paired_ids(), pf,
                                groups, ctx.max_rows)
        paired = groups, shape.stat_rows(groups, await ctx.query(sql, params))
    return answer(shape.stats_body(p.window, r.t0, r.t1, r.scope, p.group_by, rows, paired),
                  len(rows))


async def top(request: web.Request) -> web.Response:
    r = await ranged(request, TopParams)
    p, ctx = r.p, r.api.ctx
    sql, params = top_sql(ctx.database, p.window, r.t0, r.t1, r.v.station_ids(), p, p.stat,
                          p.n)
    rows = shape.top_rows(await ctx.query(sql, params))
    return answer(shape.ranged_body(p.window, r.t0, r.t1, p.stat, r.scope, "rows", rows),
                  len(rows))


async def series(request: web.Request) -> web.Response:
    r = await ranged(request, SeriesParams)
    p, ctx = r.p, r.api.ctx
    sql, params = series_sql(ctx.database, p.window, r.t0, r.t1, r.v.station_ids(), p,
                             p.stat, ctx.max_rows)
    points = shape.series_points(await ctx.query(sql, params))
    return answer(shape.ranged_body(p.window, r.t0, r.t1, p.stat, r.scope, "points", points),
                  len(points))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/stats", stats)
    router.add_get("/api/v1/top", top)
    router.add_get("/api/v1/series", series)
