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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar
from uuid import UUID

import orjson
from aiohttp import web

from blo.api.audit import PATH_MAX, Record, is_parser_refusal, query_text, redact, refusal
from blo.api.openapi import openapi_document
from blo.api.params import (
    AckBody,
    AlertParams,
    Filters,
    LiveParams,
    ParamError,
    Range,
    SeriesParams,
    StatsParams,
    TopParams,
    parse,
)
from blo.api.queries import (
    ALERT_COLUMNS,
    alerts_sql,
    health_sql,
    live_sql,
    series_sql,
    stations_sql,
    stats_sql,
    top_sql,
)
from blo.api.scope import Scope, StationInfo, Visibility, alert_visible, visibility
from blo.api.tokens import NO_TOKEN, Token, TokenStore
from sinks.base import Row, SinkUnavailable
from sinks.tables import API_AUDIT, API_TOKEN_USE

log = logging.getLogger("blo.api")

Query = Callable[[str, Mapping[str, Any] | None], Awaitable[list[Row]]]
Insert = Callable[[str, Sequence[str], Sequence[Row]], Awaitable[None]]
SendAck = Callable[[str, str, str], Awaitable[None]]

_TOKEN = web.RequestKey("token", Token)
_AUDITED = web.RequestKey("blo_audited", bool)  # the guard records this request
_DETAIL = web.RequestKey("blo_detail", str)  # why a handler ended the call (for the audit)
AUDIT_RECORD: web.AppKey[Record] = web.AppKey("blo_audit_record")
_LIVE = "/api/v1/live"
_R = TypeVar("_R", bound=Range)
_PUBLIC = ("/api/v1/openapi.json", "/healthz")


@dataclass
class ApiContext:
    query: Query
    insert: Insert
    database: str
    windows: tuple[str, ...]
    send_ack: SendAck
    max_range_days: int = 400
    max_rows: int = 10_000
    audit: bool = True
    live_interval_s: float = 2.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class _Stations:
    """The registry as the API sees it, re-read at most every ``refresh_s``."""

    def __init__(self, ctx: ApiContext, refresh_s: float = 10.0) -> None:
        self.ctx, self.refresh_s = ctx, refresh_s
        self.rows: list[dict[str, Any]] = []
        self.infos: list[StationInfo] = []
        self._at = -1e9
        self._lock = asyncio.Lock()

    async def get(self) -> list[StationInfo]:
        async with self._lock:
            if time.monotonic() - self._at >= self.refresh_s:
                rows = await self.ctx.query(stations_sql(self.ctx.database), None)
                names = ("station_id", "name", "country", "agency", "border", "paired_blo",
                         "crossing_point", "lat", "lon", "tz", "active")
                self.rows = [dict(zip(names, r, strict=True)) for r in rows]
                self.infos = [StationInfo(str(r["station_id"]), str(r["country"]),
                                          str(r["agency"]), str(r["border"]),
                                          str(r["paired_blo"])) for r in self.rows]
                self._at = time.monotonic()
            return self.infos


class _Audit:
    """Buffers audit rows and writes them every second (and at shutdown), with the tokens'
    last uses."""

    def __init__(self, ctx: ApiContext, tokens: TokenStore) -> None:
        self.ctx = ctx
        self.tokens = tokens
        self.rows: list[Row] = []
        self.task: asyncio.Task[None] | None = None

    def record(self, row: Row) -> None:
        if self.ctx.audit:
            self.rows.append(row)

    async def flush(self) -> None:
        uses = self.tokens.take_uses()
        if uses:
            try:
                await self.ctx.insert("api_token_use", API_TOKEN_USE.column_names, uses)
            except Exception as e:  # noqa: BLE001 - keep serving; last use is advisory
                log.warning("could not write the last use of %d token(s): %s", len(uses), e)
                self.tokens.uses[:0] = uses[-1000:]
        rows, self.rows = self.rows, []
        if rows:
            try:
                await self.ctx.insert("api_audit", API_AUDIT.column_names, rows)
            except Exception as e:  # noqa: BLE001 - keep serving; retried with the next rows
                log.error("could not write %d audit rows (kept for the next try): %s",
                          len(rows), e)
                self.rows[:0] = rows

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.flush()


class ApiError(Exception):
    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems or []


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status,
                        content_type="application/json")


