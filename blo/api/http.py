"""The HTTP side every handler shares: errors as answers, the token of a request, JSON
answers with their row count (for the audit), and where the token is read from."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from blo.api.tokens import Token

TOKEN = web.RequestKey("token", Token)  # set by the guard once the token is accepted
AUDITED = web.RequestKey("blo_audited", bool)  # the guard records this request
DETAIL = web.RequestKey("blo_detail", str)  # why a handler ended the call (for the audit)
LIVE_PATH = "/api/v1/live"
PUBLIC = ("/api/v1/openapi.json", "/healthz")  # no token needed
ROWS_HEADER = "X-BLO-Rows"  # how many rows an answer carries (the audit's `rows`)


class ApiError(Exception):
    """Ends a call with ``status`` and ``{"error": message, "problems": [...]}``."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems or []


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status,
                        content_type="application/json")


def answer(body: dict[str, Any], n_rows: int) -> web.Response:
    """A 200 answer; ``n_rows`` is what the audit records as its rows."""
    resp = json_response(body)
    resp.headers[ROWS_HEADER] = str(n_rows)
    return resp


def bearer(request: web.Request) -> tuple[str, str]:
    """(the token secret sent, why it is refused before any lookup or '')."""
    if "access_token" in request.query and request.path != LIVE_PATH:
        # a secret in a URL ends up in proxies' and browsers' histories: only EventSource,
        # which cannot send headers, may do it
        return "", (f"access_token is accepted only on {LIVE_PATH} (for EventSource); send "
                    "the token as 'Authorization: Bearer <token>'")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), ""
    return request.query.get("access_token", "") if request.path == LIVE_PATH else "", ""
