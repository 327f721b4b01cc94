"""``/api/v1/export/stats`` and ``/api/v1/export/events``: what ``/api/v1/stats`` answers
and the events the token sees, as CSV, XLSX or Parquet files (docs/exports.md).

Scoped exactly as the statistics: the same parameters, the same refusals (403 for a
station, country or border outside the token's scope), the visible posts' rows and, for
statistics, the paired foreign posts in aggregate only; events are those of visible posts
only (never of paired posts). The answer is streamed (chunked): an events export is read a
page at a time (:class:`blo.analytics.exports.EventPager`) and each page is written out
before the next is read. An export larger than its limit is refused (413) before anything
is sent. The guard's audit row of the call carries the rows exported and, in ``detail``,
the kind, format, language and pages (its ``query`` holds the filters).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import Field, field_validator, model_validator

from blo.analytics.columns import EVENT_COLUMNS, Column, Lang, stats_columns
from blo.analytics.exports import (
    MEDIA_TYPES,
    EventPager,
    EventQuery,
    Format,
    Row,
    event_plan_sql,
    filename,
    max_rows,
    stats_rows,
    too_large_message,
    writer,
)
from blo.api.deps import API
from blo.api.http import DETAIL, ROWS_HEADER, TOKEN, ApiError
from blo.api.params import Filters, ParamError, StatsParams, _utc, parse
from blo.api.queries import stats_sql
from blo.api.routes.statistics import ranged
from blo.api.scope import filter_refusal, visible_posts
from blo.api.shape import paired_groups

log = logging.getLogger("blo.api")


class StatsExportParams(StatsParams):
    format: Format = "csv"
    lang: Lang = "en"


class EventsExportParams(Filters):
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    format: Format = "csv"
    lang: Lang = "en"

    _t = field_validator("from_", "to", mode="before")(_utc)

    @model_validator(mode="after")
    def _order(self) -> EventsExportParams:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self


Produce = Callable[[Callable[[Sequence[Row]], Awaitable[None]]], Awaitable[int]]


async def _stream(request: web.Request, kind: str, fmt: str, lang: Lang, t0: datetime,
                  t1: datetime, columns: Sequence[Column], produce: Produce
                  ) -> web.StreamResponse:
    """Send the file: headers at once, then each chunk ``produce`` hands over as it comes.
    A failure after the headers went out cuts the connection (the client sees an
    incomplete transfer, never a file that looks whole) and is in the audit's detail."""
    w = writer(fmt, columns, lang, f"blo {kind} {t0.isoformat()} – {t1.isoformat()}")
    resp = web.StreamResponse(headers={
        "Content-Type": MEDIA_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="{filename(kind, t0, t1, fmt)}"',
        "Cache-Control": "no-store"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    async def send(rows: Sequence[Row]) -> None:
        data = await asyncio.to_thread(w.write, rows)  # formatting: off the event loop
        if data:
            await resp.write(data)

    try:
        pages = await produce(send)
        await resp.write(await asyncio.to_thread(w.close))
        await resp.write_eof()
    except Exception as e:
        log.exception("export %s %s failed after %d rows", kind, fmt, w.rows)
        with contextlib.suppress(Exception):
            w.close()  # its temporary files
        request[DETAIL] = f"export {kind} {fmt} {lang} interrupted after {w.rows} rows: {e}"
        if request.transport is not None:
            request.transport.close()
        resp.headers[ROWS_HEADER] = str(w.rows)
        return resp
    resp.headers[ROWS_HEADER] = str(w.rows)
    request[DETAIL] = f"export {kind} {fmt} {lang}: {w.rows} rows, {pages} pages"
    return resp


async def export_stats(request: web.Request) -> web.StreamResponse:
    r = await ranged(request, StatsExportParams)
    p, ctx = r.p, r.api.ctx
    cap = max_rows(p.format)
    sql, params = stats_sql(ctx.database, p.window, r.t0, r.t1, r.v.station_ids(), p,
                            p.group_by, cap + 1)
    rows = stats_rows("own", p.group_by, p.window, r.t0, r.t1, await ctx.query(sql, params))
    if r.v.paired and not p.station:
        # the foreign side of the token's BLO pairs: aggregated, never per station, with
        # the groups of the own rows (a station column stays empty)
        groups = paired_groups(p.group_by)
        pf = Filters.model_validate({"event_type": p.event_type, "drug": p.drug})
        sql, params = stats_sql(ctx.database, p.window, r.t0, r.t1, r.v.paired_ids(), pf,
                                groups, cap + 1)
        for row in stats_rows("paired", groups, p.window, r.t0, r.t1,
                              await ctx.query(sql, params)):
            by = dict(zip(groups, row[1:1 + len(groups)], strict=True))
            rows.append(("paired", *(by.get(g, "") for g in p.group_by),
                         *row[1 + len(groups):]))
    if len(rows) > cap:
        raise ApiError(413, too_large_message(p.format, len(rows)))

    async def produce(send: Callable[[Sequence[Row]], Awaitable[None]]) -> int:
        await send(rows)
        return 1

    return await _stream(request, "stats", p.format, p.lang, r.t0, r.t1,
                         stats_columns(p.group_by), produce)


async def export_events(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    p = parse(EventsExportParams, dict(request.query))
    scope = request[TOKEN].scope
    reg, v = await api.sees(scope)
    refused = filter_refusal(scope, v, p.station, p.country, p.border)
    if refused:
        raise ApiError(403, refused)
    t1 = p.to or api.ctx.clock()
    t0 = p.from_ or t1 - timedelta(days=1)
    if t1 - t0 > timedelta(days=api.ctx.max_range_days):
        raise ParamError([f"from/to: at most {api.ctx.max_range_days} days per query"])
    stations = visible_posts(v, reg.infos, p.station, p.country, p.border) or ("",)
    q = EventQuery(api.ctx.database, stations, t0, t1, p)
    pager = EventPager(q, await api.ctx.query(*event_plan_sql(q)))
    cap = max_rows(p.format)
    if pager.stored > cap:
        raise ApiError(413, too_large_message(p.format, pager.stored))

    async def produce(send: Callable[[Sequence[Row]], Awaitable[None]]) -> int:
        while (next_query := pager.next()) is not None:
            raw = await api.ctx.query(*next_query)
            rows = await asyncio.to_thread(pager.feed, raw)
            if rows:
                await send(rows)
        return pager.pages

    return await _stream(request, "events", p.format, p.lang, t0, t1, EVENT_COLUMNS,
                         produce)


def add_routes(router: web.UrlDispatcher) -> None:
    # no HEAD: it would read the whole export to send nothing
    router.add_get("/api/v1/export/stats", export_stats, allow_head=False)
    router.add_get("/api/v1/export/events", export_events, allow_head=False)
