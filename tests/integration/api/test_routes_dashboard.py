"""The dashboard's routes page in Chromium, in English and in Russian, against the real
stack of test_dashboard.py (broker, ClickHouse server, worker, `blo api`): seizures with
routes published to the raw topic (one of them revised) are shown as the API answers them —
every flow of ``GET /api/v1/routes`` a row with its countries in the page's language, its
drug, kg and cases; every country step in the ranked list and drawn on the map — for the
regional token and, limited to its posts, for a KZ token; the weight switch re-orders;
the table's cells neither clip nor overlap; nothing leaves the machine."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.api import test_dashboard as base
from tests.integration.api.chromium import screenshot, watched_page
from tests.integration.api.test_dashboard import Stack, _get
from tests.integration.api.test_dashboard_live import english_left, visible_text
from tests.integration.streams.harness import wait_for

stack, browser = base.stack, base.browser

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
AF_RU = {"producing_country": "AF", "departure_country": "AF",
         "transit_countries": ["TJ", "UZ", "KZ"], "destination_country": "RU"}
# (station, seq, drug, kg, route, revision)
SEIZURES = [
    ("KZ-T1", 700_001, "heroin", 20.0, AF_RU, 0),
    ("KZ-T1", 700_001, "heroin", 25.0, AF_RU, 1),  # the laboratory weight
    ("KZ-T2", 700_001, "hashish", 5.0, {"departure_country": "KG",
                                        "destination_country": "KZ"}, 0),
    ("TJ-T1", 700_001, "opium", 8.0, {"producing_country": "AF", "departure_country": "AF",
                                      "destination_country": "TJ"}, 0),
    ("TJ-T1", 700_002, "opium", 3.0, {}, 0),  # no route known
]
NAMES = {"en": {"AF": "Afghanistan", "RU": "Russia", "KZ": "Kazakhstan"},
         "ru": {"AF": "Афганистан", "RU": "Россия", "KZ": "Казахстан"}}
LOCALES = {"en": "en-GB", "ru": "ru-RU"}
DRUGS = {"en": {"heroin": "heroin", "hashish": "hashish", "opium": "opium"},
         "ru": {"heroin": "героин", "hashish": "гашиш", "opium": "опий"}}


def _publish(s: Stack) -> None:
    records = []
    for i, (sid, seq, drug, kg, route, revision) in enumerate(SEIZURES):
        at = AT + timedelta(minutes=i)
        body: dict[str, Any] = {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"routes:{sid}:{seq}")),
            "schema_version": 1, "event_type": "seizure", "station_id": sid,
            "occurred_at": (AT + timedelta(minutes=seq % 10)).isoformat(),
            "reported_at": at.isoformat(), "source_seq": seq, "drug": drug, "quantity": kg,
            "unit": "kg", "concealment": "luggage", "detection_method": "xray", **route}
        if revision:
            body |= {"revision": revision, "correction_reason": "laboratory weight"}
        records.append((sid.encode(), json.dumps(body).encode()))
    s.pipeline.produce(records)


def _routes(s: Stack, token: str, **q: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in {"limit": "50", **q}.items())
    code, body = _get(f"{s.base}/api/v1/routes?{query}", s.tokens[token])
    assert code == 200, body
    return dict(json.loads(body))


def _shown(page: Any) -> list[dict[str, Any]]:
    return list(page.eval_on_selector_all("#routes-table tbody tr", """rows => rows.map(
      (r) => ({ key: r.dataset.route, cells: [...r.children].map((c) => c.textContent) }))"""))


def _key(f: dict[str, Any]) -> str:
    return "|".join([f["producing"], f["departure"], *f["transit"], f["destination"], f["drug"]])


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_routes_page_shows_the_flows_the_api_returns(stack: Stack, browser: Any,
                                                         lang: str) -> None:
    if not any(f["kg"] == 25.0 for f in _routes(stack, "duty-officer")["flows"]):
        _publish(stack)
        wait_for(lambda: any(f["kg"] == 25.0 and f["cases"] == 1
                             for f in _routes(stack, "duty-officer")["flows"])
                 and _routes(stack, "duty-officer")["totals"]["cases"] == 4, 90,
                 "the seizures in the routes answer (the revision counted once)")
    for token in ("duty-officer", "kz-centre"):
        _check_page(stack, browser, lang, token)


def _check_page(stack: Stack, browser: Any, lang: str, token: str) -> None:
    want = _routes(stack, token)
    kz_only = token == "kz-centre"
    assert set(want["stations"]) == ({"KZ-T1", "KZ-T2"} if kz_only else
                                     {s["station_id"] for s in base.STATIONS})
    with watched_page(browser, 1366, 768, LOCALES[lang]) as w:
        page = w.page
        page.goto(f"{stack.base}/#token={stack.tokens[token]}")
        wait_for(lambda: page.get_attribute("#conn", "data-state") == "live", 60,
                 "the stream")
        page.click("#routes-open")
        wait_for(lambda: page.get_attribute("#routes-body", "data-loaded") == "||kg", 30,
                 "the routes answer on the page")
        wait_for(lambda: page.locator("#routes-map .c").count() > 0, 10, "the outlines")
        shown = _shown(page)
        assert [r["key"] for r in shown] == [_key(f) for f in want["flows"]]
        for row, f in zip(shown, want["flows"], strict=True):
            route, drug, kg, cases = row["cells"]
            assert drug == DRUGS[lang][f["drug"]]
            assert kg.replace("\u00a0", " ") == (
                f"{f['kg']:g} kg" if lang == "en" else f"{f['kg']:g} кг".replace(".", ","))
            assert cases == str(f["cases"])
            for c in (f["producing"], f["departure"], f["destination"]):
                if c in NAMES[lang]:
                    assert NAMES[lang][c] in route, (route, c)
            assert route.count("?") == sum(
                1 for c in (f["producing"], f["departure"], f["destination"]) if not c)
        heroin = next(r for r in shown if r["key"].endswith("|heroin"))
        assert heroin["cells"][3] == "1"  # the revised seizure: one case, 25 kg
        edges = page.eval_on_selector_all("#routes-edges li[data-edge]",
                                          "els => els.map((e) => e.dataset.edge)")
        assert edges == [f"{e['source']}-{e['target']}" for e in want["edges"]]
        drawn = set(page.eval_on_selector_all("#routes-map .flow",
                                              "els => els.map((e) => e.dataset.edge)"))
        assert drawn == set(edges)  # every country of these routes is on the map
        if lang == "ru":
            text = visible_text(page)
            assert "маршруты наркотрафика" in text and "афганистан" in text
            assert english_left(text) == [], english_left(text)
        got = page.evaluate("""() => [...document.querySelectorAll('#routes-table tr')]
          .flatMap((r) => [...r.children]).filter((c) => c.scrollWidth > c.clientWidth + 1)
          .map((c) => c.textContent)""")
        assert got == [], got  # no cell cuts its text
        # by cases: the answer's order by cases, the page re-read
        page.click('#routes-body button[data-weight="cases"]')
        wait_for(lambda: page.get_attribute("#routes-body", "data-loaded") == "||cases",
                 30, "the routes by cases")
        by_cases = _routes(stack, token, weight="cases")
        assert [r["key"] for r in _shown(page)] == [_key(f) for f in by_cases["flows"]]
        if not kz_only:
            screenshot(page, f"routes-{lang}.png", 1366)
        page.click("#routes-close")
        assert page.is_hidden("#routes-page")
        assert w.errors == [], w.errors
        assert w.outside == [], f"requests leaving the machine: {w.outside}"
