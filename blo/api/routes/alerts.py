"""``/api/v1/alerts`` (the current version of each visible alert: exact counts, filters,
sorting, grouping), ``POST /api/v1/alerts/{alert_id}/ack`` and ``POST /api/v1/alerts/ack``
(every visible alert a filter names), and the mutes (``/api/v1/alerts/mutes``).
Acknowledgements and mutes are sent to the alert engine, which writes them."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from aiohttp import web

from blo.api import shape
from blo.api.deps import API, Api
from blo.api.http import DETAIL, TOKEN, ApiError, answer
from blo.api.params import (
    AlertParams,
    BulkAckBody,
    MuteListParams,
    parse,
    parse_ack,
    parse_alert_id,
    parse_bulk_ack,
    parse_mute,
    parse_mute_id,
)
from blo.api.queries import (
    AlertFilter,
    alert_counts_sql,
    alert_group_total_sql,
    alert_groups_sql,
    alert_page_sql,
    alert_source,
    alert_station_worst_sql,
    alerts_sql,
    alerts_to_ack_sql,
    filter_conditions,
    mutes_sql,
    visibility_conditions,
)
from blo.api.scope import Scope, Visibility, filter_refusal, mute_refusal, mute_visible
from schemas.alert_input import MuteRequest, mute_record
from streams.alerts import durations
from streams.alerts.mutes import Mute, Places, request_problems, scope_of

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


def places_of(registry: shape.Registry) -> Places:
    """station → (country, border) of the registry."""
    return {i.station_id: (i.country, i.border) for i in registry.infos}


async def all_mutes(api: Api) -> list[Mute]:
    """Every mute (current versions), active or not."""
    return [Mute.from_row(r) for r in await api.ctx.query(mutes_sql(api.ctx.database), None)]


async def alert_list(api: Api, scope: Scope, f: AlertFilter, *, sort: str, limit: int,
                     offset: int, group: bool = False, worst: bool = False
                     ) -> shape.JsonObject:
    """What ``scope`` sees of the alerts ``f`` keeps: exact ``counts`` and ``total``, one
    page of alerts (or of groups, ``group``), each station's worst open unmuted severity
    (``worst``)."""
    registry, v = await api.sees(scope)
    now = api.ctx.clock().timestamp()
    mutes = {m.mute_id: m for m in await all_mutes(api) if m.active(now)}
    src, params = alert_source(api.ctx.database, scope, v, f, list(mutes.values()),
                               places_of(registry))
    q = api.ctx.query
    page_sql = (alert_groups_sql if group else alert_page_sql)(src, sort, limit, offset)
    reads = [q(alert_counts_sql(src), params), q(page_sql, params)]
    if group:
        reads.append(q(alert_group_total_sql(src), params))
    if worst:
        reads.append(q(alert_station_worst_sql(src), params))
    got = await asyncio.gather(*reads)
    counts = shape.alert_counts(got[0])
    body: shape.JsonObject = {"counts": counts, "sort": sort, "limit": limit,
                              "offset": offset}
    if group:
        body |= {"group": "rule_scope", "total": int(got[2][0][0]) if got[2] else 0,
                 "groups": shape.alert_groups(got[1])}
    else:
        body |= {"total": counts["alerts"], "alerts": shape.alert_page(got[1], mutes)}
    if worst:
        body["worst_by_station"] = shape.station_worst(got[-1], v)
    return body


async def alerts(request: web.Request) -> web.Response:
    p = parse(AlertParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    if p.station or p.country:
        why = filter_refusal(scope, await api.visibility(scope), station=p.station,
                             country=p.country)
        if why:
            raise ApiError(403, why)
    f = AlertFilter(state=p.current_state(), severities=p.severity, rule=p.rule,
                    country=p.country, station=p.station, acked=p.acknowledged, muted=p.muted)
    body = await alert_list(api, scope, f, sort=p.sort, limit=p.limit, offset=p.offset,
                            group=p.group is not None)
    items = body["groups"] if p.group else body["alerts"]
    return answer({"scope": scope.describe(), **body}, len(items))


async def ack(request: web.Request) -> web.Response:
    aid = parse_alert_id(request.match_info["alert_id"])
    body = parse_ack(await request.read())
    api, token = request.app[API], request[TOKEN]
    if not await visible_alerts(api, token.scope, await api.visibility(token.scope), False, 1,
                                aid):
        raise ApiError(404, f"no alert {aid} in this token's scope")
    await api.ctx.send_ack(aid, f"{token.name} ({token.token_id})", body.comment)
    request[DETAIL] = (f"ack {aid}" + (f": {body.comment}" if body.comment else ""))[:500]
    return answer({"alert_id": aid, "sent": True, "note": "the alert engine writes the "
                   "acknowledged version within seconds"}, 1)


def bulk_ack_sql(db: str, scope: Scope, v: Visibility, places: Places, body: BulkAckBody,
                 limit: int) -> tuple[str, dict[str, Any]]:
    """The first ``limit`` not yet acknowledged alerts, oldest fired first, that ``scope``
    sees and ``body`` names: its rule, scope key and time range, and severity, country and
    station as ``GET /api/v1/alerts`` filters them. Visibility and every filter apply
    before the limit, so alerts of other countries never crowd out the token's own."""
    params: dict[str, Any] = {}
    also = visibility_conditions(scope, v, params) + filter_conditions(
        AlertFilter(severities=body.severity, country=body.country, station=body.station),
        places, params)
    return alerts_to_ack_sql(db, rule=body.rule, scope=body.scope, since=body.since,
                             until=body.until, open_only=body.open, limit=limit, also=also,
                             also_params=params)


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


