"""Bulletins (issue 16): a short periodic document per scope — headline figures with
change against the previous period and the same period a year before, seizures by drug
and by post, crossings and refusals, detentions (counts only), alerts, a map of the posts,
a route chart and a method note stating the data version it was cut from.

* :mod:`.figures` — the SQL over the readers' views and the shaping into a
  :class:`~.figures.Bulletin` (pure; every number is there);
* :mod:`.document` — the sections and tables in one language (pure);
* :mod:`.charts` — matplotlib charts; :mod:`.html` and :mod:`.pdf` — the two renderings;
* :mod:`.strings` — every string in English and Russian, numbers per language.

:func:`make` reads a bulletin through any ``read(sql, params) -> rows``; :func:`render`
turns it into bytes. Used by ``blo report bulletin`` and ``GET /api/v1/bulletins``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from blo.analytics.bulletin.figures import (
    REGION,
    Bulletin,
    BulletinError,
    Reader,
    RoutesHook,
    build,
)
from blo.analytics.bulletin.strings import LANGS, Lang
from blo.analytics.periods import Period
from blo.analytics.routes import RouteFlow, flows_from_rows, routes_sql
from sinks.read_model import Query

Format = Literal["html", "pdf", "json"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "json")
MEDIA_TYPES: dict[str, str] = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
                               "json": "application/json"}


def routes_hook() -> RoutesHook:
    """Route flows through :mod:`blo.analytics.routes` (the routes view's own SQL and
    shaping) over the period's station-local months."""

    def hook(db: str, stations: Sequence[str], period: Period
             ) -> tuple[Query, Callable[[Sequence[Sequence[Any]]], Sequence[RouteFlow]]]:
        t0, t1 = period.utc_bounds()
        sql, params = routes_sql(db, tuple(stations), t0, t1)

        def shape(rows: Sequence[Sequence[Any]]) -> list[RouteFlow]:
            return flows_from_rows(rows, months=period.months())
        return Query(sql, params), shape

    return hook


def make(read: Reader, db: str, scope: str, period: Period) -> Bulletin:
    """The bulletin of ``scope`` (``region`` or a country code) for ``period``."""
    return build(read, db, scope, period, routes_hook())


_RENDERING = threading.Lock()
"""One rendering at a time in a process: the charts set matplotlib's global settings for
their drawing (``rc_context``), so two threads drawing at once (the API renders in worker
threads) could give one the other's settings and different bytes. Rendering is CPU-bound
Python: serialising it costs no throughput."""


def render(b: Bulletin, lang: Lang, fmt: Format) -> bytes:
    """``b`` as an HTML page, a PDF, or its figures as JSON (UTF-8)."""
    if fmt == "json":
        return json.dumps(b.as_json(), ensure_ascii=False, sort_keys=True, indent=1).encode()
    from blo.analytics.bulletin.document import document

    with _RENDERING:
        doc = document(b, lang)
        if fmt == "html":
            from blo.analytics.bulletin.html import html_document

            return html_document(doc).encode()
        from blo.analytics.bulletin.pdf import pdf_document

        return pdf_document(doc)


__all__ = ["FORMATS", "LANGS", "MEDIA_TYPES", "REGION", "Bulletin", "BulletinError", "Format",
           "Lang", "make", "render", "routes_hook"]
