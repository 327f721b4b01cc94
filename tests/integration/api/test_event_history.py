"""``GET /api/v1/events/{event_id}/history`` on the real ClickHouse server (18.16), the app
in-process: histories written straight into ``events`` and ``event_revisions``
(tests/integration/api/event_history_rows.py), read back per token scope, with 404 — never
403 — for an event outside the scope, and every call audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from blo.api.scope import Scope
from blo.api.tokens import create_token
from sinks.clickhouse import ServerDatabase
from tests.integration.api.event_history_rows import never_stored, store
from tests.integration.api.inprocess import InProcessApi, bearer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SCOPES = {"all": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"})),
          "kz_customs": Scope(countries=frozenset({"KZ"}), agencies=frozenset({"customs"})),
          "kg": Scope(countries=frozenset({"KG"}))}
Call = tuple[str, str, dict[str, str]]  # token, event id, query


def test_histories_per_scope_and_404_outside_it(
        make_clickhouse_db: Callable[..., ServerDatabase]) -> None:
    db = make_clickhouse_db()
    stored = store(db)
    ids = stored.ids
    secrets = {name: create_token(db, f"history {name}", scope)[1]
               for name, scope in SCOPES.items()}
    api = InProcessApi(db)

    calls: list[Call] = [
        ("all", ids["voided"], {}), ("all", ids["plain"], {}), ("all", ids["corrected"], {}),
        ("all", ids["moved"], {}), ("kz", ids["voided"], {}),
        ("kz", ids["corrected"], {}),  # a TJ event: not in the KZ scope
        ("kz", never_stored(), {}),  # unknown: the same answer
        ("kz", ids["voided"], {"station": "TJ-PYANJ"}),  # a foreign station asked for
        ("kz", ids["voided"], {"station": "KZ-KORDAI"}),
        ("kz_customs", ids["voided"], {}),  # KZ, but a border guard post
        ("kz_customs", ids["plain"], {}),
        ("kg", ids["voided"], {}),  # KZ-KORDAI is KG's paired post: aggregates only
        ("all", "not-a-uuid", {}), ("all", ids["plain"], {"limit": "3"}),
    ]

    async def body(client: TestClient[Any, Any]) -> list[tuple[int, Any]]:
        out = []
        for token, eid, q in calls:
            resp = await client.get(f"/api/v1/events/{eid}/history", params=q,
                                    headers=bearer(secrets[token]))
            out.append((resp.status, await resp.json()))
        resp = await client.get(f"/api/v1/events/{ids['plain']}/history")
        out.append((resp.status, await resp.json()))
        return out

    try:
        answers = api.run(body)  # the app's cleanup flushes the audit rows
    finally:
        api.close()
    (voided, plain, corrected, moved, kz_voided, kz_tj, kz_unknown, kz_foreign_station,
     kz_station, customs_voided, customs_plain, kg_paired, bad_id, bad_param,
     no_token) = answers

    status, v = voided
    assert status == 200, v
    assert (v["event_id"], v["station_id"], v["source"], v["voided"],
            v["current_revision"], v["scope"]) == (
        ids["voided"], "KZ-KORDAI", "event_revisions", True, 2, "all")
    assert [(r["revision"], r["kind"], r["reason"]) for r in v["revisions"]] == [
        (0, "original", ""), (1, "revision", "laboratory weight"),
        (2, "void", "entered twice")]
    assert v["revisions"][1]["changes"] == [{"field": "quantity", "old": 700.0, "new": 770.5}]
    assert v["revisions"][2]["changes"] == []
    assert [r["ingested_at"] for r in v["revisions"]] == [
        "2024-02-14T12:20:00Z", "2024-02-15T12:20:00Z", "2024-02-16T12:20:00Z"]
    assert v["revisions"][0]["occurred_at"] == "2024-02-14T11:20:00Z"
    assert v["revisions"][1]["reported_at"] == "2024-02-15T11:20:00Z"
    assert v["revisions"][1]["event"]["quantity"] == 770.5
    assert len({r["body_hash"] for r in v["revisions"]}) == 3

    status, p = plain
    assert status == 200, p
    assert (p["source"], p["voided"], p["current_revision"]) == ("events", False, 0)
    assert [(r["revision"], r["kind"], r["changes"]) for r in p["revisions"]] == [
        (0, "original", [])]
    assert p["revisions"][0]["event"]["persons"] == 2

    status, c = corrected
    assert status == 200, c
    assert c["revisions"][1]["changes"] == [
        {"field": "duration_min", "old": None, "new": 29.0},
        {"field": "outcome", "old": "nothing_found", "new": "find"}]

    status, m = moved
    assert status == 200, m
    assert [r["occurred_at"] for r in m["revisions"]] == ["2024-02-29T23:00:00Z",
                                                          "2024-03-01T01:00:00Z"]
    assert m["revisions"][1]["changes"] == [
        {"field": "occurred_at", "old": "2024-02-29T23:00:00Z", "new": "2024-03-01T01:00:00Z"}]

    assert kz_voided[0] == 200 and kz_voided[1]["scope"] == "KZ"
    assert kz_voided[1]["revisions"] == v["revisions"]
    assert kz_station[0] == 200 and kz_station[1]["revisions"] == v["revisions"]
    assert customs_plain[0] == 200 and customs_plain[1]["station_id"] == "KZ-KARASU"
    # outside the scope: exactly the answer of an id never stored (nothing leaks)
    for (status, answer), eid in ((kz_tj, ids["corrected"]), (kz_unknown, never_stored()),
                                  (kz_foreign_station, ids["voided"]),
                                  (customs_voided, ids["voided"]),
                                  (kg_paired, ids["voided"])):
        assert status == 404, answer
        assert answer == {"error": f"no event {eid} in this token's scope"}
    assert bad_id[0] == 400 and bad_id[1]["problems"] == ["event_id: not a UUID: 'not-a-uuid'"]
    assert bad_param[0] == 400 and bad_param[1]["problems"][0].startswith("limit: ")
    assert no_token[0] == 401

    audited = db.query(f"SELECT token_name, path, status FROM {db.database}.api_audit "
                       "WHERE path LIKE '/api/v1/events/%' ORDER BY at")
    assert sorted((name, path, status) for name, path, status in audited) == sorted(
        [(f"history {token}", f"/api/v1/events/{eid}/history", status)
         for (token, eid, _), (status, _) in zip(calls, answers, strict=False)]
        + [("", f"/api/v1/events/{ids['plain']}/history", 401)])


def test_the_readers_query_of_docs_corrections_runs_and_follows_corrections(
        make_clickhouse_db: Callable[..., ServerDatabase]) -> None:
    """The ```sql block of docs/corrections.md on 18.16: a voided seizure and a crossing a
    revision moved out of the day (within the month) are not counted; a plain crossing and
    one whose revision moved it into the day are, with their latest persons."""
    import re
    from datetime import timedelta
    from pathlib import Path

    from sinks.tables import EVENTS
    from tests.integration.api.event_history_rows import T0, event_row

    db = make_clickhouse_db()
    store(db)  # the voided seizure of KZ-KORDAI is on 2024-02-14
    day = T0.replace(hour=3)

    def crossing(seq: int, at: Any, **more: Any) -> dict[str, Any]:
        from schemas.identity import derive_event_id
        return {"event_id": str(derive_event_id("KZ-KORDAI", seq)), "schema_version": 1,
                "event_type": "crossing", "station_id": "KZ-KORDAI", "source_seq": seq,
                "occurred_at": at.isoformat(), "reported_at": at.isoformat(),
                "direction": "inbound", "subject": "person", "mode": "road", "persons": 4,
                "vehicles": 1, "document_check": "passed", **more}

    h = timedelta(hours=1)
    plain = crossing(1, day)
    away = crossing(2, day)  # revised to the 20th
    into = crossing(3, day + 100 * h)  # revised into the 14th, persons 6
    rows = [event_row(plain, day + h, 100), event_row(away, day + h, 101),
            event_row({**away, "occurred_at": (day + 150 * h).isoformat(), "revision": 1,
                       "correction_reason": "wrong day"}, day + 200 * h, 102),
            event_row(into, day + 101 * h, 103),
            event_row({**into, "occurred_at": (day + 2 * h).isoformat(), "persons": 6,
                       "revision": 1, "correction_reason": "wrong day"}, day + 200 * h, 104)]
    for r in rows:
        db.insert("events", EVENTS.column_names, [r])
    doc = (Path(__file__).resolve().parents[3] / "docs" / "corrections.md").read_text()
    [sql] = re.findall(r"```sql\n(.*?)```", doc, re.DOTALL)
    assert db.query(sql.replace("blo.", f"{db.database}.")) == [("crossing", 2, 10)]
