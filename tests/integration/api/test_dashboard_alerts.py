"""The dashboard's alerts panel in Chromium (English and Russian) over ~900 open alerts
inserted straight into the ``alerts`` table (test_alerts_signal.py's world: its alerts,
mutes, tokens and oracle), served by the API in process:

* the header tile and the panel header show the API's exact ``counts`` (never a page's
  length), the panel "50 of M";
* grouping by rule and scope lists the API's groups;
* a group's bulk acknowledgement from the page (its confirmation counts the group's not yet
  acknowledged open alerts) sends one acknowledgement record per alert of exactly that group
  to the alert engine's input topic. The engine (a running worker) is not part of this test:
  the records sent are checked, not the versions the engine would write from them
  (test_cli_alerts.py and test_alerts_signal.py cover the engine's side).

And ``POST /api/v1/alerts/ack`` with the filters of ``GET /api/v1/alerts`` (severity,
country, station, acknowledged=false): it names exactly the alerts the oracle keeps.

"Acknowledge all shown" with the panel's filters set, with the real alert runtime
(``streams.alert_runtime.AlertRuntime``, restored from the table) taking the records the API
sends and writing the acknowledged versions: afterwards the API lists exactly the filtered
alerts as newly acknowledged and no other, and the panel and the button follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.metrics import Metrics
from blo.settings import AlertSettings, BatchSettings
from schemas.alert_input import Acknowledgement, decode
from sinks.batching import BatchingSink
from sinks.tables import WINDOW_STATS
from streams.alert_input import WINDOW_ROW_WIDTH
from streams.alert_runtime import AlertRuntime
from streams.windows import WindowConfig
from tests.integration.api.chromium import async_page, digits
from tests.integration.api.inprocess import bearer
from tests.integration.api.test_alerts_signal import (
    NOW,
    T_NOW,
    World,
    _faust_event,
    _no_produce,
    expected,
    get,
    world,
)
from tests.unit.streams.alerts.factories import wrow
from tests.unit.streams.test_ingest import registry

__all__ = ["world"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

LANGS = {"en": ("en-GB", "of", "This acknowledges"), "ru": ("ru-RU", "из", "подтвержден")}


def acked_ids(w: World, start: int) -> list[str]:
    """The alert ids of the acknowledgement records sent since ``start``."""
    out = []
    for _topic, _key, value in w.api.acks[start:]:
        req = decode(value.encode(), window_row_width=WINDOW_ROW_WIDTH)
        assert isinstance(req, Acknowledgement), req
        out.append(req.alert_id)
    return out


def unacked_open_ids(w: World, token: str, q: dict[str, str]) -> set[str]:
    return {a["alert_id"] for a in expected(w, token, {**q, "open": "true",
                                                         "acknowledged": "false"})}


def test_bulk_ack_takes_the_lists_filters(world: World) -> None:
    w = world
    kz = w.secrets["kz"]

    async def post(client: TestClient[Any, Any], secret: str, body: Any) -> tuple[int, Any]:
        resp = await client.post("/api/v1/alerts/ack", json=body, headers=bearer(secret))
        return resp.status, await resp.json()

    async def calls(client: TestClient[Any, Any]) -> list[tuple[int, Any]]:
        return [
            await post(client, kz, {"severity": "critical", "country": "KZ", "open": True,
                                    "acknowledged": False, "dry_run": True}),
            await post(client, kz, {"severity": ["warning", "info"], "station": "KZ-KORDAI",
                                    "dry_run": True}),
            await post(client, kz, {"country": "TJ", "dry_run": True}),
            await post(client, kz, {"station": "TJ-PYANJ", "dry_run": True}),
            await post(client, kz, {"severity": "critical", "acknowledged": True}),
            await post(client, kz, {"rule": "sequence-gap", "station": "KZ-KORDAI",
                                    "open": True, "comment": "bulk"}),
        ]

    (s1, crit), (s2, st), (s3, _), (s4, _), (s5, bad), (s6, sent) = w.api.run(calls)
    assert (s1, s2, s3, s4, s5, s6) == (200, 200, 403, 403, 400, 200)
    assert "acknowledged" in str(bad)
    want = unacked_open_ids(w, "kz", {"severity": "critical", "country": "KZ"})
    assert want and set(crit["alert_ids"]) == want and crit["sent"] == 0
    want = {a["alert_id"] for a in expected(w, "kz", {"severity": "warning,info",
                                                      "station": "KZ-KORDAI",
                                                      "acknowledged": "false"})}
    assert want and set(st["alert_ids"]) == want
    want = unacked_open_ids(w, "kz", {"rule": "sequence-gap", "station": "KZ-KORDAI"})
    assert want and set(sent["alert_ids"]) == want and sent["sent"] == len(want)
    ids = acked_ids(w, 0)
    assert sorted(ids) == sorted(want)  # one record per alert, nothing else


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_panel_counts_groups_and_acknowledges_a_group(world: World, lang: str) -> None:
    w = world
    secret = w.secrets["all"]
    locale, of_word, confirm_word = LANGS[lang]

    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        _, firing = await get(client, secret, "/api/v1/alerts", {"state": "firing",
                                                                   "limit": "1"})
        _, groups = await get(client, secret, "/api/v1/alerts",
                              {"state": "firing", "group": "rule_scope", "limit": "100"})
        out: dict[str, Any] = {"counts": firing["counts"], "groups": groups}
        async with async_page(locale) as (page, errors):
            await page.goto(f"{client.make_url('/')}#token={secret}")
            tile = page.locator('[data-testid="alerts-open"]')
            await page.wait_for_function(
                "() => /\\d/.test(document.querySelector('[data-testid=\"alerts-open\"]')"
                ".textContent)", timeout=20_000)
            out["tile"] = await tile.text_content()
            out["breakdown"] = await page.locator("#alerts-breakdown").text_content()
            out["sub"] = await page.locator("#alerts-sub").text_content()
            out["shown"] = await page.locator("#alerts-shown").text_content()
            out["rows"] = await page.locator("#alert-feed li[data-alert-id]").count()
            # grouping: the API's groups, in its order
            await page.check("#af-group")
            await page.wait_for_selector("#alert-feed li[data-group]", timeout=10_000)
            out["shown_groups"] = await page.locator("#alerts-shown").text_content()
            out["page_groups"] = await page.eval_on_selector_all(
                "#alert-feed li[data-group]", "els => els.map((e) => e.dataset.group)")
            # the bulk acknowledgement of one group with several unacknowledged alerts
            g = next(g for g in groups["groups"] if g["count"] - g["acked"] >= 2
                     and g["scope"] != "all")
            out["group"] = g
            sent_before = len(w.api.acks)
            await page.click(f'#alert-feed li[data-group="{g["rule_id"]}|{g["scope_key"]}"] '
                             "button[data-ack-group]")
            await page.wait_for_function(
                "() => /\\d/.test(document.getElementById('bulk-count').textContent)",
                timeout=10_000)
            out["confirm"] = await page.locator("#bulk-count").text_content()
            out["dry_sent"] = len(w.api.acks) - sent_before
            await page.fill("#bulk-comment", "on it")
            await page.click("#bulk-send")
            await page.wait_for_selector("#bulk-dialog:not([open])", state="attached",
                                         timeout=10_000)
            for _ in range(50):
                if len(w.api.acks) > sent_before:
                    break
                await asyncio.sleep(0.1)
            out["acked"] = acked_ids(w, sent_before)
            out["errors"] = errors
        return out

    got = w.api.run(body)
    c = got["counts"]
    assert c["open"]["total"] > 200
    assert got["errors"] == []
    # the tile and the panel: the exact counts, not the 50 the snapshot carries
    assert digits(got["tile"]) == str(c["open"]["total"])
    nums = [int(digits(x)) for x in re.findall(r"\d[\d\s\u202f\u00a0,]*", got["breakdown"])]
    want = [c["open"][k] for k in ("critical", "warning", "info") if c["open"][k]]
    assert nums[:len(want)] == want, got["breakdown"]
    if c["open_muted"]["total"]:
        assert nums[len(want)] == c["open_muted"]["total"], got["breakdown"]
    assert digits(got["sub"]).startswith(str(c["open"]["total"])), got["sub"]
    assert got["rows"] == 50
    assert digits(got["shown"]) == f"50{c['alerts']}" and of_word in got["shown"]
    # the groups as the API lists them
    api_groups = [f"{g['rule_id']}|{g['scope_key']}" for g in got["groups"]["groups"]]
    assert got["page_groups"] == api_groups
    assert digits(got["shown_groups"]) == f"{len(api_groups)}{got['groups']['total']}"
    # the confirmation counts exactly the group's unacknowledged open alerts; the ack sends
    # one record per alert of that group and no other
    g = got["group"]
    key = g["scope_key"]
    want_ids = {a["alert_id"] for a in expected(w, "all", {"rule": g["rule_id"], "open": "true",
                                                           "acknowledged": "false"})
                if (a["station_id"] if g["scope"] == "station" else a["scope_key"]) == key}
    assert len(want_ids) == g["count"] - g["acked"] >= 2
    assert confirm_word in got["confirm"] and digits(got["confirm"]) == str(len(want_ids))
    assert got["dry_sent"] == 0
    assert sorted(got["acked"]) == sorted(want_ids)


# -- "acknowledge all shown": through the real alert runtime --------------------------------
ACK_ALL = {"en": ("en-GB", "This acknowledges"), "ru": ("ru-RU", "подтвержден")}
FILTERS = {"severity": "critical", "country": "KZ"}  # and "not acknowledged", open


def async_api_error() -> type[Exception]:
    """Playwright's timeout error (a waited-for state not reached: then asserted below)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    return PlaywrightTimeout


