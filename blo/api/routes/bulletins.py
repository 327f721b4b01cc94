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
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from blo.analytics.bulletin import MEDIA_TYPES, REGION, BulletinError, make, render
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


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/bulletins", bulletins)
