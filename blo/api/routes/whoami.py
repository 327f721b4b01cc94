"""``/api/v1/whoami``: the token's name, scope and expiry, and the window kinds."""

from __future__ import annotations

from aiohttp import web

from blo.api import shape
from blo.api.deps import API
from blo.api.http import TOKEN, answer


async def whoami(request: web.Request) -> web.Response:
    return answer(shape.whoami(request[TOKEN], request.app[API].ctx.windows), 1)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/whoami", whoami)
