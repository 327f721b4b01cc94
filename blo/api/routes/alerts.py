"""``/api/v1/alerts`` (the current version of each visible alert) and
``POST /api/v1/alerts/{alert_id}/ack`` (sent to the alert engine, which writes it)."""

from __future__ import annotations

from aiohttp import web

from blo.api import shape
from blo.api.deps import API, Api
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import AlertParams, parse, parse_ack, parse_alert_id
from blo.api.queries import alerts_sql
from blo.api.scope import Scope, Visibility


async def visible_alerts(api: Api, scope: Scope, v: Visibility, open_only: bool, limit: int,
                         alert_id: str | None = None) -> list[shape.JsonObject]:
    """The newest ``limit`` alerts ``scope`` sees (of the newest 5000; or the one
    ``alert_id``)."""
    sql, params = alerts_sql(api.ctx.database, open_only, 5000 if alert_id is None else 1,
                             alert_id)
    return shape.visible_alerts(await api.ctx.query(sql, params), scope, v, limit)


async def alerts(request: web.Request) -> web.Response:
    p = parse(AlertParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    out = await visible_alerts(api, scope, await api.visibility(scope), p.open, p.limit)
    return answer({"scope": scope.describe(), "alerts": out}, len(out))


async def ack(request: web.Request) -> web.Response:
    aid = parse_alert_id(request.match_info["alert_id"])
    body = parse_ack(await request.read())
    api, token = request.app[API], request[TOKEN]
    if not await visible_alerts(api, token.scope, await api.visibility(token.scope), False, 1,
                                aid):
        raise ApiError(404, f"no alert {aid} in this token's scope")
    await api.ctx.send_ack(aid, f"{token.name} ({token.token_id})", body.comment)
    return answer({"alert_id": aid, "sent": True, "note": "the alert engine writes the "
                   "acknowledged version within seconds"}, 1)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/alerts", alerts)
    router.add_post("/api/v1/alerts/{alert_id}/ack", ack)
