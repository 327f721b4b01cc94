"""Rendering without a database: the HTML shows the figure model's numbers and escapes
text; the PDF's text (pypdf) has the Russian and English words; no glyph is missing from
DejaVu Sans (matplotlib's "Glyph … missing" warning fails the test); the same bulletin
renders to the same bytes."""

from __future__ import annotations

import warnings
from io import BytesIO

import pytest
from pypdf import PdfReader

from blo.analytics.bulletin import render
from blo.analytics.bulletin.document import document, figure_cells
from blo.analytics.routes import RouteFlow
from tests.unit.blo.analytics.bulletin.factories import bulletin


@pytest.fixture(autouse=True)
def _glyphs_must_exist() -> None:
    warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")


def test_html_is_self_contained_and_shows_the_figures() -> None:
    b = bulletin()
    page = render(b, "ru", "html").decode()
    for outside in ("<script", "<link", "src=", 'href="http', "url(http", "@import", "<metadata"):
        assert outside not in page, outside
    assert page.count("<svg") == 3  # drugs, map, routes
    assert 'data-fig="headline.seizure_kg.current">17,8<' in page
    assert 'data-fig="headline.seizure_kg.year_before_pct">н/д<' in page
    assert "Б. Коныспаев" in page and "Всплеск отказов" in page
    cells = figure_cells(document(b, "en"))
    assert cells["drug.heroin.kg"] == "12.5" and cells["drug.opium.cases"] == "2"
    assert cells["post.KZ-KORDAI.refused"] == "12"
    assert cells["headline.seizure_cases.previous_pct"] == "+500.0\u00a0%"


def test_text_is_escaped() -> None:
    b = bulletin(flows=[RouteFlow("<b>", "AF", (), "KZ", "heroin", 1.0, 1)])
    page = render(b, "en", "html").decode()
    assert "<b>" not in page and "&lt;b&gt;" in page


@pytest.mark.parametrize(("lang", "words"), [
    ("ru", ("Бюллетень", "Основные показатели", "героин", "Задержания", "Версия данных",
            "Всплеск отказов")),
    ("en", ("Headline figures", "heroin", "Detentions", "Data version", "Refusal spike"))])
def test_pdf_text_is_extractable_in_both_languages(lang: str, words: tuple[str, ...]) -> None:
    b = bulletin()
    pdf = render(b, lang, "pdf")  # type: ignore[arg-type]
    reader = PdfReader(BytesIO(pdf))
    extracted = "\n".join(p.extract_text() for p in reader.pages)
    for w in words:
        assert w in extracted, w
    assert b.version.digest in extracted
    assert "\u25a1" not in extracted and "\ufffd" not in extracted
    fonts = {str(f.get_object().get("/BaseFont")) for p in reader.pages
             for f in (p["/Resources"].get("/Font") or {}).values()}
    assert any("DejaVuSans" in f for f in fonts), fonts
    assert render(b, lang, "pdf") == pdf  # type: ignore[arg-type]


def test_no_route_no_coordinates_still_render() -> None:
    b = bulletin(flows=[])
    page = render(b, "en", "html").decode()
    assert "No seizure of the period names a route." in page


def test_a_glyph_missing_from_the_font_fails() -> None:
    """The guard above works: a character DejaVu Sans lacks makes matplotlib warn, and the
    warning is an error here."""
    from blo.analytics.bulletin.charts import drugs_chart
    from blo.analytics.bulletin.charts import render as chart
    from blo.analytics.bulletin.figures import DrugLine

    with pytest.raises(UserWarning, match="missing from font"):
        chart(drugs_chart([DrugLine("\u4e2d\u6587", 1, 1_000_000)], "en"), "png")


def test_renders_in_several_threads_at_once_give_the_same_bytes() -> None:
    """The API renders in worker threads; the charts set matplotlib's global settings, so
    renders are serialised (without that, 1 of 16 concurrent renders differed)."""
    from concurrent.futures import ThreadPoolExecutor

    b = bulletin()
    alone = render(b, "en", "html")
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: render(b, "en", "html"), range(12)))
    assert all(r == alone for r in together)
