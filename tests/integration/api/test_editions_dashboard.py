"""The dashboard's bulletins page in Chromium, in English and in Russian, against the real
stack of test_dashboard.py (broker, ClickHouse server, worker, `blo api`): editions stored
in ``bulletin_editions`` (made with the schedule's code from the stack's data) are listed
as ``GET /api/v1/bulletins/editions`` answers them — the regional token every scope's, a
KZ token only KZ's — and the download link saves the very PDF (and HTML) stored; no cell
cuts its text; nothing leaves the machine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blo.analytics.bulletin import make, render
from blo.analytics.bulletin.editions import edition_row
from blo.analytics.periods import Period
from blo.settings import ClickHouseSettings, parse_clickhouse_url
from sinks.clickhouse import ServerDatabase
from sinks.tables import BULLETIN_EDITIONS
from tests.integration.api import test_dashboard as base
from tests.integration.api.chromium import screenshot, watched_page
from tests.integration.api.test_dashboard import Stack, _get
from tests.integration.api.test_dashboard_live import english_left, visible_text
from tests.integration.streams.harness import wait_for

stack, browser = base.stack, base.browser

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

LOCALES = {"en": "en-GB", "ru": "ru-RU"}
MADE_AT = datetime(2026, 11, 5, 3, tzinfo=UTC)
EDITIONS = (("region", "en"), ("region", "ru"), ("KZ", "en"), ("KZ", "ru"), ("TJ", "ru"))


@pytest.fixture(scope="module")
def stored(stack: Stack) -> dict[tuple[str, str], dict[str, bytes]]:
    """The editions of the stack's current month (scope, lang) → {"pdf": …, "html": …}."""
    db = ServerDatabase(parse_clickhouse_url(stack.pipeline.clickhouse_url),
                        ClickHouseSettings())
    try:
        period = Period.parse(datetime.now(UTC).strftime("%Y-%m"))
        out = {}
        for scope, lang in EDITIONS:
            b = make(lambda sql, params: db.query(sql, params), db.database, scope, period)
            pdf, html = render(b, lang, "pdf"), render(b, lang, "html")  # type: ignore[arg-type]
            db.insert(BULLETIN_EDITIONS.name, BULLETIN_EDITIONS.column_names,
                      [edition_row(b, lang, pdf, html, MADE_AT, "schedule")])
            out[(scope, lang)] = {"pdf": pdf, "html": html}
        return out
    finally:
        db.close()


def _listed(s: Stack, token: str) -> list[dict[str, Any]]:
    code, body = _get(f"{s.base}/api/v1/bulletins/editions", s.tokens[token])
    assert code == 200, body
    return list(json.loads(body)["editions"])


def _key(e: dict[str, Any]) -> str:
    return f"{e['scope']}|{e['period']}|{e['lang']}|{e['data_version']}"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_bulletins_page_lists_the_editions_and_downloads_them(
        stack: Stack, browser: Any, stored: dict[tuple[str, str], dict[str, bytes]],
        lang: str, tmp_path: Path) -> None:
    for token in ("duty-officer", "kz-centre"):
        _check_page(stack, browser, stored, lang, token, tmp_path)


def _check_page(stack: Stack, browser: Any, stored: dict[tuple[str, str], dict[str, bytes]],
                lang: str, token: str, tmp_path: Path) -> None:
    want = _listed(stack, token)
    scopes = {e["scope"] for e in want}
    assert scopes == ({"KZ"} if token == "kz-centre" else {"region", "KZ", "TJ"})
    assert len(want) == sum(1 for s, _ in EDITIONS if s in scopes)
    with watched_page(browser, 1366, 768, LOCALES[lang]) as w:
        page = w.page
        page.goto(f"{stack.base}/#token={stack.tokens[token]}")
        wait_for(lambda: page.get_attribute("#conn", "data-state") == "live", 60,
                 "the stream")
        page.click("#editions-open")
        wait_for(lambda: page.get_attribute("#editions-body", "data-loaded")
                 == str(len(want)), 30, "the editions on the page")
        shown = page.eval_on_selector_all(
            "#editions-table tbody tr", "rows => rows.map((r) => r.dataset.edition)")
        assert shown == [_key(e) for e in want]
        text = visible_text(page)
        if lang == "ru":
            assert "бюллетени" in text and "версия данных" in text
            assert english_left(text) == [], english_left(text)
        else:
            assert "bulletins" in text and "station" not in text
        if token == "kz-centre":
            assert "region (all" not in text and "регион (все" not in text
        overflow = page.evaluate("""() => [...document.querySelectorAll(
          '#editions-table tr')].flatMap((r) => [...r.children])
          .filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent)""")
        assert overflow == [], overflow
        # the download links save the documents stored, byte for byte
        first = want[0]
        row = page.locator(f'#editions-table tr[data-edition="{_key(first)}"]')
        for fmt in ("pdf", "html"):
            with page.expect_download() as dl:
                row.locator(f'a[data-format="{fmt}"]').click()
            saved = tmp_path / f"{token}-{lang}.{fmt}"
            dl.value.save_as(saved)
            assert dl.value.suggested_filename == (
                f"bulletin-{first['scope']}-{first['period']}-{first['lang']}-"
                f"{first['data_version']}.{fmt}")
            assert saved.read_bytes() == stored[(first["scope"], first["lang"])][fmt]
        assert saved.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
        if token == "duty-officer":
            screenshot(page, f"editions-{lang}.png", 1366)
        page.click("#editions-close")
        assert page.is_hidden("#editions-page")
        assert w.errors == [], w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"