def bulk_detail(body: BulkAckBody, matched: int) -> str:
    """What the audit keeps of a bulk acknowledgement (its body is not in the path): the
    filter, how many alerts it acknowledged (or would, on a dry run), the comment."""
    filters = [f"{k} {v}" for k, v in (
        ("rule", body.rule), ("scope", body.scope),
        ("since", body.since and body.since.isoformat()),
        ("until", body.until and body.until.isoformat()),
        ("severity", ",".join(body.severity) or None), ("country", body.country),
        ("station", body.station), ("open", "only" if body.open else None)) if v]
    text = (f"bulk ack{' (dry run)' if body.dry_run else ''}: {matched} alerts "
            f"({', '.join(filters)})" + (f": {body.comment}" if body.comment else ""))
    return text[:500]


async def bulk_ack(request: web.Request) -> web.Response:
    body = parse_bulk_ack(await request.read())
    api, token = request.app[API], request[TOKEN]
    registry, v = await api.sees(token.scope)
    if body.scope is not None:
        why = scope_refusal(token.scope, v, body.scope)
        if why:
            raise ApiError(403, why)
    if body.station or body.country:
        why = filter_refusal(token.scope, v, station=body.station, country=body.country)
        if why:
            raise ApiError(403, why)
    sql, params = bulk_ack_sql(api.ctx.database, token.scope, v, places_of(registry), body,
                               BULK_MAX + 1)
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
    request[DETAIL] = bulk_detail(body, len(ids))
    return answer({"matched": len(ids), "sent": 0 if body.dry_run else len(ids),
                   "dry_run": body.dry_run, "alert_ids": ids,
                   "note": "the alert engine writes the acknowledged versions within seconds"
                   if ids and not body.dry_run else ""}, len(ids))


# -- mutes ----------------------------------------------------------------------------------
def _sender(api: Api) -> Any:
    if api.ctx.send_input is None:
        raise ApiError(503, "this API cannot reach the alert engine's input topic")
    return api.ctx.send_input


async def mutes(request: web.Request) -> web.Response:
    p = parse(MuteListParams, dict(request.query))
    api, scope = request.app[API], request[TOKEN].scope
    v = await api.visibility(scope)
    now = api.ctx.clock().timestamp()
    seen = [m for m in await all_mutes(api) if mute_visible(scope, v, m.scope, m.scope_key)
            and (not p.active or m.active(now))]
    seen.sort(key=lambda m: (not m.active(now), -m.ends_at, m.mute_id))
    out = [shape.mute_object(m, now) for m in seen]
    return answer({"scope": scope.describe(), "at": shape.epoch_iso(now), "mutes": out},
                  len(out))


async def create_mute(request: web.Request) -> web.Response:
    body = parse_mute(await request.read())
    api, token = request.app[API], request[TOKEN]
    send = _sender(api)
    try:
        for_s = durations.parse(str(body.duration))
    except ValueError as e:
        raise ApiError(400, f"duration: {e}") from None
    rule, key = body.rule or "", body.scope or ""
    problems = request_problems(rule, key, for_s, body.reason)
    if problems:
        raise ApiError(400, "; ".join(problems))
    kind = scope_of(key)
    registry, v = await api.sees(token.scope)
    why = mute_refusal(token.scope, v, kind, key)
    if why:
        raise ApiError(403, why)
    if kind == "station" and key not in {i.station_id for i in registry.infos}:
        raise ApiError(400, f"scope: no station {key} in the registry")
    now = api.ctx.clock().timestamp()
    who = f"{token.name} ({token.token_id})"
    req = MuteRequest(str(uuid.uuid4()), "create", rule, key, for_s, body.reason, who, now)
    await send(*mute_record(req))
    request[DETAIL] = (f"mute {req.mute_id}: rule {rule or '*'}, scope {key or '*'}, for "
                       f"{durations.human(for_s)}: {body.reason}")[:500]
    preview = Mute(req.mute_id, 1, rule, kind, key, body.reason, who, int(now),
                   int(now) + for_s, updated_at=int(now))
    return answer({"mute": shape.mute_object(preview, now), "sent": True,
                   "note": "the alert engine stores the mute within seconds"}, 1)


async def end_mute(request: web.Request) -> web.Response:
    mid = parse_mute_id(request.match_info["mute_id"])
    api, token = request.app[API], request[TOKEN]
    send = _sender(api)
    v = await api.visibility(token.scope)
    found = next((m for m in await all_mutes(api) if m.mute_id == mid), None)
    if found is None or not mute_visible(token.scope, v, found.scope, found.scope_key):
        raise ApiError(404, f"no mute {mid} in this token's scope")
    why = mute_refusal(token.scope, v, found.scope, found.scope_key)
    if why:
        raise ApiError(403, why)
    now = api.ctx.clock().timestamp()
    if not found.active(now):
        raise ApiError(409, f"mute {mid} already ended at {shape.epoch_iso(found.ends_at)}")
    who = f"{token.name} ({token.token_id})"
    await send(*mute_record(MuteRequest(mid, "expire", "", "", 0, "", who, now)))
    request[DETAIL] = f"unmute {mid} (rule {found.rule_id or '*'}, scope " \
                      f"{found.scope_key or '*'})"
    return answer({"mute_id": mid, "sent": True,
                   "note": "the alert engine ends the mute within seconds"}, 1)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/alerts", alerts)
    router.add_post("/api/v1/alerts/ack", bulk_ack)
    router.add_get("/api/v1/alerts/mutes", mutes)
    router.add_post("/api/v1/alerts/mutes", create_mute)
    router.add_delete("/api/v1/alerts/mutes/{mute_id}", end_mute)
    router.add_post("/api/v1/alerts/{alert_id}/ack", ack)
