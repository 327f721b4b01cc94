"""The dashboard's live picture in Chromium, in English and in Russian, against the real
stack of test_dashboard.py (its fixtures: broker, ClickHouse server, worker, `blo api`):

* a seizure published through the station SDK (``blo.sdk.StationPublisher``) is in the
  feed of significant events within 5 s of the broker's acknowledgement, with its drug and
  kg in the page's language; its post's page shows it;
* the Russian page shows no raw catalogue key and no English text of the catalogue where a
  Russian one exists;
* the header's boxes do not overlap and its texts are not clipped, at 1366×768 and
  1920×1080; nor do the texts of the cells of the posts and health tables and of the
  alerts panel's items (screenshots of both sizes, per language, are kept in
  ``test-artifacts/``); the alerts show their rule's name in the page's language; the page
  says "posts" ("посты"), never "stations", in its text, titles and labels.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blo.sdk import StationPublisher
from blo.settings import KafkaSettings
from tests.integration.api import test_dashboard as base
from tests.integration.api.chromium import screenshot, watched_page
from tests.integration.api.test_dashboard import Stack
from tests.integration.streams.harness import wait_for
from tests.unit.blo.test_dashboard_i18n import EN, RU, SAME_IN_BOTH

# the stack and the browser of test_dashboard.py (one more stack for this module)
stack, browser = base.stack, base.browser

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

LANGS = {"en": ("en-GB", "heroin", "120 kg"), "ru": ("ru-RU", "героин", "120 кг")}
RULE_NAMES = {"en": "Unusually busy minute at a post",
              "ru": "Необычно много событий за минуту на посту"}  # test_dashboard.RULES_YAML
SEQ = iter(range(900_000, 1_000_000))
HEADER_BOXES = [".brand", ".kpi", ".clocks", ".conn", "#lang"]
HEADER_TEXTS = [".title", ".subtitle", ".kpi-v", ".kpi-l", ".clocks", "#conn-text"]


def publish_seizure(stack: Stack, tmp: Path, station: str, kg: float) -> tuple[str, float]:
    """A seizure of ``kg`` of heroin at ``station``, now, through the SDK; (its event id,
    the monotonic time the broker acknowledged it)."""
    now = datetime.now(UTC).replace(microsecond=0)
    p = stack.pipeline
    with StationPublisher(KafkaSettings.model_validate({"bootstrap": p.bootstrap}), p.topic_raw,
                          tmp / f"outbox-{time.monotonic_ns()}.db") as pub:
        eid = pub.publish({"event_type": "seizure", "station_id": station,
                           "source_seq": next(SEQ), "occurred_at": now.isoformat(),
                           "drug": "heroin", "quantity": kg, "unit": "kg",
                           "concealment": "built_compartment", "detection_method": "xray",
                           "persons_arrested": 1})
        pub.flush(timeout=30)
    return eid, time.monotonic()


def visible_text(page: Any) -> str:
    """The page's text as shown, lower-cased (CSS upper-cases some headings)."""
    return str(page.evaluate("() => document.body.innerText")).lower()


def english_left(text: str) -> list[str]:
    """The English texts of the catalogue (without values to fill, of two words or more)
    that are on a Russian page."""
    out = []
    for key, en in EN.items():
        if isinstance(en, dict) or "{" in en or key in SAME_IN_BOTH or en == RU[key]:
            continue
        if " " in en.strip() and en.lower() in text:
            out.append(f"{key}: {en!r}")
    return out


def live_and_fed(page: Any) -> None:
    wait_for(lambda: page.get_attribute("#conn", "data-state") == "live", 60, "the stream")
    wait_for(lambda: page.locator("#event-feed li").count() > 0, 30, "the feed")


def tables_filled(page: Any) -> None:
    wait_for(lambda: page.locator("#health-table tbody tr").count() > 1, 30,
             "the health table")
    wait_for(lambda: page.locator("#alert-feed li.alert").count() > 0, 30, "the alerts panel")


