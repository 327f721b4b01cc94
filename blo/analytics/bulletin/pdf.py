"""A bulletin as a PDF (reportlab): text in DejaVu Sans, registered from the TrueType files
matplotlib bundles, so Latin and Cyrillic are embedded and extractable; charts embedded as
PNG images. ``invariant`` (the default) makes the file byte-stable: no creation date, a
fixed document id."""

from __future__ import annotations

import io
import os
from functools import cache
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as RLTable

from blo.analytics.bulletin.charts import render
from blo.analytics.bulletin.document import Document, Table

REGULAR, BOLD = "BloDejaVuSans", "BloDejaVuSans-Bold"


@cache
def register_fonts() -> None:
    """Register matplotlib's bundled DejaVu Sans (regular, bold) with reportlab, once."""
    ttf = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    pdfmetrics.registerFont(TTFont(REGULAR, os.path.join(ttf, "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, os.path.join(ttf, "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR,
                                  boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=REGULAR, fontSize=8.5, leading=11,
                          textColor=colors.HexColor("#1d2b36"))
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=16, leading=20),
        "sub": ParagraphStyle("sub", parent=base, textColor=colors.HexColor("#6b7b88")),
        "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=11.5, leading=15,
                             spaceBefore=8, spaceAfter=3),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5),
        "num": ParagraphStyle("num", parent=base, fontSize=7.5, leading=9.5, alignment=2),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=7.5, leading=9.5),
    }


def _table(t: Table, st: dict[str, ParagraphStyle], width: float) -> RLTable:
    data = [[Paragraph(escape(h), st["head"]) for h in t.header]]
    data += [[Paragraph(escape(c.text), st["num"] if c.numeric else st["cell"]) for c in row]
             for row in t.rows]
    first = min(width * 0.34, 60 * mm)
    rest = (width - first) / max(1, len(t.header) - 1)
    table = RLTable(data, colWidths=[first] + [rest] * (len(t.header) - 1), repeatRows=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f6f8")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#e3e8ec")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    return table


def pdf_document(doc: Document, invariant: bool = True) -> bytes:
    """The PDF, as bytes."""
    register_fonts()
    st = _styles()
    buf = io.BytesIO()
    page = SimpleDocTemplate(buf, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm,
                             topMargin=14 * mm, bottomMargin=14 * mm, title=doc.title,
                             author="BLO stream pipeline", invariant=1 if invariant else 0,
                             lang=doc.lang)
    width = A4[0] - 32 * mm
    story: list[Flowable] = [Paragraph(escape(doc.title), st["title"])]
    story += [Paragraph(escape(s), st["sub"]) for s in doc.subtitle]
    for s in doc.sections:
        story.append(Paragraph(escape(s.title), st["h2"]))
        story += [Paragraph(escape(p), st["body"]) for p in s.paragraphs]
        for t in s.tables:
            story += [_table(t, st, width), Spacer(1, 3 * mm)]
        for c in s.charts:
            fig = c.draw()
            w_in, h_in = fig.get_size_inches()
            png = render(fig, "png", dpi=150)
            w = min(width, w_in * 72)
            story.append(Image(io.BytesIO(png), width=w, height=w * h_in / w_in))
    page.build(story)
    return buf.getvalue()