def _bearer(request: web.Request) -> tuple[str, str]:
    """(the token secret sent, why it is refused before any lookup or '')."""
    if "access_token" in request.query and request.path != _LIVE:
        # a secret in a URL ends up in proxies' and browsers' histories: only EventSource,
        # which cannot send headers, may do it
        return "", (f"access_token is accepted only on {_LIVE} (for EventSource); send "
                    "the token as 'Authorization: Bearer <token>'")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), ""
    return request.query.get("access_token", "") if request.path == _LIVE else "", ""


def build_api(ctx: ApiContext) -> web.Application:
    # re-read at most every live interval: an open stream ends within two of a revocation
    tokens = TokenStore(lambda sql: ctx.query(sql, None), ctx.database,
                        refresh_s=min(2.0, ctx.live_interval_s), now=ctx.clock)
    stations = _Stations(ctx)
    audit = _Audit(ctx, tokens)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/api/") or path in _PUBLIC:
            return await handler(request)  # type: ignore[no-any-return]
        started = time.monotonic()
        request[_AUDITED] = True
        token: Token | None = None
        status, rows, detail = 500, 0, ""
        try:
            secret, detail = _bearer(request)
            if detail:
                raise ApiError(401, detail)
            verdict = await tokens.check(secret) if secret else None
            token = verdict.token if verdict else None
            if token is None:
                detail = verdict.error if verdict else NO_TOKEN
                raise ApiError(401, detail)
            request[_TOKEN] = token
            resp = await handler(request)
            status = resp.status
            rows = int(resp.headers.get("X-BLO-Rows", "0"))
            return resp  # type: ignore[no-any-return]
        except ApiError as e:
            status = e.status
            body: dict[str, Any] = {"error": e.message}
            if e.problems:
                body["problems"] = e.problems
            return _json(body, e.status)
        except ParamError as e:
            status = 400
            return _json({"error": "invalid parameters", "problems": e.problems}, 400)
        except web.HTTPException as e:
            status = e.status
            raise
        except SinkUnavailable as e:  # paused or down (ctx.query gives up in time)
            status = 503
            log.warning("API call %s %s: ClickHouse is not answering (%s)", request.method,
                        path, e)
            return _json({"error": f"ClickHouse is not answering ({e}); try again shortly"},
                         503)
        except Exception:  # a bug: logged here, never shown to the caller
            log.exception("API call %s %s failed", request.method, path)
            status = 500
            return _json({"error": "internal error (logged on the server)"}, 500)
        finally:
            audit.record((ctx.clock().replace(microsecond=0),
                          token.token_id if token else "", token.name if token else "",
                          request.method, redact(path)[:PATH_MAX],
                          query_text(request.query.items()), status, rows,
                          round((time.monotonic() - started) * 1000, 3),
                          request.remote or "", request.get(_DETAIL, detail)[:500]))

    app = web.Application(middlewares=[guard])

    def record_unguarded(request: web.BaseRequest, response: web.StreamResponse,
                         seconds: float) -> None:
        """What reached the port but not the guard (see blo.api.audit)."""
        if request.get(_AUDITED):
            return
        method, path, query, detail = request.method, request.path, request.query.items(), ""
        if is_parser_refusal(request):
            text = response.text if isinstance(response, web.Response) else ""
            method = ""  # never parsed
            path, q, detail = refusal(text or "")
            log.info("refused a request from %s (%d): %s", request.remote, response.status,
                     detail)
        else:
            path, q = redact(path)[:PATH_MAX], query_text(query)
        audit.record((ctx.clock().replace(microsecond=0), "", "", method, path, q,
                      response.status, 0, round(seconds * 1000, 3), request.remote or "",
                      detail))

    app[AUDIT_RECORD] = record_unguarded
    streams: set[asyncio.Task[Any]] = set()  # open /live responses

    async def vis(request: web.Request) -> tuple[Scope, Visibility]:
        token = request[_TOKEN]
        return token.scope, visibility(token.scope, await stations.get())

    def check_filters(scope: Scope, v: Visibility, f: Filters) -> None:
        if f.station and f.station not in v.stations:
            raise ApiError(403, f"station {f.station} is outside this token's scope "
                                f"({scope.describe()})")
        if f.country and not scope.all and f.country not in scope.countries:
            raise ApiError(403, f"country {f.country} is outside this token's scope "
                                f"({scope.describe()})")
        if f.border and not scope.all and not any(
                c in scope.countries for c in f.border.split("-")):
            raise ApiError(403, f"border {f.border} does not touch this token's countries "
                                f"({scope.describe()})")

    def check_window(window: str) -> None:
        if window not in ctx.windows:
            raise ParamError([f"window: one of {', '.join(ctx.windows)}"])

    def answer(body: dict[str, Any], n_rows: int) -> web.Response:
        resp = _json(body)
        resp.headers["X-BLO-Rows"] = str(n_rows)
        return resp

    def iso(t: datetime) -> str:
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def epoch_iso(t: Any) -> str | None:
        t = int(t)
        return iso(datetime.fromtimestamp(t, UTC)) if t else None

    async def ranged(request: web.Request, model: type[_R]
                     ) -> tuple[_R, Scope, Visibility, datetime, datetime]:
        """The prologue of the statistics endpoints: parameters, scope checks, range."""
        p = parse(model, dict(request.query))
        check_window(p.window)
        scope, v = await vis(request)
        check_filters(scope, v, p)
        t0, t1 = p.bounds(ctx.clock(), ctx.max_range_days)
        return p, scope, v, t0, t1

    async def stats(request: web.Request) -> web.Response:
        p, scope, v, t0, t1 = await ranged(request, StatsParams)
        sql, params = stats_sql(ctx.database, p.window, t0, t1, v.station_ids(), p,
                                p.group_by, ctx.max_rows)
        names = [*p.group_by, *_stat_names()]
        rows = [dict(zip(names, _plain(r), strict=True)) for r in await ctx.query(sql, params)]
        body: dict[str, Any] = {"window": p.window, "from": iso(t0), "to": iso(t1),
                                "group_by": list(p.group_by), "scope": scope.describe(),
                                "rows": rows}
        if v.paired and not p.station:
            # the foreign side of the token's BLO pairs: aggregated, never per station
            groups = tuple(g for g in p.group_by if g != "station") or ("country",)
            pf = Filters.model_validate({"event_type": p.event_type, "drug": p.drug})
            sql, params = stats_sql(ctx.database, p.window, t0, t1, v.paired_ids(), pf,
                                    groups, ctx.max_rows)
            pnames = [*groups, *_stat_names()]
            body["paired"] = {"group_by": list(groups), "rows": [
                dict(zip(pnames, _plain(r), strict=True)) for r in await ctx.query(sql, params)]}
        return answer(body, len(rows))

    async def top(request: web.Request) -> web.Response:
        p, scope, v, t0, t1 = await ranged(request, TopParams)
        sql, params = top_sql(ctx.database, p.window, t0, t1, v.station_ids(), p, p.stat, p.n)
        rows = [{"station_id": s, "country": c, "value": _num(x)}
                for s, c, x in await ctx.query(sql, params)]
        return answer({"window": p.window, "from": iso(t0), "to": iso(t1), "stat": p.stat,
                       "scope": scope.describe(), "rows": rows}, len(rows))

    async def series(request: web.Request) -> web.Response:
        p, scope, v, t0, t1 = await ranged(request, SeriesParams)
        sql, params = series_sql(ctx.database, p.window, t0, t1, v.station_ids(), p, p.stat,
                                 ctx.max_rows)
        points = [{"t": epoch_iso(t), "label": label or None, "value": _num(x)}
                  for t, label, x in await ctx.query(sql, params)]
        return answer({"window": p.window, "from": iso(t0), "to": iso(t1), "stat": p.stat,
                       "scope": scope.describe(), "points": points}, len(points))

    async def stations_ep(request: web.Request) -> web.Response:
        parse(LiveParams, dict(request.query))
        scope, v = await vis(request)
        out = [{k: _plain_value(val) for k, val in r.items()} for r in stations.rows
               if r["station_id"] in v.stations]
        return answer({"scope": scope.describe(), "stations": out}, len(out))

    async def health(request: web.Request) -> web.Response:
        parse(LiveParams, dict(request.query))
        scope, v = await vis(request)
        now = ctx.clock()
        (q1, p1), (q2, p2), (q3, p3) = health_sql(ctx.database, v.station_ids(), now)
        seen = {s: (int(a), int(b), int(n)) for s, a, b, n in await ctx.query(q1, p1)}
        late = {s: int(n) for s, n in await ctx.query(q2, p2)}
        dlq = {s: int(n) for s, n in await ctx.query(q3, p3)}
        out = []
        for sid in sorted(v.stations):
            last, ingested, n = seen.get(sid, (0, 0, 0))
            out.append({"station_id": sid, "last_event_at": epoch_iso(last),
                        "last_ingested_at": epoch_iso(ingested),
                        "event_time_lag_s": round(now.timestamp() - last) if last else None,
                        "events_30d": n, "late_events_24h": late.get(sid, 0),
                        "dead_letters_24h": dlq.get(sid, 0)})
        return answer({"scope": scope.describe(), "at": iso(now), "stations": out}, len(out))

    async def visible_alerts(request: web.Request, open_only: bool, limit: int,
                             alert_id: str | None = None) -> list[dict[str, Any]]:
        scope, v = await vis(request)
        sql, params = alerts_sql(ctx.database, open_only, 5000 if alert_id is None else 1,
                                 alert_id)
        out = []
        for r in await ctx.query(sql, params):
            a = dict(zip(ALERT_COLUMNS, _plain(r), strict=True))
            if alert_visible(scope, v, a):
                for k in ("window_start", "window_end", "fired_at", "resolved_at", "acked_at"):
                    a[k] = epoch_iso(a[k])
                a["provisional"], a["acked"] = bool(a["provisional"]), bool(a["acked"])
                out.append(a)
                if len(out) >= limit:
                    break
        return out

    async def alerts(request: web.Request) -> web.Response:
        p = parse(AlertParams, dict(request.query))
        out = await visible_alerts(request, p.open, p.limit)
        return answer({"scope": request[_TOKEN].scope.describe(), "alerts": out}, len(out))

    async def ack(request: web.Request) -> web.Response:
        aid = request.match_info["alert_id"]
        try:
            aid = str(UUID(aid))
        except ValueError:
            raise ParamError([f"alert_id: not a UUID: {aid[:60]!r}"]) from None
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            raise ParamError(["body: not JSON (send {\"comment\": \"...\"})"]) from None
        if not isinstance(body, dict):
            raise ParamError(["body: a JSON object"])
        b = parse(AckBody, body)
        found = await visible_alerts(request, False, 1, aid)
        if not found:
            raise ApiError(404, f"no alert {aid} in this token's scope")
        token = request[_TOKEN]
        await ctx.send_ack(aid, f"{token.name} ({token.token_id})", b.comment)
        return answer({"alert_id": aid, "sent": True, "note": "the alert engine writes the "
                       "acknowledged version within seconds"}, 1)

    async def whoami(request: web.Request) -> web.Response:
        t = request[_TOKEN]
        return answer({"token_id": t.token_id, "name": t.name, "scope": t.scope.describe(),
                       "all": t.scope.all, "countries": sorted(t.scope.countries),
                       "agencies": sorted(t.scope.agencies), "windows": list(ctx.windows),
                       "expires_at": iso(t.expires_at) if t.expires_at else None}, 1)

    async def live(request: web.Request) -> web.StreamResponse:
        parse(LiveParams, dict(request.query))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        window = "1m" if "1m" in ctx.windows else ctx.windows[0]
        task = asyncio.current_task()
        if task is not None:
            streams.add(task)  # cancelled at shutdown: an open dashboard never holds it up
        try:
            while True:
                try:
                    # the token as it is now: a revocation or expiry ends the stream
                    verdict = await tokens.recheck(request[_TOKEN])
                    if verdict.token is None:
                        request[_DETAIL] = f"stream ended: {verdict.error}"
                        resp.force_close()
                        await resp.write(b"event: error\ndata: " + orjson.dumps(
                            {"error": verdict.error}) + b"\n\n")
                        break
                    body = await snapshot(request, window)
                except SinkUnavailable:
                    # ClickHouse not answering: no token check, no data; say so and keep
                    # the stream (the dashboard shows it stale), the next snapshot follows
                    await resp.write(b"event: unavailable\ndata: " + orjson.dumps(
                        {"error": "ClickHouse is not answering; the next snapshot follows "
                                  "when it does"}) + b"\n\n")
                    await asyncio.sleep(ctx.live_interval_s)
                    continue
                await resp.write(b"event: snapshot\ndata: " + orjson.dumps(body) + b"\n\n")
                await asyncio.sleep(ctx.live_interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            streams.discard(task)
        return resp

    async def snapshot(request: web.Request, window: str) -> dict[str, Any]:
        scope, v = await vis(request)
        now = ctx.clock()
        (q1, p1), (q2, p2) = live_sql(ctx.database, window, v.station_ids(), now)
        per = {s: (int(n), int(t)) for s, n, t in await ctx.query(q1, p1)}
        minutes = [{"t": epoch_iso(t), "events": int(n)} for t, n in await ctx.query(q2, p2)]
        open_alerts = await visible_alerts(request, True, 200)
        firing_by_station: dict[str, str] = {}
        for a in open_alerts:
            for sid in (a["station_id"], *str(a["scope_key"]).split("+")):
                if sid in v.stations:
                    firing_by_station[sid] = _worse(firing_by_station.get(sid), a["severity"])
        return {
            "at": iso(now), "scope": scope.describe(), "window": window,
            "interval_s": ctx.live_interval_s,
            "stations": [{**{k: _plain_value(val) for k, val in r.items()},
                          "events_1h": per.get(r["station_id"], (0, 0))[0],
                          "last_event_at": epoch_iso(per.get(r["station_id"], (0, 0))[1]),
                          "alert": firing_by_station.get(r["station_id"])}
                         for r in stations.rows if r["station_id"] in v.stations],
            "series": minutes,
            "events_1h": sum(n for n, _ in per.values()),
            "alerts": open_alerts[:50], "alerts_open": len(open_alerts),
        }

    async def openapi(request: web.Request) -> web.Response:
        return _json(openapi_document(list(ctx.windows)))

    async def index(request: web.Request) -> web.StreamResponse:
        return _static_response("index.html")

    async def static(request: web.Request) -> web.StreamResponse:
        return _static_response(request.match_info["name"])

    async def healthz(request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    app.router.add_get("/", index)
    app.router.add_get("/static/{name:(?:js/)?[A-Za-z0-9_.-]+}", static)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/whoami", whoami)
    app.router.add_get("/api/v1/stats", stats)
    app.router.add_get("/api/v1/top", top)
    app.router.add_get("/api/v1/series", series)
    app.router.add_get("/api/v1/stations", stations_ep)
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/alerts", alerts)
    app.router.add_post("/api/v1/alerts/{alert_id}/ack", ack)
    app.router.add_get("/api/v1/live", live)

    async def close_streams(app: web.Application) -> None:
        for task in list(streams):
            task.cancel()

    app.on_shutdown.append(close_streams)

    async def start_audit(app: web.Application) -> None:
        audit.task = asyncio.ensure_future(audit.run())

    async def stop_audit(app: web.Application) -> None:
        if audit.task is not None:
            audit.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await audit.task
        await audit.flush()

    app.on_startup.append(start_audit)
    app.on_cleanup.append(stop_audit)
    return app


_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def _worse(a: str | None, b: str) -> str:
    return b if a is None or _SEVERITY.get(b, 0) > _SEVERITY.get(a, 0) else a


def _stat_names() -> list[str]:
    from blo.api.params import STATISTICS

    return list(STATISTICS)


def _num(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    return int(v) if isinstance(v, int) else v


def _plain_value(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, int | str | bool) or v is None:
        return v
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if v.tzinfo else \
            v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)


def _plain(row: Sequence[Any]) -> list[Any]:
    return [_plain_value(v) for v in row]


_CONTENT_TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
                  ".json": "application/json", ".svg": "image/svg+xml",
                  ".woff2": "font/woff2", ".png": "image/png"}


def _static_response(name: str) -> web.StreamResponse:
    """Files shipped in blo/api/static (the dashboard: no CDN, works offline)."""
    if "/" in name.removeprefix("js/") or name.removeprefix("js/").startswith("."):
        raise web.HTTPNotFound()
    f = resources.files("blo.api") / "static" / name
    if not f.is_file():
        raise web.HTTPNotFound()
    ext = name[name.rfind("."):]
    return web.Response(body=f.read_bytes(), content_type=_CONTENT_TYPES.get(
        ext, "application/octet-stream"), headers={"Cache-Control": "no-cache"})