def header_layout(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("""([boxes, texts]) => {
      const rect = (e) => { const r = e.getBoundingClientRect(); return { x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, w: r.width }; };
      const header = document.querySelector('header.top');
      const els = boxes.flatMap((s) => [...header.querySelectorAll(s)]).filter((e) => e.offsetParent);
      const overlaps = [];
      for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
        const a = rect(els[i]); const b = rect(els[j]);
        const ox = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
        const oy = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
        if (ox > 0.5 && oy > 0.5) overlaps.push(`${els[i].className || els[i].id} / ${els[j].className || els[j].id}`);
      }
      const clipped = texts.flatMap((s) => [...header.querySelectorAll(s)])
        .filter((e) => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
        .map((e) => `${e.className || e.id}: ${e.textContent}`);
      const hr = rect(header);
      const outside = els.filter((e) => { const r = rect(e); return r.x0 < hr.x0 - 0.5 || r.x1 > hr.x1 + 0.5; })
        .map((e) => e.className || e.id);
      const posts = document.querySelector('.stations-panel .panel-h');
      const ph = [...posts.children].map(rect);
      const postsOverlap = ph.length === 2 && Math.min(ph[0].x1, ph[1].x1) - Math.max(ph[0].x0, ph[1].x0) > 0.5 &&
        Math.min(ph[0].y1, ph[1].y1) - Math.max(ph[0].y0, ph[1].y0) > 0.5;
      return { n: els.length, overlaps, clipped, outside, postsOverlap };
    }""", [HEADER_BOXES, HEADER_TEXTS]))


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_seizure_published_through_the_sdk_is_in_the_feed_and_on_its_post_page(
        stack: Stack, browser: Any, lang: str, tmp_path: Path) -> None:
    locale, drug, kg_text = LANGS[lang]
    with watched_page(browser, locale=locale) as w:
        page = w.page
        page.goto(f"{stack.base}/#token={stack.tokens['duty-officer']}")
        wait_for(lambda: page.get_attribute("#conn", "data-state") == "live", 60, "the stream")
        assert page.evaluate("() => document.documentElement.lang") == lang
        wait_for(lambda: page.locator("#event-feed li").count() > 0, 30, "the feed's first read")

        eid, acked = publish_seizure(stack, tmp_path, "KZ-T1", 120.0)
        item = f'#event-feed li[data-event-id="{eid}"]'
        wait_for(lambda: page.locator(item).count() == 1, 30, "the seizure in the feed",
                 every=0.1)
        took = time.monotonic() - acked
        text = page.text_content(item) or ""
        assert drug in text and kg_text in text, text
        assert page.get_attribute(item, "data-kg") == "120"
        assert "Kordai test" in text  # its post, by name
        assert took <= 5.0, f"the seizure reached the feed {took:.1f} s after it was sent"

        # its post's page: the registry card, the seizure among its recent ones, the series
        page.click(f"{item} a.post")
        page.wait_for_selector("#post-page:not([hidden])")
        wait_for(lambda: page.locator(f'#post-seizures li[data-event-id="{eid}"]').count() == 1,
                 30, "the seizure on the post page")
        assert "KZ-T1" in (page.text_content("#post-body .card") or "")
        wait_for(lambda: page.locator(
            '#post-body [data-range="24h"] tr[data-event-type="seizure"]').count() == 1, 60,
            "the seizure in the post's 24 h series (window rows)")
        page.screenshot(path=str(tmp_path / f"post-{lang}.png"))
        if lang == "ru":
            text = visible_text(page)
            assert english_left(text) == [], english_left(text)
        page.click("#post-close")
        assert page.is_hidden("#post-page")

        if lang == "ru":
            text = visible_text(page)
            raw = sorted(k for k in EN if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w.])", text))
            assert raw == [], f"raw keys on the page: {raw}"
            assert english_left(text) == [], english_left(text)
            assert "что произошло" in text and "посты" in text
        assert w.errors == [], w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"


# the rows whose cells are checked: the posts and health tables, and the alerts panel's
# items (their header and footer lines are its columns)
ROWS = {"posts": "#station-table tr", "health": "#health-table tr",
        "alerts": "#alert-feed li.alert .ah, #alert-feed li.alert .af"}


