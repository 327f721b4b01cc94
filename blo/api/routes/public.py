"""What needs no token: ``/healthz`` (alive) and ``/api/v1/openapi.json`` (the spec)."""

from __future__ import annotations

from aiohttp import web

from blo.api.deps import API
from blo.api.http import json_response
from blo.api.openapi import openapi_document


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(list(request.app[API].ctx.windows)))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/healthz", healthz)
    router.add_get("/api/v1/openapi.json", openapi)