async def acked_by_api(client: TestClient[Any, Any], secret: str) -> set[str]:
    """Every acknowledged alert the API lists (all pages)."""
    out: set[str] = set()
    while True:
        _, body = await get(client, secret, "/api/v1/alerts", {
            "acknowledged": "true", "limit": "500", "offset": str(len(out))})
        assert "alerts" in body, body
        out |= {a["alert_id"] for a in body["alerts"]}
        if len(out) >= body["total"] or not body["alerts"]:
            return out


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_acknowledge_all_shown_acknowledges_exactly_the_filtered_alerts(
        world: World, lang: str) -> None:
    w = world
    secret = w.secrets["all"]
    locale, confirm_word = ACK_ALL[lang]
    # the runtime restores nothing on a pipeline without data: one stored window row
    w.db.insert("window_stats", WINDOW_STATS.column_names,
                [wrow((T_NOW // 3600 - 2) * 3600, station="KZ-KORDAI", version=1)])
    want = unacked_open_ids(w, "all", FILTERS)
    before = {a["alert_id"] for a in w.alerts if a["acked"]}
    others_unacked = {a["alert_id"] for a in w.alerts if not a["acked"]} - want
    assert want and others_unacked

    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        sink = BatchingSink(w.db, BatchSettings(), Metrics(), close_db=False)
        rt = AlertRuntime(settings=AlertSettings(), window_config=WindowConfig(),
                          registry=registry(), sink=sink, database=w.db.database,
                          metrics=Metrics(), produce=_no_produce, alerts_topic=None,
                          raw_partitions=1, clock=lambda: NOW.timestamp())
        await rt.restore()

        async def ignore(_h: Any) -> None:
            pass

        async def engine() -> None:
            """The alert engine's consumer: the records the API sends, in order."""
            done = 0
            while True:
                new = w.api.acks[done:]
                if new:
                    await rt.handle([_faust_event(v.encode(), done + i)
                                     for i, (_t, _k, v) in enumerate(new)], ignore)
                    await sink.flush()
                    done += len(new)
                await asyncio.sleep(0.1)

        task = asyncio.create_task(engine())
        out: dict[str, Any] = {}
        try:
            _, firing = await get(client, secret, "/api/v1/alerts", {"state": "firing",
                                                                       "limit": "1"})
            out["open_total"] = firing["counts"]["open"]["total"]
            async with async_page(locale, 1366, 768) as (page, errors):
                await page.goto(f"{client.make_url('/')}#token={secret}")
                await page.wait_for_function(
                    "() => /\\d/.test(document.querySelector('[data-testid=\"alerts-open\"]')"
                    ".textContent)", timeout=20_000)
                out["enabled_default"] = await page.is_enabled("#af-ack-all")
                await page.select_option("#af-severity", FILTERS["severity"])
                await page.select_option("#af-country", FILTERS["country"])
                await page.select_option("#af-acked", "unacked")
                button = page.locator("#af-ack-all")
                # the button counts the filtered, unacknowledged alerts once the list is read
                with contextlib.suppress(async_api_error()):
                    await page.wait_for_function(
                        "(n) => document.getElementById('af-ack-all').dataset.unacked === n",
                        arg=str(len(want)), timeout=20_000)
                out["unacked_before"] = await button.get_attribute("data-unacked")
                out["label_before"] = await button.text_content()
                out["shown_before"] = await page.locator("#alerts-shown").text_content()
                await button.click()
                await page.wait_for_function(
                    "() => /\\d/.test(document.getElementById('bulk-count').textContent)",
                    timeout=10_000)
                out["confirm"] = await page.locator("#bulk-count").text_content()
                out["title"] = await page.locator("#bulk-title").text_content()
                out["dry_sent"] = len(w.api.acks)
                await page.fill("#bulk-comment", "all of them")
                await page.click("#bulk-send")
                await page.wait_for_selector("#bulk-dialog:not([open])", state="attached",
                                             timeout=10_000)
                # the engine writes the acknowledged versions: poll the API for them
                for _ in range(300):
                    _, left = await get(client, secret, "/api/v1/alerts", {
                        **FILTERS, "state": "firing", "acknowledged": "false", "limit": "1"})
                    if left["total"] == 0:
                        break
                    await asyncio.sleep(0.1)
                out["left"] = left["total"]
                out["acked"] = await acked_by_api(client, secret)
                _, after = await get(client, secret, "/api/v1/alerts", {"state": "firing",
                                                                          "limit": "1"})
                out["open_after"] = after["counts"]["open"]["total"]
                # the page follows (its next update re-reads the filtered list)
                await page.wait_for_function(
                    "() => document.getElementById('af-ack-all').dataset.unacked === '0'",
                    timeout=20_000)
                out["disabled_after"] = await button.is_disabled()
                out["shown_after"] = await page.locator("#alerts-shown").text_content()
                out["tile_after"] = await page.locator(
                    '[data-testid="alerts-open"]').text_content()
                out["errors"] = errors
        finally:
            task.cancel()
            await rt.close()
            await sink.close()
        return out

    got = w.api.run(body)
    assert got["open_total"] > 200
    assert got["errors"] == []
    assert got["enabled_default"] is True
    n = len(want)
    # before: the button and the confirmation count exactly the filtered, unacknowledged
    assert got["unacked_before"] == str(n) and digits(got["label_before"]) == str(n)
    assert digits(got["shown_before"]).endswith(str(n))  # "N of n"
    assert confirm_word in got["confirm"] and digits(got["confirm"]) == str(n)
    assert got["title"]
    assert got["dry_sent"] == 0  # the confirmation's count is a dry run
    # after: exactly those alerts acknowledged, through the engine; no other one
    assert got["left"] == 0
    assert got["acked"] - before == want
    assert got["acked"] & others_unacked == set()
    assert before <= got["acked"]
    assert got["open_after"] == got["open_total"]  # acknowledged alerts stay open
    # the page: nothing unacknowledged shown, the button disabled, "0 of 0", the tile exact
    assert got["disabled_after"] is True
    assert digits(got["shown_after"]) == "00"
    assert digits(got["tile_after"]) == str(got["open_after"])
