"""Audit rows for what reaches the API port but not the API's guard.

The guard (``blo.api.app``) records every ``/api/`` call. Everything else that reaches the
port — the dashboard's files, ``/healthz``, unknown paths, and requests aiohttp's HTTP
parser refuses before any handler or middleware runs (a request line or a header over
8190 bytes, too many headers, bytes that are not HTTP) — is recorded by the access logger
that :func:`access_log_class` makes, passed to ``AppRunner(access_log_class=...)`` by
``blo.api.serve.start_site``. aiohttp calls the access logger for every response it sends,
the parser's refusals included (``RequestHandler.finish_response``).

No token secret is ever recorded: ``access_token`` is dropped from query strings, and any
text taken from a refused request (aiohttp quotes its first 100 bytes) has ``blo_…``
secrets, ``access_token=`` values and ``Authorization`` credentials removed.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode

from aiohttp import web_protocol
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

log = logging.getLogger("blo.api.http")

PATH_MAX, QUERY_MAX, DETAIL_MAX = 500, 2000, 500
_SECRET = re.compile(r"blo_[A-Za-z0-9_\-]*")
_ACCESS_TOKEN = re.compile(r"(access_token=)[^&\s'\"]*", re.IGNORECASE)
_CREDENTIALS = re.compile(r"\b(bearer|basic|digest|token|negotiate)\s+\S+", re.IGNORECASE)
_EXCERPT = re.compile(r"b(['\"])(.*)\1", re.DOTALL)
_TOO_LONG = re.compile(r"^Got more than (\d+) bytes when reading")

# records one response aiohttp sent (request, response, seconds taken)
Record = Callable[[BaseRequest, StreamResponse, float], None]


def redact(text: str) -> str:
    """``text`` without anything that may be a token or a credential."""
    text = _ACCESS_TOKEN.sub(r"\1<removed>", text)
    text = _CREDENTIALS.sub(r"\1 <removed>", text)
    return _SECRET.sub("blo_<removed>", text)


def query_text(pairs: Iterable[tuple[str, str]]) -> str:
    """A query string for the audit log: without ``access_token``, at most QUERY_MAX."""
    return redact(urlencode([(k, v) for k, v in pairs if k.lower() != "access_token"])
                  )[:QUERY_MAX]


def is_parser_refusal(request: BaseRequest) -> bool:
    """aiohttp answered this request itself: its parser refused what was sent."""
    return getattr(request, "_message", None) is web_protocol.ERROR


def refusal(message: str) -> tuple[str, str, str]:
    """(path, query, detail) of a request refused by the HTTP parser, from the message of
    its answer. A request line that was too long starts the excerpt aiohttp quotes: its
    path and query are kept (truncated, without secrets). A header's excerpt is never
    kept: it may be a credential."""
    too_long = _TOO_LONG.match(message)
    if too_long is None:
        return "", "", redact("refused by the HTTP layer: " + message)[:DETAIL_MAX]
    excerpt = ""
    m = _EXCERPT.search(message)
    if m:
        try:
            excerpt = ast.literal_eval("b" + m.group(1) + m.group(2) + m.group(1)).decode(
                "utf-8", "replace")
        except (ValueError, SyntaxError):
            excerpt = ""
    limit = too_long.group(1)
    if excerpt.startswith("/"):
        path, _, query = excerpt.removesuffix("...").partition("?")
        return (redact(path)[:PATH_MAX], query_text(parse_qsl(query, keep_blank_values=True)),
                f"refused by the HTTP layer: request line longer than {limit} bytes")
    return "", "", f"refused by the HTTP layer: a header longer than {limit} bytes"


def access_log_class(record: Record) -> type[AbstractAccessLogger]:
    """An access logger class that hands each response to ``record`` (which must skip
    what the guard recorded already). A failure to record is logged, never raised: it
    would cut the connection."""

    class AuditAccessLogger(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
            try:
                record(request, response, time)
            except Exception:  # never break serving for the audit
                log.exception("could not audit a request")

        @property
        def enabled(self) -> bool:
            return True

    return AuditAccessLogger


class ParserTracebacks(logging.Filter):
    """Drops aiohttp's "Error handling request" record with a traceback for a request its
    parser refused: that traceback quotes the request's first bytes (a token in a query
    string or an Authorization header). The refusal is audited and logged in one line,
    without secrets, by the access logger instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            return False
        # blo.redact's record factory renders the traceback into exc_text and clears
        # exc_info before any filter runs
        return not (record.exc_text and "aiohttp.http_exceptions." in record.exc_text
                    and record.getMessage().startswith("Error handling request"))


def http_logger() -> logging.Logger:
    """The logger aiohttp's request handler writes to (``AppRunner(logger=...)``)."""
    if not any(isinstance(f, ParserTracebacks) for f in log.filters):
        log.addFilter(ParserTracebacks())
    return log
