"""``/api/v1/alerts`` (the current version of each visible alert),
``POST /api/v1/alerts/{alert_id}/ack`` and ``POST /api/v1/alerts/ack`` (every visible alert a
filter names): acknowledgements are sent to the alert engine, which writes them."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from blo.api import shape
from blo.api.deps import API, Api
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import AlertParams, parse, parse_ack, parse_alert_id, parse_bulk_ack
from blo.api.queries import alerts_sql, alerts_to_ack_sql
from blo.api.scope import Scope, Visibility, filter_refusal

BULK_MAX = 50_000
"""At most this many alerts per bulk acknowledgement (narrow the filter for more)."""
_SEND_AT_ONCE = 200
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_BORDER = re.compile(r"^[A-Z]{2}-[A-Z]{2}$")


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


def scope_refusal(scope: Scope, v: Visibility, key: str) -> str:
    """Why a bulk acknowledgement's ``scope`` filter asks for more than the token covers
    ('' when it does not): a country or border as :func:`filter_refusal` says, ``all`` only
    for the regional scope, a pair when one of its posts is visible, anything else (a
    station, a gap key ``STATION:FROM-TO``) when its station is visible."""
    if key == "all":
        return "" if scope.all else f"'all' roll-ups are outside this token's scope " \
                                    f"({scope.describe()})"
    if _COUNTRY.match(key):
        return filter_refusal(scope, v, country=key)
    if _BORDER.match(key):
        return filter_refusal(scope, v, border=key)
    if "+" in key:
        if scope.all or any(s in v.stations for s in key.split("+")):
            return ""
        return f"pair {key} is outside this token's scope ({scope.describe()})"
    return filter_refusal(scope, v, station=key.split(":")[0])


async def bulk_ack(request: web.Request) -> web.Response:
    body = parse_bulk_ack(await request.read())
    api, token = request.app[API], request[TOKEN]
    v = await api.visibility(token.scope)
    if body.scope is not None:
        why = scope_refusal(token.scope, v, body.scope)
        if why:
            raise ApiError(403, why)
    sql, params = alerts_to_ack_sql(api.ctx.database, rule=body.rule, scope=body.scope,
                                    since=body.since, until=body.until, open_only=body.open,
                                    limit=BULK_MAX + 1)
    matched = shape.visible_alerts(await api.ctx.query(sql, params), token.scope, v,
                                   BULK_MAX + 1)
    if len(matched) > BULK_MAX:
        raise ApiError(400, f"more than {BULK_MAX} alerts match: narrow the filter")
    ids = [str(a["alert_id"]) for a in matched]
    if not body.dry_run:
        who = f"{token.name} ({token.token_id})"
        for i in range(0, len(ids), _SEND_AT_ONCE):
            await asyncio.gather(*(api.ctx.send_ack(aid, who, body.comment)
                                   for aid in ids[i:i + _SEND_AT_ONCE]))
    return answer({"matched": len(ids), "sent": 0 if body.dry_run else len(ids),
                   "dry_run": body.dry_run, "alert_ids": ids,
                   "note": "the alert engine writes the acknowledged versions within seconds"
                   if ids and not body.dry_run else ""}, len(ids))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/alerts", alerts)
    router.add_post("/api/v1/alerts/ack", bulk_ack)
    router.add_post("/api/v1/alerts/{alert_id}/ack", ack)
