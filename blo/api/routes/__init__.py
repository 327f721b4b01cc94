"""The API's endpoints, one module per family; each has ``add_routes(router)``.

A handler is thin: parse the request (:mod:`blo.api.params`), check it against the token's
scope (:mod:`blo.api.scope`), build the SQL (:mod:`blo.api.queries`), run it through
``request.app[API].ctx.query`` (:mod:`blo.api.deps`), shape the answer
(:mod:`blo.api.shape`). Errors are raised (``ApiError``, ``ParamError``) and answered by the
guard (:mod:`blo.api.guard`), which also audits every call.
"""

from __future__ import annotations

from aiohttp import web

from blo.api.routes import (
    alerts,
    analysis,
    bulletins,
    events,
    exports,
    feed,
    live,
    posts,
    public,
    static,
    stations,
    statistics,
    whoami,
)


def add_all(router: web.UrlDispatcher) -> None:
    for module in (static, public, whoami, statistics, stations, alerts, events, live,
                   feed, posts, analysis, bulletins, exports):
        module.add_routes(router)
