"""The bulletin as a document: its sections, tables (every figure cell keyed by what it
shows) and charts in one language, laid out by :mod:`.html` and :mod:`.pdf` alike. Pure.

A figure cell's ``key`` names the figure (``headline.seizure_cases.current``,
``drug.heroin.kg``, ``post.KZ-KORDAI.refused``): the HTML carries it as ``data-fig`` so a
reader (or a test) can find every figure the document shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from blo.analytics.bulletin import charts
from blo.analytics.bulletin.figures import REGION, Bulletin, DataVersion, Headline, Totals
from blo.analytics.bulletin.strings import (
    Lang,
    drug_name,
    event_type_name,
    kg,
    number,
    percent,
    signed,
    text,
)


@dataclass(frozen=True)
class Cell:
    text: str
    key: str = ""
    """The figure shown ('' for labels)."""
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Chart:
    name: str
    draw: Callable[[], Figure]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    lang: Lang
    title: str
    subtitle: tuple[str, ...]
    sections: tuple[Section, ...]


def _n(v: int, lang: Lang, key: str) -> Cell:
    return Cell(number(v, lang), key, True)


def _kg(v: int, lang: Lang, key: str) -> Cell:
    return Cell(kg(v, lang), key, True)


def _value(h: Headline, v: int, lang: Lang, key: str) -> Cell:
    return _kg(v, lang, key) if h.key == "seizure_ukg" else _n(v, lang, key)


def _delta(h: Headline, which: str, lang: Lang) -> tuple[Cell, Cell]:
    c = h.vs_previous if which == "previous" else h.vs_year_before
    base = f"headline.{_name(h.key)}.{which}"
    absolute = signed(c.absolute / 1_000_000, lang, 1) if h.key == "seizure_ukg" \
        else signed(c.absolute, lang)
    return (Cell(absolute, f"{base}_change", True),
            Cell(percent(c.percent, lang), f"{base}_pct", True))


def _name(key: str) -> str:
    return "seizure_kg" if key == "seizure_ukg" else key


def scope_name(scope: str, lang: Lang) -> str:
    return text("region", lang) if scope == REGION else scope


def version_parts(v: DataVersion, lang: Lang) -> str:
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(v.last_ingested, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") \
        if v.last_ingested else "–"
    return "; ".join([text("v_events", lang, n=number(v.events, lang), at=at),
                      text("v_windows", lang, n=number(v.window_rows, lang)),
                      text("v_alerts", lang, n=number(v.alert_versions, lang)),
                      text("v_posts", lang, n=number(v.posts, lang))])


def document(b: Bulletin, lang: Lang) -> Document:
    """Every section of the bulletin ``b`` in ``lang``."""
    sub = (f"{text('scope', lang)}: {scope_name(b.scope, lang)}",
           (f"{text('period', lang)}: {b.period} ({', '.join(b.months)}) · "
            f"{text('previous', lang)}: {b.previous} · {text('year_before', lang)}: "
            f"{b.year_before}"),
           f"{text('data_version', lang)}: {b.version.digest}")
    return Document(lang, text("title", lang), sub, (
        _headline(b, lang), _drugs(b, lang), _posts(b, lang), _detentions(b, lang),
        *([_reports(b, lang)] if b.reports else []), _alerts(b, lang), _map(b, lang),
        _routes(b, lang), _method(b, lang)))


def _headline(b: Bulletin, lang: Lang) -> Section:
    rows = []
    for h in b.headline:
        k = f"headline.{_name(h.key)}"
        rows.append((Cell(text(_name(h.key), lang)), _value(h, h.current, lang, f"{k}.current"),
                     _value(h, h.previous, lang, f"{k}.previous"), *_delta(h, "previous", lang),
                     _value(h, h.year_before, lang, f"{k}.year_before"),
                     *_delta(h, "year_before", lang)))
    header = (text("indicator", lang), b.period, b.previous, text("change", lang), "%",
              b.year_before, text("change", lang), "%")
    return Section(text("headline", lang), tables=[Table(header, tuple(rows))])


def _drugs(b: Bulletin, lang: Lang) -> Section:
    rows = tuple((Cell(drug_name(d.drug, lang)), _n(d.cases, lang, f"drug.{d.drug}.cases"),
                  _kg(d.ukg, lang, f"drug.{d.drug}.kg")) for d in b.drugs)
    s = Section(text("seizures_by_drug", lang))
    if not rows:
        s.paragraphs.append(text("no_data", lang))
        return s
    s.tables.append(Table((text("drug", lang), text("cases", lang), text("kg", lang)), rows))
    drugs = b.drugs
    s.charts.append(Chart("drugs", lambda: charts.drugs_chart(drugs, lang)))
    return s


_POST_COLUMNS = ("seizure_cases", "seizure_ukg", "persons", "vehicles", "refused")


def _post_cell(t: Totals, col: str, lang: Lang, key: str) -> Cell:
    v = getattr(t, col)
    return _kg(v, lang, key) if col == "seizure_ukg" else _n(v, lang, key)


def _posts(b: Bulletin, lang: Lang) -> Section:
    rows = tuple((Cell(p.name or p.station_id), Cell(p.country),
                  *(_post_cell(p.totals, c, lang, f"post.{p.station_id}.{_name(c)}")
                    for c in _POST_COLUMNS)) for p in b.post_lines)
    header = (text("post", lang), text("country", lang), text("seizure_cases", lang),
              text("seizure_kg", lang), text("persons", lang), text("vehicles", lang),
              text("refused", lang))
    return Section(text("by_post", lang), paragraphs=[text("crossings_refusals", lang)],
                   tables=[Table(header, rows)])


def _detentions(b: Bulletin, lang: Lang) -> Section:
    rows = tuple((Cell(p.name or p.station_id),
                  _n(p.totals.detentions, lang, f"post.{p.station_id}.detentions"),
                  _n(p.totals.detained, lang, f"post.{p.station_id}.detained"))
                 for p in b.post_lines if p.totals.detentions or p.totals.detained)
    s = Section(text("detentions_title", lang), paragraphs=[text("detentions_note", lang)])
    if rows:
        s.tables.append(Table((text("post", lang), text("detentions", lang),
                               text("detained", lang)), rows))
    else:
        s.paragraphs.append(text("none", lang))
    return s


def _reports(b: Bulletin, lang: Lang) -> Section:
    rows = tuple((Cell(r.measure), _n(r.reports, lang, f"report.{r.measure}.reports"),
                  Cell(number(r.value_u / 1_000_000, lang, 1 if r.value_u % 1_000_000 else 0),
                       f"report.{r.measure}.value", True)) for r in b.reports)
    return Section(text("reports", lang), tables=[Table(
        (text("measure", lang), text("cases", lang), text("value", lang)), rows)])


def _alerts(b: Bulletin, lang: Lang) -> Section:
    s = Section(text("alerts", lang), paragraphs=[text("method_alerts", lang)])
    if not b.alerts:
        s.paragraphs.append(text("none", lang))
        return s
    rows = tuple((Cell(a.name(lang)), Cell(text(a.severity, lang) if a.severity in
                                           ("info", "warning", "critical") else a.severity),
                  _n(a.count, lang, f"alert.{a.rule_id}.{a.severity}.count"),
                  _n(a.firing, lang, f"alert.{a.rule_id}.{a.severity}.firing"))
                 for a in b.alerts)
    s.tables.append(Table((text("rule", lang), text("severity", lang), text("alerts_n", lang),
                           text("still_firing", lang)), rows))
    return s


def _map(b: Bulletin, lang: Lang) -> Section:
    posts, lines = b.posts, b.post_lines
    return Section(text("map", lang),
                   charts=[Chart("map", lambda: charts.map_chart(posts, lines, lang))])


def _routes(b: Bulletin, lang: Lang) -> Section:
    s = Section(text("routes", lang))
    if not b.flows:
        s.paragraphs.append(text("routes_none", lang))
        return s
    flows = b.flows
    s.charts.append(Chart("routes", lambda: charts.routes_chart(flows, lang)))
    rows = []
    for i, f in enumerate(b.flows[:15]):
        nodes = charts.route_nodes(f, lang)
        rows.append((*(Cell(n) for n in nodes), Cell(drug_name(f.drug or "", lang)),
                     Cell(number(f.kg, lang, 1), f"route.{i}.kg", True),
                     _n(int(f.cases), lang, f"route.{i}.cases")))
    s.tables.append(Table((text("producing", lang), text("departure", lang),
                           text("transit", lang), text("destination", lang),
                           text("drug", lang), text("kg", lang), text("cases", lang)),
                          tuple(rows)))
    return s


def _method(b: Bulletin, lang: Lang) -> Section:
    m = b.method
    s = Section(text("method", lang), paragraphs=[text("method_sources", lang)])
    if m.events:
        s.paragraphs.append(text("method_events", lang) + ": " + "; ".join(
            f"{event_type_name(t, lang)} {number(n, lang)}" for t, n in m.events))
    s.paragraphs.append(text("method_provisional", lang, months=", ".join(m.provisional_months))
                        if m.provisional_months else text("method_final", lang))
    s.paragraphs.append(text("method_corrections", lang, revised=number(m.revised, lang),
                             voided=number(m.voided, lang)))
    s.paragraphs.append(text("method_late", lang, late=number(m.late, lang)))
    s.paragraphs.append(text("method_version", lang, version=b.version.digest,
                             parts=version_parts(b.version, lang)))
    return s


def figure_cells(doc: Document) -> dict[str, str]:
    """Every figure cell of ``doc``: key → the text shown."""
    out: dict[str, Any] = {}
    for s in doc.sections:
        for t in s.tables:
            for row in t.rows:
                for c in row:
                    if c.key:
                        out[c.key] = c.text
    return out
