"""``GET /api/v1/bulletins`` in-process over the session's ClickHouse server with a week of
simulated traffic: the answer is the bulletin ``blo report bulletin`` makes (same bytes,
same data version); a national token gets its own country's only, the regional bulletin
needs the regional token, an agency-limited token gets none; every call is audited with
the scope, period and the data version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.analytics.bulletin import make, render
from blo.analytics.periods import Period
from blo.api.scope import Scope
from blo.api.tokens import create_token
from sinks.clickhouse import ServerDatabase
from tests.integration.analytics.bulletin_data import simulate
from tests.integration.analytics.test_bulletin_sim import cells_of, reader
from tests.integration.api.inprocess import InProcessApi, bearer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SCOPES = {"region": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"})),
          "kz-customs": Scope(countries=frozenset({"KZ"}), agencies=frozenset({"customs"}))}


def test_bulletins_endpoint_scoped_and_audited(
        make_clickhouse_db: Callable[..., ServerDatabase]) -> None:
    db = make_clickhouse_db()
    loaded = simulate(db, datetime(2026, 9, 30, 12, tzinfo=UTC),
                      datetime(2026, 10, 8, tzinfo=UTC))
    secrets = {k: create_token(db, f"{k} centre", s)[1] for k, s in SCOPES.items()}
    period = Period.parse("2026-10")
    want = {s: make(reader(db), db.database, s, period) for s in ("region", "KZ")}
    app = InProcessApi(db)

    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        got: dict[str, Any] = {}

        async def get(token: str, **q: str) -> tuple[int, dict[str, str], bytes]:
            r = await client.get("/api/v1/bulletins", headers=bearer(secrets[token]),
                                 params={"period": "2026-10", **q})
            return r.status, dict(r.headers), await r.read()

        got["region"] = await get("region", scope="region", format="json")
        got["kz_default"] = await get("kz", format="json", lang="en")
        got["kz_html"] = await get("kz", scope="KZ", lang="en")
        got["kz_pdf"] = await get("kz", scope="kz", format="pdf")
        got["kz_tj"] = await get("kz", scope="TJ")
        got["kz_region"] = await get("kz", scope="region")
        got["agency"] = await get("kz-customs")
        got["bad_period"] = await get("region", period="2026-13")
        got["unknown"] = await get("region", scope="FR")
        return got

    try:
        got = app.run(body)
    finally:
        app.close()
    status, headers, data = got["region"]
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert data == render(want["region"], "ru", "json")
    assert headers["X-BLO-Data-Version"] == want["region"].version.digest
    status, headers, data = got["kz_default"]
    assert status == 200 and data == render(want["KZ"], "en", "json")
    status, headers, data = got["kz_html"]
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert data == render(want["KZ"], "en", "html")
    assert {k.split(".")[1] for k in cells_of(data) if k.startswith("post.")} == {
        "KZ-KORDAI", "KZ-KONYSBAEV"}
    assert not [p.station_id for p in loaded.posts
                if p.country != "KZ" and p.station_id.encode() in data]
    status, headers, data = got["kz_pdf"]
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert data.startswith(b"%PDF") and data == render(want["KZ"], "ru", "pdf")
    assert got["kz_tj"][0] == 403 and b"outside this token's scope" in got["kz_tj"][2]
    assert got["kz_region"][0] == 403 and b"regional token" in got["kz_region"][2]
    assert got["agency"][0] == 403 and b"agencies" in got["agency"][2]
    assert got["bad_period"][0] == 400
    assert got["unknown"][0] == 404

    audit = db.query(f"SELECT token_name, query, status, rows, detail FROM "
                     f"{db.database}.api_audit WHERE path = '/api/v1/bulletins' ORDER BY at")
    assert len(audit) == len(got)
    ok = [(str(n), str(q), int(r), str(d)) for n, q, s, r, d in audit if s == 200]
    assert ("region centre", "format=json&period=2026-10&scope=region", 16,
            f"bulletin region 2026-10 ru json: data version {want['region'].version.digest}"
            ) in [(n, "&".join(sorted(q.split("&"))), r, d) for n, q, r, d in ok]
    assert sum(1 for n, _, r, d in ok if n == "kz centre" and r == 2
               and want["KZ"].version.digest in d) == 3
    assert sorted(int(s) for _, _, s, _, _ in audit if s != 200) == [400, 403, 403, 403, 404]
