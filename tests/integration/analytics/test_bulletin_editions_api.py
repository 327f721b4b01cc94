"""``GET /api/v1/bulletins/editions`` and ``/editions/download`` in-process over the
session's ClickHouse server with editions made by the schedule's code over simulated
traffic (October closed, then one KZ seizure corrected: a second KZ and regional edition):
a KZ token lists and downloads only KZ editions (the first one by its version too), the
regional editions need the regional token, an agency-limited token gets none; every
download is audited with its data version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.analytics.bulletin import make, render
from blo.analytics.bulletin.editions import make_editions
from blo.analytics.periods import Period
from blo.api.scope import Scope
from blo.api.tokens import create_token
from sinks.clickhouse import ServerDatabase
from sinks.tables import BULLETIN_EDITIONS
from tests.integration.analytics.bulletin_data import simulate
from tests.integration.analytics.test_bulletin_editions import (
    END,
    MADE_AT,
    MONTH,
    START,
    correct_a_seizure,
    reader,
)
from tests.integration.api.inprocess import InProcessApi, bearer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SCOPES = {"region": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"})),
          "kz-customs": Scope(countries=frozenset({"KZ"}), agencies=frozenset({"customs"}))}


def store(db: ServerDatabase) -> int:
    rows = make_editions(reader(db), db.database, 1, "schedule", langs=("en",),
                         now=lambda: MADE_AT)
    db.insert(BULLETIN_EDITIONS.name, BULLETIN_EDITIONS.column_names, rows)
    return len(rows)


def test_editions_endpoints_scoped_and_audited(
        make_clickhouse_db: Callable[..., ServerDatabase]) -> None:
    db = make_clickhouse_db()
    loaded = simulate(db, START, END, stations=3)
    period = Period.parse(MONTH)
    assert store(db) == 3  # region, KG, KZ
    first = {s: make(reader(db), db.database, s, period) for s in ("region", "KZ")}
    correct_a_seizure(db, loaded, "KZ")
    assert store(db) == 2  # region and KZ again; KG untouched
    after = {s: make(reader(db), db.database, s, period) for s in ("region", "KZ")}
    assert after["KZ"].version.digest != first["KZ"].version.digest
    secrets = {k: create_token(db, f"{k} centre", s)[1] for k, s in SCOPES.items()}
    app = InProcessApi(db)

    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        got: dict[str, Any] = {}

        async def get(key: str, token: str, path: str, **q: str) -> None:
            r = await client.get(f"/api/v1/bulletins/editions{path}",
                                 headers=bearer(secrets[token]), params=q)
            data = await r.read()
            got[key] = (r.status, dict(r.headers),
                        await r.json() if r.content_type == "application/json" else data)

        await get("kz_list", "kz", "")
        await get("kz_list_kg", "kz", "", scope="KG")
        await get("kz_list_region", "kz", "", scope="region")
        await get("region_list", "region", "")
        await get("region_list_region", "region", "", scope="region", period=MONTH)
        await get("agency_list", "kz-customs", "")
        await get("kz_pdf", "kz", "/download", period=MONTH, lang="en")
        await get("kz_first", "kz", "/download", scope="KZ", period=MONTH, lang="en",
                  version=first["KZ"].version.digest)
        await get("kz_html", "kz", "/download", scope="kz", period=MONTH, lang="en",
                  format="html")
        await get("kz_region", "kz", "/download", scope="region", period=MONTH, lang="en")
        await get("kz_kg", "kz", "/download", scope="KG", period=MONTH, lang="en")
        await get("region_pdf", "region", "/download", scope="region", period=MONTH,
                  lang="en")
        await get("agency_pdf", "kz-customs", "/download", period=MONTH, lang="en")
        await get("none_ru", "kz", "/download", period=MONTH, lang="ru")
        await get("bad_month", "kz", "/download", period="2026-Q4")
        return got

    try:
        got = app.run(body)
    finally:
        app.close()

    def keys(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
        return {(e["scope"], e["period"], e["lang"], e["data_version"])
                for e in doc["editions"]}

    status, _, doc = got["kz_list"]
    assert status == 200 and doc["scopes"] == ["KZ"]
    assert keys(doc) == {("KZ", MONTH, "en", b.version.digest)
                         for b in (first["KZ"], after["KZ"])}
    assert {e["made_at"] for e in doc["editions"]} == {"2026-11-05T03:00:00Z"}
    assert got["kz_list_kg"][0] == 403 and got["kz_list_region"][0] == 403
    status, _, doc = got["region_list"]
    assert status == 200 and doc["scopes"] is None
    assert {e["scope"] for e in doc["editions"]} == {"region", "KG", "KZ"}
    assert len(doc["editions"]) == 5
    status, _, doc = got["region_list_region"]
    assert status == 200 and keys(doc) == {("region", MONTH, "en", b.version.digest)
                                           for b in (first["region"], after["region"])}
    assert got["agency_list"][0] == 403 and got["agency_pdf"][0] == 403

    status, headers, data = got["kz_pdf"]  # the latest made by default
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert data == render(after["KZ"], "en", "pdf")
    assert headers["X-BLO-Data-Version"] == after["KZ"].version.digest
    assert headers["Content-Disposition"].startswith("attachment;")
    status, headers, data = got["kz_first"]
    assert status == 200 and data == render(first["KZ"], "en", "pdf")
    status, headers, data = got["kz_html"]
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert data == render(after["KZ"], "en", "html")
    assert got["kz_region"][0] == 403 and got["kz_kg"][0] == 403
    status, headers, data = got["region_pdf"]
    assert status == 200 and data == render(after["region"], "en", "pdf")
    assert got["none_ru"][0] == 404  # only English editions were made
    assert got["bad_month"][0] == 400

    audit = db.query(f"SELECT token_name, status, rows, detail FROM {db.database}.api_audit "
                     "WHERE path = '/api/v1/bulletins/editions/download' ORDER BY at")
    ok = sorted((str(n), str(d)) for n, s, r, d in audit if s == 200)
    v = after["KZ"].version.digest
    assert ok == sorted([
        ("kz centre", f"edition KZ {MONTH} en pdf: data version {v}"),
        ("kz centre", f"edition KZ {MONTH} en pdf: data version {first['KZ'].version.digest}"),
        ("kz centre", f"edition KZ {MONTH} en html: data version {v}"),
        ("region centre",
         f"edition region {MONTH} en pdf: data version {after['region'].version.digest}")])
    assert sorted(int(s) for _, s, _, _ in audit if s != 200) == [400, 403, 403, 403, 404]
    listed = db.query(f"SELECT count() FROM {db.database}.api_audit "
                      "WHERE path = '/api/v1/bulletins/editions' AND status = 200")
    assert listed[0][0] == 3