def cell_layout(page: Any) -> dict[str, Any]:
    """Per table: how many cells were measured, and the cells whose text is clipped (its
    box narrower than its text, or the cell beyond its scrolling panel's visible width) or
    overlaps a neighbour's (bounding boxes of the texts of one row); and the chart's axis
    labels that overlap."""
    return dict(page.evaluate("""(rows) => {
      const rect = (r) => ({ x0: r.left, y0: r.top, x1: r.right, y1: r.bottom });
      const textBox = (e) => { const r = document.createRange(); r.selectNodeContents(e); return rect(r.getBoundingClientRect()); };
      const name = (e) => `${e.closest('[data-row-station],[data-alert-id],[data-group],tr')?.dataset?.rowStation || ''} ${e.className || e.tagName}: ${e.textContent.trim().slice(0, 40)}`;
      const out = {};
      for (const [table, sel] of Object.entries(rows)) {
        const got = { cells: 0, clipped: [], overlaps: [] };
        for (const row of document.querySelectorAll(sel)) {
          if (!row.offsetParent) continue;
          const cells = [...row.children].filter((e) => e.offsetParent && e.textContent.trim());
          const view = row.closest('.scroll').getBoundingClientRect();
          const boxes = [];
          for (const c of cells) {
            got.cells++;
            const b = textBox(c);
            const cr = c.getBoundingClientRect();
            // text past the cell's content box is cut (an ellipsis: Chromium reports the
            // cell's scrollWidth as if it fitted) or runs into the neighbour's padding
            const cs = getComputedStyle(c);
            const inner = { x0: cr.left + parseFloat(cs.paddingLeft) + parseFloat(cs.borderLeftWidth), x1: cr.right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth) };
            if (b.x1 > inner.x1 + 0.5 || b.x0 < inner.x0 - 0.5) got.clipped.push(`${name(c)} (past its box)`);
            if (c.scrollWidth > c.clientWidth + 1 || b.x1 > cr.right + 0.5 || b.x0 < cr.left - 0.5 || b.x1 > view.right + 0.5)
              got.clipped.push(name(c));
            // an inner element of the cell that cuts its own text (ellipsis, overflow)
            for (const inner of c.querySelectorAll('*'))
              if (inner.offsetParent && inner.textContent.trim() && inner.scrollWidth > inner.clientWidth + 1 && getComputedStyle(inner).overflowX !== 'visible')
                got.clipped.push(name(inner));
            boxes.push([c, b]);
          }
          for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i][1]; const b = boxes[j][1];
            if (Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) > 0.5 && Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) > 0.5)
              got.overlaps.push(`${name(boxes[i][0])} / ${name(boxes[j][0])}`);
          }
        }
        out[table] = got;
      }
      // the chart's axis labels (times, counts, "UTC") do not run into each other
      const labels = [...document.querySelectorAll('#chart .axis text')].map((e) => [e.textContent, rect(e.getBoundingClientRect())]);
      const chart = { cells: labels.length, clipped: [], overlaps: [] };
      for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i][1]; const b = labels[j][1];
        if (Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) > 0.5 && Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) > 0.5)
          chart.overlaps.push(`${labels[i][0]} / ${labels[j][0]}`);
      }
      out.chart = chart;
      return out;
    }""", ROWS))


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_header_neither_overlaps_nor_clips_at_both_sizes(
        stack: Stack, browser: Any, lang: str) -> None:
    for width, height in ((1366, 768), (1920, 1080)):
        with watched_page(browser, width, height, LANGS[lang][0]) as w:
            page = w.page
            page.goto(f"{stack.base}/#token={stack.tokens['duty-officer']}")
            live_and_fed(page)
            page.wait_for_timeout(1200)  # the last snapshot's animations
            tables_filled(page)
            screenshot(page, f"dashboard-{lang}-{width}x{height}.png", width)
            got = header_layout(page)
            assert got["n"] >= 8, got
            assert got["overlaps"] == [], got
            assert got["clipped"] == [], got
            assert got["outside"] == [], got
            assert got["postsOverlap"] is False
            # the rule's name in the page's language
            assert page.locator("#alert-feed li.alert .rule").first.text_content() \
                == RULE_NAMES[lang]
            # one word for a post: "Posts" in English, "Посты" in Russian, never "stations"
            words = page.evaluate("""() => [document.body.innerText,
              ...[...document.querySelectorAll('[title], [aria-label]')].flatMap(
                (e) => [e.getAttribute('title') || '', e.getAttribute('aria-label') || ''])]
              .join(' | ')""")
            assert not re.search(r"\bstations?\b|станци", words, re.IGNORECASE), words
            cells = cell_layout(page)
            for table, c in cells.items():
                assert c["cells"] >= 4, (table, c)
                assert c["clipped"] == [], (lang, width, table, c["clipped"])
                assert c["overlaps"] == [], (lang, width, table, c["overlaps"])
            assert w.errors == [], w.errors
