"""``GET /api/v1/bulletins``: the bulletin of a scope and period (docs/bulletins.md), as
HTML, PDF or its figures as JSON — what ``blo report bulletin`` writes, from the same
:mod:`blo.analytics.bulletin`.

Scope: a national token may have its own country's bulletin only (``scope`` defaults to
it); the regional one (``region``) needs the regional token; a token limited to agencies
has none (a bulletin sums every agency's posts). The figures are read in a worker thread
(charts and PDF take CPU), each query through ``ctx.query`` on the event loop. The audit
row (:mod:`blo.api.guard`) keeps the query (scope, period, language, format), the posts
covered as its rows, and the data version the bulletin was cut from as its detail; the
answer carries it in ``X-BLO-Data-Version``.

``GET /api/v1/bulletins/editions`` lists the stored editions (the schedule's and ``blo
report editions make``'s, :mod:`blo.analytics.bulletin.editions`) the token may see: a
national token its countries', the regional one every scope's (``region`` included), an
agency-limited token none (403, as above). ``GET /api/v1/bulletins/editions/download``
answers one edition's PDF or HTML as it was stored (the latest made of the scope, month and
language, or the one of ``version``), audited with its data version.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from blo.analytics.bulletin import MEDIA_TYPES, REGION, BulletinError, make, render
from blo.analytics.bulletin.editions import (
    document_bytes,
    document_query,
    editions_from_rows,
    list_query,
)
from blo.analytics.periods import PERIOD_HELP, Period, PeriodError
from blo.api.deps import API
from blo.api.http import DETAIL, ROWS_HEADER, TOKEN, ApiError
from blo.api.params import ParamError, parse
from blo.api.params import _Params as ParamsModel
from blo.api.scope import Scope

VERSION_HEADER = "X-BLO-Data-Version"


class BulletinParams(ParamsModel):
    scope: str | None = Field(None, pattern=r"^([A-Za-z]{2}|region)$")
    period: str = Field(..., max_length=16, description=PERIOD_HELP)
    lang: Literal["en", "ru"] = "ru"
    format: Literal["html", "pdf", "json"] = "html"


def bulletin_scope(token_scope: Scope, asked: str | None) -> str:
    """The bulletin scope a token gets for ``asked`` (None: its own), or :class:`ApiError`
    403 saying why not."""
    if token_scope.agencies:
        raise ApiError(403, "a bulletin sums every agency's posts: this token is limited to "
                            f"agencies ({token_scope.describe()})")
    if asked is None:
        if token_scope.all:
            return REGION
        if len(token_scope.countries) == 1:
            return next(iter(token_scope.countries))
        raise ApiError(400, "scope: this token covers several countries; name one")
    want = REGION if asked == REGION else asked.upper()
    if token_scope.all:
        return want
    if want == REGION:
        raise ApiError(403, "a regional bulletin needs the regional token "
                            f"(this token's scope: {token_scope.describe()})")
    if want not in token_scope.countries:
        raise ApiError(403, f"country {want} is outside this token's scope "
                            f"({token_scope.describe()})")
    return want


async def bulletins(request: web.Request) -> web.Response:
    api = request.app[API]
    p = parse(BulletinParams, dict(request.query))
    try:
        period = Period.parse(p.period)
    except PeriodError as e:
        raise ParamError([f"period: {e}"]) from None
    scope = bulletin_scope(request[TOKEN].scope, p.scope)
    loop = asyncio.get_running_loop()

    async def query(sql: str, params: dict[str, Any]) -> list[Any]:
        return list(await api.ctx.query(sql, params))

    def read(sql: str, params: dict[str, Any]) -> list[Any]:
        return asyncio.run_coroutine_threadsafe(query(sql, params), loop).result()

    def produce() -> tuple[bytes, str, int]:
        b = make(read, api.ctx.database, scope, period)
        return render(b, p.lang, p.format), b.version.digest, len(b.posts)

    try:
        body, version, posts = await asyncio.to_thread(produce)
    except BulletinError as e:
        raise ApiError(404, str(e)) from None
    request[DETAIL] = f"bulletin {scope} {period.name} {p.lang} {p.format}: data version " \
                      f"{version}"
    resp = web.Response(body=body, headers={
        "Content-Type": MEDIA_TYPES[p.format], VERSION_HEADER: version, ROWS_HEADER: str(posts),
        "Content-Disposition": f'inline; filename="bulletin-{scope}-{period.name}-{p.lang}.'
                               f'{p.format}"',
        "Cache-Control": "no-store"})
    return resp


class EditionsParams(ParamsModel):
    scope: str | None = Field(None, pattern=r"^([A-Za-z]{2}|region)$")
    period: str | None = Field(None, pattern=r"^[0-9]{4}-[0-9]{2}$")


class DownloadParams(ParamsModel):
    scope: str | None = Field(None, pattern=r"^([A-Za-z]{2}|region)$")
    period: str = Field(..., pattern=r"^[0-9]{4}-[0-9]{2}$")
    lang: Literal["en", "ru"] = "ru"
    format: Literal["html", "pdf"] = "pdf"
    version: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")


def edition_scopes(token_scope: Scope) -> list[str] | None:
    """The edition scopes a token may see (None: all, ``region`` included); 403 for a token
    limited to agencies."""
    if token_scope.agencies:
        raise ApiError(403, "a bulletin sums every agency's posts: this token is limited to "
                            f"agencies ({token_scope.describe()})")
    return None if token_scope.all else sorted(token_scope.countries)


async def editions(request: web.Request) -> web.Response:
    api = request.app[API]
    p = parse(EditionsParams, dict(request.query))
    allowed = edition_scopes(request[TOKEN].scope)
    scopes = allowed
    if p.scope is not None:
        scopes = [bulletin_scope(request[TOKEN].scope, p.scope)]
    q = list_query(api.ctx.database, scopes, p.period)
    found = editions_from_rows(await api.ctx.query(q.sql, q.params))
    return web.json_response({"scopes": allowed, "editions": [e.as_json() for e in found]},
                             headers={"Cache-Control": "no-store", ROWS_HEADER: str(len(found))})


async def download(request: web.Request) -> web.Response:
    api = request.app[API]
    p = parse(DownloadParams, dict(request.query))
    scope = bulletin_scope(request[TOKEN].scope, p.scope)
    q = document_query(api.ctx.database, scope, p.period, p.lang, p.format, p.version)
    rows = await api.ctx.query(q.sql, q.params)
    if not rows:
        raise ApiError(404, f"no edition of {scope} {p.period} ({p.lang})"
                            + (f" with data version {p.version}" if p.version else ""))
    version, stored = rows[0]
    body = document_bytes(p.format, str(stored))
    request[DETAIL] = f"edition {scope} {p.period} {p.lang} {p.format}: data version {version}"
    return web.Response(body=body, headers={
        "Content-Type": MEDIA_TYPES[p.format], VERSION_HEADER: str(version), ROWS_HEADER: "1",
        "Content-Disposition": f'attachment; filename="bulletin-{scope}-{p.period}-{p.lang}-'
                               f'{version}.{p.format}"',
        "Cache-Control": "no-store"})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/bulletins", bulletins)
    router.add_get("/api/v1/bulletins/editions", editions)
    router.add_get("/api/v1/bulletins/editions/download", download)
