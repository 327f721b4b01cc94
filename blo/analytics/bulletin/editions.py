"""Bulletin editions: the bulletins kept in ClickHouse (``bulletin_editions``,
:data:`sinks.tables.BULLETIN_EDITIONS`, migration 0011) — what the schedule
(:mod:`blo.analytics.bulletin.schedule`) and ``blo report editions make`` store, and the
dashboard lists for download (docs/bulletins.md, "Scheduled bulletins").

An edition is the bulletin of one scope (``region`` or a country), one month and one
language, cut from one data version: its PDF (base64) and HTML page. The data version is
part of the table's key, so a later correction of the month (a new data version) adds an
edition and the first one stays listed.

When is a month closed (:func:`closed_months`)? Every post of the scope must be done with
it, by the ``status`` of its ``month`` window rows (readers' view): a post with rows of
the month is done when none of them is ``provisional`` (``final`` or ``corrected``); a
post with no row of the month is done when a later month of it is closed (its watermark
passed the month), or when it has sent nothing since two months before (a silent post does
not hold its scope's bulletins back; what it sends later is a correction: a new edition).
Posts that never sent anything do not count; a month no post has a row of is not a
bulletin's month.

Pure but for :func:`make_editions`, which reads through any :data:`Reader` and renders
(CPU: matplotlib and reportlab; callers run it off the event loop).
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blo.analytics.bulletin import make, render
from blo.analytics.bulletin.figures import (
    MONTH_WINDOW,
    REGION,
    Bulletin,
    Post,
    Reader,
    posts_from_rows,
    registry_query,
)
from blo.analytics.periods import Period
from sinks.base import Row
from sinks.read_model import Query, latest
from sinks.tables import BULLETIN_EDITIONS, WINDOW_STATS

SCHEDULED_LANGS: tuple[str, ...] = ("ru", "en")
"""The languages the schedule makes (Russian first: the region's working language)."""
LIST_COLUMNS = ("scope", "period", "lang", "data_version", "made_at", "made_by", "posts",
                "events", "last_ingested", "pdf_size", "html_size")
"""What a listing shows (never the documents themselves)."""


# -- which months are closed --------------------------------------------------------------
def month_status_query(db: str) -> Query:
    """Per (post, local month): the ``month`` window rows (readers' view, latest version of
    each key) and how many of them are still provisional."""
    src = latest(db, WINDOW_STATS, ("station_id", "window_label", "status"),
                 "window_kind = %(kind)s")
    sql = ("SELECT station_id, window_label, sum(status = 'provisional'), count() "
           f"FROM {src} GROUP BY station_id, window_label "
           "ORDER BY station_id, window_label")
    return Query(sql, {"kind": MONTH_WINDOW})


MonthStatus = dict[str, dict[str, tuple[int, int]]]
"""station id → month label → (provisional rows, rows)."""


def month_status(rows: Iterable[Sequence[Any]]) -> MonthStatus:
    out: MonthStatus = defaultdict(dict)
    for sid, label, provisional, n in rows:
        if label:
            out[str(sid)][str(label)] = (int(provisional), int(n))
    return dict(out)


def _month_index(label: str) -> int:
    y, m = label.split("-")
    return int(y) * 12 + int(m) - 1


def post_done(months: dict[str, tuple[int, int]], label: str) -> bool:
    """Whether a post (its months' status) is done with month ``label`` (module doc)."""
    if label in months:
        return months[label][0] == 0
    later = [m for m in months if m > label]
    if any(months[m][0] == 0 for m in later):
        return True
    if later:
        return False
    newest = max(months, default=None)
    return newest is not None and _month_index(newest) <= _month_index(label) - 2


def scope_stations(posts: Sequence[Post], scope: str) -> tuple[str, ...]:
    return tuple(p.station_id for p in posts if scope == REGION or p.country == scope)


def scopes_of(posts: Sequence[Post]) -> tuple[str, ...]:
    """``region`` and every country that has posts, by code."""
    return (REGION, *sorted({p.country for p in posts}))


def closed_months(status: MonthStatus, stations: Sequence[str], watch: int) -> tuple[str, ...]:
    """Of the ``watch`` newest months any of ``stations`` has rows of, those every post is
    done with (:func:`post_done`), oldest first."""
    active = {s: status[s] for s in stations if status.get(s)}
    labels = sorted({m for months in active.values() for m in months})[-watch:]
    return tuple(m for m in labels if all(post_done(months, m) for months in active.values()))


# -- the editions stored ------------------------------------------------------------------
@dataclass(frozen=True)
class Edition:
    scope: str
    period: str
    lang: str
    data_version: str
    made_at: datetime
    made_by: str
    posts: int
    events: int
    last_ingested: datetime
    pdf_size: int
    html_size: int

    def as_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "period": self.period, "lang": self.lang,
                "data_version": self.data_version, "made_at": _iso(self.made_at),
                "made_by": self.made_by, "posts": self.posts, "events": self.events,
                "last_ingested": _iso(self.last_ingested), "pdf_size": self.pdf_size,
                "html_size": self.html_size}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, int | float):
        return datetime.fromtimestamp(v, UTC)
    t = datetime.fromisoformat(str(v))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def list_query(db: str, scopes: Sequence[str] | None = None, period: str | None = None
               ) -> Query:
    """The editions (readers' view; without their documents) of ``scopes`` (None: all) and
    ``period`` (None: all), newest month first, then scope, language and when made."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    if scopes is not None:
        conds.append("scope IN %(scopes)s")
        params["scopes"] = tuple(scopes) or ("",)
    if period is not None:
        conds.append("period = %(period)s")
        params["period"] = period
    src = latest(db, BULLETIN_EDITIONS, LIST_COLUMNS, " AND ".join(conds))
    sql = (f"SELECT {', '.join(LIST_COLUMNS)} FROM {src} "
           "ORDER BY period DESC, scope = 'region' DESC, scope, lang, made_at, data_version")
    return Query(sql, params)


def editions_from_rows(rows: Iterable[Sequence[Any]]) -> list[Edition]:
    return [Edition(str(r[0]), str(r[1]), str(r[2]), str(r[3]), _utc(r[4]), str(r[5]),
                    int(r[6]), int(r[7]), _utc(r[8]), int(r[9]), int(r[10])) for r in rows]


def document_query(db: str, scope: str, period: str, lang: str, fmt: str,
                   version: str | None = None) -> Query:
    """One edition's document (``pdf``: base64; ``html``) and data version: of
    ``version``, or the latest made of the scope, month and language (of two made in the
    same second, the one that read the later ingestion)."""
    col = {"pdf": "pdf", "html": "html"}[fmt]
    conds = "scope = %(scope)s AND period = %(period)s AND lang = %(lang)s"
    params: dict[str, Any] = {"scope": scope, "period": period, "lang": lang}
    if version is not None:
        conds += " AND data_version = %(version)s"
        params["version"] = version
    src = latest(db, BULLETIN_EDITIONS, ("scope", "period", "lang", "data_version", "made_at",
                                          "last_ingested", col), conds)
    sql = (f"SELECT data_version, {col} FROM {src} "
           "ORDER BY made_at DESC, last_ingested DESC, data_version DESC LIMIT 1")
    return Query(sql, params)


def document_bytes(fmt: str, stored: str) -> bytes:
    """A document as stored (:func:`document_query`) → its bytes."""
    return base64.b64decode(stored) if fmt == "pdf" else stored.encode()


def made_keys(rows: Iterable[Sequence[Any]]) -> set[tuple[str, str, str, str]]:
    """(scope, period, lang, data version) of listed editions (rows of :func:`list_query`)."""
    return {(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows}


# -- making them --------------------------------------------------------------------------
def edition_row(b: Bulletin, lang: str, pdf: bytes, html: bytes, made_at: datetime,
                made_by: str) -> Row:
    """A row of :data:`sinks.tables.BULLETIN_EDITIONS`."""
    return (b.scope, b.period, lang, b.version.digest, made_at.replace(microsecond=0),
            made_by, len(b.posts), b.version.events,
            datetime.fromtimestamp(b.version.last_ingested, UTC), len(pdf), len(html),
            base64.b64encode(pdf).decode("ascii"), html.decode())


@dataclass(frozen=True)
class Due:
    """A bulletin whose editions in ``langs`` are not stored for its data version."""

    bulletin: Bulletin
    langs: tuple[str, ...]


def due_editions(read: Reader, db: str, watch: int, langs: Sequence[str] = SCHEDULED_LANGS,
                 scopes: Sequence[str] | None = None) -> list[Due]:
    """The bulletins to make now: of every scope (``scopes``, default region and each
    country with posts), each closed month among its ``watch`` newest
    (:func:`closed_months`), read (figures and data version) — those with a language whose
    edition of that data version is not stored."""
    posts = posts_from_rows(read(*registry_query(db)))
    status = month_status(read(*month_status_query(db)))
    stored = made_keys(read(*list_query(db)))
    out = []
    for scope in scopes or scopes_of(posts):
        for label in closed_months(status, scope_stations(posts, scope), watch):
            b = make(read, db, scope, Period.parse(label))
            missing = tuple(lg for lg in langs
                            if (scope, label, lg, b.version.digest) not in stored)
            if missing:
                out.append(Due(b, missing))
    return out


def render_edition(b: Bulletin, lang: str, made_at: datetime, made_by: str,
                   clock: Callable[[], float] = time.perf_counter) -> tuple[Row, float]:
    """The edition row of ``b`` in ``lang`` (PDF and HTML rendered now) and the seconds the
    rendering took (CPU: run it off the event loop)."""
    t0 = clock()
    pdf = render(b, lang, "pdf")  # type: ignore[arg-type]
    html = render(b, lang, "html")  # type: ignore[arg-type]
    return edition_row(b, lang, pdf, html, made_at, made_by), clock() - t0


def make_editions(read: Reader, db: str, watch: int, made_by: str,
                  langs: Sequence[str] = SCHEDULED_LANGS, scopes: Sequence[str] | None = None,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Row]:
    """Every edition due (:func:`due_editions`), rendered (synchronous: the CLI's)."""
    rows = []
    for due in due_editions(read, db, watch, langs, scopes):
        for lang in due.langs:
            rows.append(render_edition(due.bulletin, lang, now(), made_by)[0])
    return rows
