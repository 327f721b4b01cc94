"""``GET /api/v1/routes`` on the real ClickHouse server: flows and country edges equal to
those computed here from the seizures as sent (readers' view: revised, voided, moved);
a KZ token's routes hold only seizures made at KZ posts (never the paired KG post's);
filters, weights and refusals; every call audited."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.api.scope import Scope
from blo.api.tokens import create_token
from sinks.clickhouse import ServerDatabase
from sinks.tables import STATIONS
from tests.integration.api.inprocess import InProcessApi, bearer
from tests.integration.api.route_events import (
    POSTS,
    SENT,
    expected_flows,
    flow_key,
    registry_rows,
    write,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

OCT = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
SCOPES = {"all": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"})),
          "kg": Scope(countries=frozenset({"KG"}))}


def _edges(flows: dict[tuple[Any, ...], tuple[float, int]]) -> dict[tuple[str, str], list[Any]]:
    """Country steps of the expected flows: known countries in route order, a repeat once."""
    out: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0.0, 0])
    for (producing, departure, transit, destination, _), (kg, cases) in flows.items():
        chain: list[str] = []
        for c in (producing, departure, *transit, destination):
            if c and (not chain or chain[-1] != c):
                chain.append(c)
        for a, b in pairwise(chain):
            out[(a, b)][0] += kg
            out[(a, b)][1] += cases
    return {k: [round(v[0], 6), v[1]] for k, v in out.items()}


@pytest.fixture
def api(clickhouse_db: ServerDatabase) -> Any:
    clickhouse_db.insert("stations", STATIONS.column_names, registry_rows())
    write(clickhouse_db, SENT)
    app = InProcessApi(clickhouse_db)
    app.secrets = {k: create_token(clickhouse_db, f"{k} centre", s)[1]  # type: ignore[attr-defined]
                   for k, s in SCOPES.items()}
    yield app
    app.close()


def test_routes_equal_the_seizures_and_respect_the_scope(api: Any,
                                                          clickhouse_db: ServerDatabase) -> None:
    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}

        async def get(name: str, token: str, **q: str) -> None:
            resp = await client.get("/api/v1/routes", params=q,
                                    headers=bearer(api.secrets[token]))
            out[name] = (resp.status, await resp.json())

        await get("all", "all", period="2026-10")
        await get("kz", "kz", period="2026-10")
        await get("kg", "kg", period="2026-10")
        await get("kz_range", "kz", **{"from": "2026-10-01T00:00:00Z",
                                       "to": "2026-11-01T00:00:00Z"})
        await get("kz_heroin_cases", "kz", period="2026-10", drug="heroin", weight="cases")
        await get("kz_one_post", "kz", period="2026-10", station="KZ-KARASU")
        await get("kz_foreign_post", "kz", period="2026-10", station="KG-AK-JOL")
        await get("kz_foreign_country", "kz", period="2026-10", country="TJ")
        await get("all_limit", "all", period="2026-10", limit="2")
        await get("bad", "all", period="2026-13")
        await get("both", "all", period="2026-10", to="2026-11-01T00:00:00Z")
        return out

    got = api.run(body)
    every, kz = set(POSTS), {"KZ-KORDAI", "KZ-KARASU"}
    for name, stations, kwargs in (("all", every, {}), ("kz", kz, {}),
                                   ("kg", {"KG-AK-JOL"}, {}), ("kz_range", kz, {}),
                                   ("kz_heroin_cases", kz, {"drug": "heroin"}),
                                   ("kz_one_post", {"KZ-KARASU"}, {})):
        status, answer = got[name]
        assert status == 200, (name, answer)
        want = expected_flows(SENT, stations, *OCT, **kwargs)
        assert {flow_key(f): (f["kg"], f["cases"]) for f in answer["flows"]} == want, name
        assert sorted(answer["stations"]) == sorted(stations), name
        assert answer["totals"] == {"kg": pytest.approx(sum(v[0] for v in want.values())),
                                    "cases": sum(v[1] for v in want.values()),
                                    "flows": len(want)}
        assert {(e["source"], e["target"]): [e["kg"], e["cases"]]
                for e in answer["edges"]} == _edges(want), name
        weights = [(f["cases"] if answer["weight"] == "cases" else f["kg"])
                   for f in answer["flows"]]
        assert weights == sorted(weights, reverse=True), name
    # the KZ token: seizures at KZ posts only — not the paired KG post's 15 kg of hashish
    kz_flows = {flow_key(f): f["kg"] for f in got["kz"][1]["flows"]}
    assert kz_flows[("", "KG", (), "", "hashish")] == 40.0
    assert got["all"][1]["flows"][0]["kg"] == 55.0  # 40 + 15: both posts
    assert got["all"][1]["flows"][0]["chain"] == ["KG"]
    chain = next(f for f in got["all"][1]["flows"] if f["transit"])
    assert chain["chain"] == ["AF", "TJ", "UZ", "KZ", "RU"]
    assert got["kz"][1]["scope"] == "KZ" and got["kz"][1]["months"] == ["2026-10"]
    assert got["kz_foreign_post"][0] == 403 and got["kz_foreign_country"][0] == 403
    assert got["bad"][0] == 400 and "period" in got["bad"][1]["problems"][0]
    assert got["both"][0] == 400
    status, limited = got["all_limit"]
    assert len(limited["flows"]) == 2 and limited["totals"]["flows"] == \
        len(expected_flows(SENT, every, *OCT))
    audited = clickhouse_db.query(
        f"SELECT query, status, rows FROM {clickhouse_db.database}.api_audit "
        "WHERE path = '/api/v1/routes' ORDER BY at")
    assert len(audited) == 11
    assert ("period=2026-10", 200, len(got["kz"][1]["flows"])) in audited
    assert any(q == "period=2026-10&station=KG-AK-JOL" and s == 403 for q, s, _ in audited)
