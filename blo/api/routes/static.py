"""The dashboard's files: ``/`` and ``/static/<name>``, shipped in blo/api/static (no CDN,
works offline). No token: the dashboard asks for one and sends it to the API."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

_CONTENT_TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
                  ".json": "application/json", ".svg": "image/svg+xml",
                  ".woff2": "font/woff2", ".png": "image/png"}


def static_file(name: str) -> web.StreamResponse:
    """The file ``name`` of blo/api/static or of its ``js/`` folder (the dashboard's ES
    modules; no other subfolders, no hidden files), or 404."""
    base = name.removeprefix("js/")
    if "/" in base or base.startswith("."):
        raise web.HTTPNotFound()
    f = resources.files("blo.api") / "static" / name
    if not f.is_file():
        raise web.HTTPNotFound()
    ext = name[name.rfind("."):]
    return web.Response(body=f.read_bytes(), content_type=_CONTENT_TYPES.get(
        ext, "application/octet-stream"), headers={"Cache-Control": "no-cache"})


async def index(request: web.Request) -> web.StreamResponse:
    return static_file("index.html")


async def static(request: web.Request) -> web.StreamResponse:
    return static_file(request.match_info["name"])


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", index)
    router.add_get("/static/{name:(?:js/)?[A-Za-z0-9_.-]+}", static)
