"""The guard in front of every ``/api/`` handler, and the audit of what never reaches it.

:func:`guard` (the app's middleware): the token (:func:`blo.api.http.bearer`, then
:meth:`blo.api.tokens.TokenStore.check`; 401 without a live one), the handler, errors as
answers (:class:`~blo.api.http.ApiError` as given, a bad parameter 400, ClickHouse not
answering 503, a bug 500 — logged, never shown), and one audit row per call, refused ones
too. :func:`unguarded_recorder` makes the app's :data:`AUDIT_RECORD`: the access logger of
``blo.api.serve.start_site`` hands it every response, and it records those the guard did
not (the dashboard's files, unknown paths, requests aiohttp's parser refused).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from blo.api.audit import PATH_MAX, Record, is_parser_refusal, query_text, redact, refusal
from blo.api.deps import API
from blo.api.http import (
    AUDITED,
    DETAIL,
    PUBLIC,
    ROWS_HEADER,
    TOKEN,
    ApiError,
    bearer,
    json_response,
)
from blo.api.params import ParamError
from blo.api.tokens import NO_TOKEN, Token
from sinks.base import SinkUnavailable

log = logging.getLogger("blo.api")

AUDIT_RECORD: web.AppKey[Record] = web.AppKey("blo_audit_record")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if not path.startswith("/api/") or path in PUBLIC:
        return await handler(request)
    api = request.app[API]
    started = time.monotonic()
    request[AUDITED] = True
    token: Token | None = None
    status, rows, detail = 500, 0, ""
    try:
        secret, detail = bearer(request)
        if detail:
            raise ApiError(401, detail)
        verdict = await api.tokens.check(secret) if secret else None
        token = verdict.token if verdict else None
        if token is None:
            detail = verdict.error if verdict else NO_TOKEN
            raise ApiError(401, detail)
        request[TOKEN] = token
        resp = await handler(request)
        status = resp.status
        rows = int(resp.headers.get(ROWS_HEADER, "0"))
        return resp
    except ApiError as e:
        status = e.status
        body: dict[str, object] = {"error": e.message}
        if e.problems:
            body["problems"] = e.problems
        return json_response(body, e.status)
    except ParamError as e:
        status = 400
        return json_response({"error": "invalid parameters", "problems": e.problems}, 400)
    except web.HTTPException as e:
        status = e.status
        raise
    except SinkUnavailable as e:  # paused or down (ctx.query gives up in time)
        status = 503
        log.warning("API call %s %s: ClickHouse is not answering (%s)", request.method,
                    path, e)
        return json_response({"error": f"ClickHouse is not answering ({e}); try again "
                                       "shortly"}, 503)
    except Exception:  # a bug: logged here, never shown to the caller
        log.exception("API call %s %s failed", request.method, path)
        status = 500
        return json_response({"error": "internal error (logged on the server)"}, 500)
    finally:
        api.audit.record((api.ctx.clock().replace(microsecond=0),
                          token.token_id if token else "", token.name if token else "",
                          request.method, redact(path)[:PATH_MAX],
                          query_text(request.query.items()), status, rows,
                          round((time.monotonic() - started) * 1000, 3),
                          request.remote or "", request.get(DETAIL, detail)[:500]))


def unguarded_recorder(app: web.Application) -> Record:
    """The :data:`AUDIT_RECORD` of ``app``: what reached the port but not the guard
    (see blo.api.audit)."""
    api = app[API]

    def record_unguarded(request: web.BaseRequest, response: web.StreamResponse,
                         seconds: float) -> None:
        if request.get(AUDITED):
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
        api.audit.record((api.ctx.clock().replace(microsecond=0), "", "", method, path, q,
                          response.status, 0, round(seconds * 1000, 3),
                          request.remote or "", detail))

    return record_unguarded
