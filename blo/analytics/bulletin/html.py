"""A bulletin as one self-contained HTML page: inline CSS, charts as inline SVG, every text
escaped, every figure cell marked ``data-fig`` (:mod:`.document`). No script, no link to
anything outside the page."""

from __future__ import annotations

import re
from html import escape

from blo.analytics.bulletin.charts import render
from blo.analytics.bulletin.document import Document, Table

CSS = """
body{font-family:"DejaVu Sans",Verdana,sans-serif;color:#1d2b36;max-width:60rem;margin:2rem auto;
padding:0 1rem;font-size:14px;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #cfd8df;
padding-bottom:.2rem;margin-top:2rem}.sub{color:#6b7b88;margin:.1rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:13px}
th,td{padding:.2rem .5rem;border-bottom:1px solid #e3e8ec;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f3f6f8}.chart svg{max-width:100%;height:auto}
@media print{body{margin:0}h2{break-after:avoid}table,.chart{break-inside:avoid}}
"""


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    body = []
    for row in t.rows:
        cells = []
        for c in row:
            attrs = (' class="n"' if c.numeric else "") + \
                (f' data-fig="{escape(c.key)}"' if c.key else "")
            cells.append(f"<td{attrs}>{escape(c.text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


def _svg(data: bytes) -> str:
    """The chart's ``<svg>`` element (no XML declaration, doctype or RDF metadata)."""
    text = data.decode("utf-8")
    return _METADATA.sub("", text[text.index("<svg"):])


def html_document(doc: Document) -> str:
    """The page, as text."""
    out = [f'<!DOCTYPE html><html lang="{doc.lang}"><head><meta charset="utf-8">',
           f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{escape(doc.title)}</h1>"]
    out += [f'<p class="sub">{escape(s)}</p>' for s in doc.subtitle]
    for s in doc.sections:
        out.append(f"<section><h2>{escape(s.title)}</h2>")
        out += [f"<p>{escape(p)}</p>" for p in s.paragraphs]
        out += [_table(t) for t in s.tables]
        out += [f'<div class="chart" data-chart="{escape(c.name)}">'
                f"{_svg(render(c.draw(), 'svg'))}</div>" for c in s.charts]
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)
