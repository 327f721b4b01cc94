"""``GET /api/v1/events/{event_id}/history``: every stored revision of one event of a
visible station (docs/corrections.md). An event of a station outside the token's scope is
answered exactly as an unknown one, 404, so the answer never tells that it exists."""

from __future__ import annotations

from aiohttp import web

from blo.api import shape
from blo.api.deps import API
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import HistoryParams, ParamError, parse, parse_event_id
from blo.api.queries import event_history_sql
from blo.api.scope import event_stations
from blo.event_history import histories


async def history(request: web.Request) -> web.Response:
    event_id = parse_event_id(request.match_info["event_id"])
    p = parse(HistoryParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    stations = event_stations(await api.visibility(scope), p.station)
    (q1, p1), (q2, p2) = event_history_sql(api.ctx.database, event_id, stations)
    rows = await api.ctx.query(q1, p1)
    found = histories(rows, [] if rows else await api.ctx.query(q2, p2))
    if not found:
        raise ApiError(404, f"no event {event_id} in this token's scope")
    if len(found) > 1:
        names = ", ".join(h.station_id for h in found)
        raise ParamError([f"station: event id {event_id} is used by stations {names}; "
                          + "name one"])
    return answer(shape.event_history_body(scope, found[0]), len(found[0].revisions))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/events/{event_id}/history", history)
