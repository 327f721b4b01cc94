"""Alerts as signal, on the real ClickHouse server (18.16): exact totals and counts with
well over 200 (and 1000) alerts, every filter, both sorts, paging and grouping, mutes
(created, listed, ended, scoped, audited) through the in-process API, and — through the real
alert runtime and a real webhook receiver — a muted alert stored but not notified.

The expected figures are computed here from the rows the test inserted, with the scope's
pure visibility rule (:func:`blo.api.scope.alert_visible`) and the pure mute matcher
(:func:`streams.alerts.mutes.muting`), never with the API's SQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from blo.api.scope import Scope, StationInfo, alert_visible, visibility
from blo.api.tokens import create_token
from blo.metrics import Metrics
from blo.settings import AlertSettings, BatchSettings
from schemas.alert_input import Acknowledgement, MuteRequest, decode, mute_record
from sinks.batching import BatchingSink
from sinks.clickhouse import ServerDatabase
from sinks.tables import ALERT_MUTES, ALERTS, STATIONS, WINDOW_STATS
from streams.alert_input import WINDOW_ROW_WIDTH, window_input_records
from streams.alert_runtime import AlertRuntime
from streams.alerts.mutes import Mute, muting, scope_of
from streams.alerts.rows import Alert
from streams.registry_reader import station_row
from streams.windows import WindowConfig
from tests.integration.api.inprocess import InProcessApi, bearer, first_snapshot
from tests.integration.streams.alert_scenario import WebhookReceiver
from tests.unit.streams.alerts.factories import wrow
from tests.unit.streams.test_ingest import station

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NOW = datetime.now(UTC).replace(microsecond=0)
T_NOW = int(NOW.timestamp())
# station → (country, neighbour, agency, paired BLO)
POSTS = {
    "KZ-KORDAI": ("KZ", "KG", "border_guard", "KG-AK-JOL"),
    "KZ-KARASU": ("KZ", "KG", "customs", None),
    "KG-AK-JOL": ("KG", "KZ", "customs", "KZ-KORDAI"),
    "TJ-PYANJ": ("TJ", "AF", "joint", "AF-SHERKHAN"),
    "AF-SHERKHAN": ("AF", "TJ", "border_guard", "TJ-PYANJ"),
    "TJ-DUSHANBE-AIRPORT": ("TJ", None, "customs", None),
}
RECORDS = [station(s, country=c, neighbour_country=n, agency=a, paired_blo=p)
           for s, (c, n, a, p) in POSTS.items()]
PLACES = {r.station_id: (r.country, r.border) for r in RECORDS}
INFOS = [StationInfo(r.station_id, r.country, r.agency, r.border, r.paired_blo or "")
         for r in RECORDS]
TOKENS = {"all": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"})),
          "kgkz": Scope(countries=frozenset({"KG", "KZ"}))}
N_ALERTS = 1300


def _alerts(rng: random.Random) -> tuple[list[Alert], list[Alert]]:
    """``N_ALERTS`` alerts of every scope (station, gap, pair, country, border, all), each
    with a distinct fired_at; and the second versions of some of them."""
    stations = list(POSTS)
    pairs = ["KG-AK-JOL+KZ-KORDAI", "AF-SHERKHAN+TJ-PYANJ"]
    first, second = [], []
    for i in range(N_ALERTS):
        kind = rng.choice(["station", "station", "gap", "gap", "pair", "country", "border",
                           "all"])
        st = rng.choice(stations)
        scope, key, sid, rule = {
            "station": ("station", st, st, rng.choice(["seizure-kg-station-1h",
                                                       "station-silence-30m"])),
            "gap": ("station", f"{st}:{i}-{i + 3}", st, "sequence-gap"),
            "pair": ("pair", rng.choice(pairs), "", "paired-seizure-incident-6h"),
            "country": ("country", PLACES[st][0], "", "refusals-country-day"),
            "border": ("border", rng.choice(["KG-KZ", "AF-TJ"]), "", "opiates-border-day"),
            "all": ("all", "all", "", "events-all-day"),
        }[kind]
        fired = T_NOW - 86400 * 3 + i * 97
        a = Alert(alert_id=uuid.uuid4(), version=1, rule_id=rule, rule_name=rule.title(),
                  kind="threshold", severity=rng.choice(["info", "warning", "warning",
                                                         "critical"]),
                  state="firing", scope=scope, scope_key=key, station_id=sid, window_kind="",
                  window_start=0, window_end=0, value=1.0, threshold=1.0, provisional=False,
                  message=f"alert {i}", labels=(), fired_at=fired, resolved_at=0, acked=False,
                  acked_by="", acked_at=0, ack_comment="", updated_at=fired)
        first.append(a)
        roll = rng.random()
        if roll < 0.3:
            second.append(a.next_version(state="resolved", resolved_at=fired + 60,
                                         updated_at=fired + 60))
        elif roll < 0.45:
            second.append(a.next_version(acked=True, acked_by="duty", acked_at=fired + 30,
                                         updated_at=fired + 30))
    return first, second


def _mute(rule: str, key: str, start: int, length: int, **kw: Any) -> Mute:
    return Mute(str(uuid.uuid4()), 1, rule, scope_of(key), key, f"reason {rule}/{key}",
                "duty", start, start + length, updated_at=start, **kw)


MUTES = [
    _mute("sequence-gap", "KZ", T_NOW - 600, 6 * 3600),  # active
    _mute("", "AF-TJ", T_NOW - 60, 3600),  # active: everything across and on AF-TJ
    _mute("", "KG-AK-JOL", T_NOW - 7200, 3600),  # expired by itself
    _mute("events-all-day", "", T_NOW - 30, 600),  # active, everywhere
    _mute("", "KZ-KARASU", T_NOW - 300, 3600, expired_by="chief",
          expired_at=T_NOW - 100),  # ended early (its ends_at set back below)
]
MUTES[4] = dataclasses.replace(MUTES[4], ends_at=T_NOW - 100, version=2)


@dataclass
class World:
    db: ServerDatabase
    alerts: list[dict[str, Any]]  # current versions
    secrets: dict[str, str] = field(default_factory=dict)
    api: InProcessApi | None = None

    def run(self, body: Callable[[TestClient[Any, Any]], Any]) -> Any:
        assert self.api is not None
        return self.api.run(body)


@pytest.fixture
def world(clickhouse_db: ServerDatabase) -> Iterator[World]:
    db = clickhouse_db
    db.insert("stations", STATIONS.column_names, [station_row(r, NOW) for r in RECORDS])
    first, second = _alerts(random.Random(14))
    db.insert("alerts", ALERTS.column_names, [a.row() for a in first])
    db.insert("alerts", ALERTS.column_names, [a.row() for a in second])
    db.insert("alert_mutes", ALERT_MUTES.column_names, [m.row() for m in MUTES])
    latest = {a.alert_id: a for a in first} | {a.alert_id: a for a in second}
    docs = [{"alert_id": str(a.alert_id), "rule_id": a.rule_id, "severity": a.severity,
             "state": a.state, "scope": a.scope, "scope_key": a.scope_key,
             "station_id": a.station_id, "fired_at": a.fired_at, "acked": a.acked}
            for a in latest.values()]
    w = World(db, docs)
    for name, scope in TOKENS.items():
        w.secrets[name] = create_token(db, f"signal {name}", scope)[1]
    w.api = InProcessApi(db, clock=lambda: NOW)
    yield w
    w.api.close()


# -- the oracle -------------------------------------------------------------------------------
RANK = {"info": 0, "warning": 1, "critical": 2}


def mute_of(a: dict[str, Any]) -> Mute | None:
    return muting(MUTES, a["rule_id"], a["scope"], a["scope_key"], a["station_id"], PLACES,
                  T_NOW)


def about_country(a: dict[str, Any], c: str) -> bool:
    if a["scope"] == "station":
        return PLACES.get(a["station_id"], ("", ""))[0] == c
    if a["scope"] == "pair":
        return any(PLACES[s][0] == c for s in a["scope_key"].split("+"))
    if a["scope"] == "country":
        return a["scope_key"] == c
    return bool(a["scope"] == "border" and c in a["scope_key"].split("-"))


def expected(w: World, token: str, q: dict[str, str]) -> list[dict[str, Any]]:
    scope = TOKENS[token]
    v = visibility(scope, INFOS)
    out = []
    for a in w.alerts:
        if not alert_visible(scope, v, a):
            continue
        if q.get("open") == "true" and a["state"] != "firing":
            continue
        if "state" in q and a["state"] != q["state"]:
            continue
        if "severity" in q and a["severity"] not in q["severity"].split(","):
            continue
        if "rule" in q and a["rule_id"] != q["rule"]:
            continue
        if "acknowledged" in q and a["acked"] != (q["acknowledged"] == "true"):
            continue
        if "station" in q and not (a["station_id"] == q["station"]
                                   or q["station"] in a["scope_key"].split("+")):
            continue
        if "country" in q and not about_country(a, q["country"]):
            continue
        if "muted" in q and (mute_of(a) is not None) != (q["muted"] == "true"):
            continue
        out.append(a)
    if q.get("sort") == "time":
        out.sort(key=lambda a: -a["fired_at"])
    else:
        out.sort(key=lambda a: (mute_of(a) is not None, -RANK[a["severity"]], -a["fired_at"]))
    return out


def expected_counts(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    sev = ("critical", "warning", "info")

    def by_sev(xs: list[dict[str, Any]]) -> dict[str, int]:
        return {s: sum(a["severity"] == s for a in xs) for s in sev}

    firing = [a for a in alerts if a["state"] == "firing"]
    open_ = [a for a in firing if mute_of(a) is None]
    open_muted = [a for a in firing if mute_of(a) is not None]
    return {"alerts": len(alerts), "by_severity": by_sev(alerts),
            "by_state": {"firing": len(firing), "resolved": len(alerts) - len(firing)},
            "by_ack": {"acked": sum(a["acked"] for a in alerts),
                       "unacked": sum(not a["acked"] for a in alerts)},
            "muted": sum(mute_of(a) is not None for a in alerts),
            "open": {"total": len(open_), **by_sev(open_)},
            "open_muted": {"total": len(open_muted), **by_sev(open_muted)}}


async def get(client: TestClient[Any, Any], secret: str, path: str,
              params: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = await client.get(path, params=params or {}, headers=bearer(secret))
    return resp.status, await resp.json()


QUERIES: list[dict[str, str]] = [
    {}, {"open": "true"}, {"state": "resolved"}, {"severity": "critical"},
    {"severity": "critical,warning", "acknowledged": "false"}, {"acknowledged": "true"},
    {"rule": "sequence-gap"}, {"country": "KZ"}, {"station": "KZ-KORDAI"},
    {"muted": "true"}, {"muted": "false", "open": "true"}, {"sort": "time"},
    {"country": "KZ", "severity": "warning", "open": "true", "sort": "time"},
    {"rule": "paired-seizure-incident-6h", "muted": "true"},
]


# -- counts, filters, sorting, paging ---------------------------------------------------------
def test_totals_counts_and_pages_are_exact_for_every_filter(world: World) -> None:
    w = world

    async def body(client: TestClient[Any, Any]) -> None:
        for token, scope in TOKENS.items():
            for q in QUERIES:
                if "country" in q and not scope.all and q["country"] not in scope.countries:
                    continue
                want = expected(w, token, q)
                status, got = await get(client, w.secrets[token], "/api/v1/alerts",
                                        {**q, "limit": "40"})
                assert status == 200, (token, q, got)
                assert got["total"] == len(want), (token, q)
                assert got["counts"] == expected_counts(want), (token, q)
                assert [a["alert_id"] for a in got["alerts"]] == \
                    [a["alert_id"] for a in want[:40]], (token, q)
                for a in got["alerts"]:
                    m = mute_of(next(x for x in want if x["alert_id"] == a["alert_id"]))
                    assert (a["muted"] or {}).get("mute_id") == (m and m.mute_id)
                # the next page continues where this one ended
                status, page2 = await get(client, w.secrets[token], "/api/v1/alerts",
                                          {**q, "limit": "40", "offset": "40"})
                assert [a["alert_id"] for a in page2["alerts"]] == \
                    [a["alert_id"] for a in want[40:80]], (token, q)
                assert page2["total"] == len(want)

    w.run(body)
    assert len(expected(w, "all", {})) == N_ALERTS > 1000
    assert len(expected(w, "kz", {"open": "true"})) > 200


def test_the_page_is_at_most_1000_and_the_total_still_exact(world: World) -> None:
    w = world

    async def body(client: TestClient[Any, Any]) -> None:
        status, got = await get(client, w.secrets["all"], "/api/v1/alerts", {"limit": "1001"})
        assert status == 400 and "at most 1000 per page" in got["problems"][0]
        status, got = await get(client, w.secrets["all"], "/api/v1/alerts", {"limit": "1000"})
        assert status == 200 and len(got["alerts"]) == 1000 and got["total"] == N_ALERTS
        status, got = await get(client, w.secrets["kz"], "/api/v1/alerts",
                                {"country": "TJ"})
        assert status == 403

    w.run(body)


def test_grouping_by_rule_and_scope(world: World) -> None:
    w = world

    def groups(token: str, q: dict[str, str]) -> list[dict[str, Any]]:
        by: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for a in expected(w, token, q):
            key = a["station_id"] if a["scope"] == "station" else a["scope_key"]
            by.setdefault((a["rule_id"], key), []).append(a)
        out = []
        for (rule, key), xs in by.items():
            out.append({"rule_id": rule, "scope_key": key, "count": len(xs),
                        "firing": sum(a["state"] == "firing" for a in xs),
                        "acked": sum(a["acked"] for a in xs),
                        "muted": sum(mute_of(a) is not None for a in xs),
                        "worst": max(RANK[a["severity"]] for a in xs),
                        "first": min(a["fired_at"] for a in xs),
                        "latest": max(a["fired_at"] for a in xs),
                        "latest_id": max(xs, key=lambda a: a["fired_at"])["alert_id"]})
        out.sort(key=lambda g: (-g["worst"], -g["latest"]))
        return out

    async def body(client: TestClient[Any, Any]) -> None:
        for token, q in (("all", {}), ("kz", {}), ("all", {"open": "true"}),
                         ("kgkz", {"rule": "sequence-gap"})):
            want = groups(token, q)
            status, got = await get(client, w.secrets[token], "/api/v1/alerts",
                                    {**q, "group": "rule_scope", "limit": "1000"})
            assert status == 200, got
            assert got["total"] == len(want) and got["group"] == "rule_scope"
            assert got["counts"]["alerts"] == sum(g["count"] for g in want)
            names = ("worst_severity", "first_fired_at", "latest_fired_at")
            assert [(g["rule_id"], g["scope_key"], g["count"], g["firing"], g["acked"],
                     g["muted"], g["latest_alert_id"]) for g in got["groups"]] == [
                (g["rule_id"], g["scope_key"], g["count"], g["firing"], g["acked"],
                 g["muted"], g["latest_id"]) for g in want], token
            for g, e in zip(got["groups"], want, strict=True):
                assert [g[n] for n in names] == [
                    ("info", "warning", "critical")[e["worst"]],
                    _iso(e["first"]), _iso(e["latest"])]
        # gaps of one station are one group however many there are
        status, got = await get(client, w.secrets["all"], "/api/v1/alerts",
                                {"group": "rule_scope", "rule": "sequence-gap"})
        assert {g["scope_key"] for g in got["groups"]} <= set(POSTS)

    w.run(body)


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_live_feed_counts_every_open_alert(world: World) -> None:
    w = world

    async def body(client: TestClient[Any, Any]) -> None:
        for token in TOKENS:
            want = expected(w, token, {"open": "true"})
            counts = expected_counts(want)
            snap = await first_snapshot(client, w.secrets[token])
            assert snap["alerts_open"] == counts["open"]["total"] > 50
            assert snap["alerts_counts"]["open"] == counts["open"]
            assert snap["alerts_counts"]["open_muted"] == counts["open_muted"]
            assert [a["alert_id"] for a in snap["alerts"]] == \
                [a["alert_id"] for a in want[:50]]
            worst: dict[str, int] = {}
            for a in want:
                if mute_of(a) is not None:
                    continue
                for s in (a["station_id"], *a["scope_key"].split("+")):
                    if s in {x["station_id"] for x in snap["stations"]}:
                        worst[s] = max(worst.get(s, -1), RANK[a["severity"]])
            assert {s["station_id"]: s["alert"] for s in snap["stations"]} == {
                s["station_id"]: ("info", "warning", "critical")[worst[s["station_id"]]]
                if s["station_id"] in worst else None for s in snap["stations"]}

    w.run(body)


# -- mutes through the API --------------------------------------------------------------------
def test_mutes_are_listed_created_ended_scoped_and_audited(world: World) -> None:
    w = world
    assert w.api is not None
    sent = w.api.acks

    async def body(client: TestClient[Any, Any]) -> None:
        h = {n: bearer(s) for n, s in w.secrets.items()}
        # listing: active first (ending last first), then ended; a national token sees the
        # mutes that may mute its alerts
        status, got = await get(client, w.secrets["all"], "/api/v1/alerts/mutes")
        assert status == 200
        assert [(m["mute_id"], m["status"]) for m in got["mutes"]] == [
            (MUTES[0].mute_id, "active"), (MUTES[1].mute_id, "active"),
            (MUTES[3].mute_id, "active"), (MUTES[4].mute_id, "unmuted"),
            (MUTES[2].mute_id, "expired")]
        assert got["mutes"][3]["expired_by"] == "chief"
        status, got = await get(client, w.secrets["kz"], "/api/v1/alerts/mutes",
                                {"active": "true"})
        assert [m["mute_id"] for m in got["mutes"]] == [MUTES[0].mute_id, MUTES[3].mute_id]

        # creating: within the token's countries only
        cases = [("kz", {"rule": "sequence-gap", "scope": "KZ-KORDAI"}, 200),
                 ("kz", {"scope": "KZ"}, 200),
                 ("kz", {"scope": "KG-KZ"}, 403),  # the KG side's alerts too
                 ("kgkz", {"scope": "KG-KZ"}, 200),
                 ("kz", {"rule": "sequence-gap"}, 403),  # every country's
                 ("kz", {"scope": "TJ-PYANJ"}, 403),
                 ("all", {"scope": "NO-SUCH-POST"}, 400),
                 ("all", {"scope": "A+B"}, 400),
                 ("all", {"rule": "events-all-day"}, 200)]
        created = []
        for token, what, status_ in cases:
            before = len(sent)
            resp = await client.post("/api/v1/alerts/mutes", headers=h[token], json={
                **what, "duration": "6h", "reason": "road works"})
            assert resp.status == status_, (token, what, await resp.text())
            if status_ != 200:
                assert len(sent) == before  # nothing sent
                continue
            doc = await resp.json()
            [(topic, _, value)] = sent[before:]
            req = decode(value.encode(), window_row_width=WINDOW_ROW_WIDTH)
            assert isinstance(req, MuteRequest) and req.op == "create"
            assert (req.rule_id, req.scope_key, req.for_s, req.reason) == (
                what.get("rule", ""), what.get("scope", ""), 21600, "road works")
            assert w.api is not None and topic == w.api.settings.kafka.topic_alert_input
            assert doc["mute"]["mute_id"] == req.mute_id
            assert doc["mute"]["ends_at"] == _iso(T_NOW + 21600)
            created.append(req.mute_id)
        resp = await client.post("/api/v1/alerts/mutes", headers=h["all"], json={
            "scope": "KZ", "duration": "45d", "reason": "x"})
        assert resp.status == 400 and "at most 30 days" in await resp.text()

        # ending: a visible, active mute the token may create
        assert (await client.delete(f"/api/v1/alerts/mutes/{MUTES[1].mute_id}",
                                    headers=h["kz"])).status == 404  # AF-TJ: not its own
        assert (await client.delete(f"/api/v1/alerts/mutes/{MUTES[3].mute_id}",
                                    headers=h["kz"])).status == 403  # everywhere
        assert (await client.delete(f"/api/v1/alerts/mutes/{MUTES[2].mute_id}",
                                    headers=h["all"])).status == 409  # expired
        assert (await client.delete(f"/api/v1/alerts/mutes/{uuid.uuid4()}",
                                    headers=h["all"])).status == 404
        before = len(sent)
        resp = await client.delete(f"/api/v1/alerts/mutes/{MUTES[0].mute_id}",
                                   headers=h["kz"])
        assert resp.status == 200, await resp.text()
        [(_, _, value)] = sent[before:]
        req = decode(value.encode(), window_row_width=WINDOW_ROW_WIDTH)
        assert isinstance(req, MuteRequest)
        assert (req.op, req.mute_id, req.by.startswith("signal kz")) == (
            "expire", MUTES[0].mute_id, True)

    w.run(body)  # its cleanup flushes the audit rows
    rows = w.db.query(f"SELECT method, path, status, detail FROM {w.db.database}.api_audit "
                      "WHERE path LIKE '/api/v1/alerts/mutes%' AND method != 'GET' "
                      "ORDER BY at, detail")
    writes = [(str(m), int(s), str(d)) for m, _, s, d in rows]
    assert sum(s == 200 for _, s, _ in writes) == 5  # four mutes and an unmute
    assert any(m == "POST" and s == 200 and d.startswith("mute ")
               and "rule sequence-gap, scope KZ-KORDAI, for 6 h: road works" in d
               for m, s, d in writes)
    assert any(m == "POST" and s == 200 and "scope KZ, for 6 h: road works" in d
               for m, s, d in writes)
    assert any(m == "DELETE" and s == 200 and d.startswith(f"unmute {MUTES[0].mute_id}")
               for m, s, d in writes)
    assert sum(s == 403 for _, s, _ in writes) >= 4  # refusals are audited too


def test_bulk_acks_send_exactly_what_the_list_shows_and_every_ack_is_audited(
        world: World) -> None:
    w = world
    assert w.api is not None
    sent = w.api.acks
    one = expected(w, "kz", {"station": "KZ-KORDAI", "acknowledged": "false"})[0]
    dry_q = {"rule": "sequence-gap", "country": "KZ"}
    real_q = {"station": "KZ-KORDAI", "severity": "critical"}
    dry_ids = {a["alert_id"] for a in expected(w, "kz", dry_q | {"acknowledged": "false"})}
    real_ids = {a["alert_id"] for a in expected(w, "kz", real_q | {"acknowledged": "false"})}
    assert dry_ids and real_ids

    async def body(client: TestClient[Any, Any]) -> None:
        h = bearer(w.secrets["kz"])
        resp = await client.post(f"/api/v1/alerts/{one['alert_id']}/ack", headers=h,
                                 json={"comment": "patrol sent"})
        assert resp.status == 200, await resp.text()
        before = len(sent)
        resp = await client.post("/api/v1/alerts/ack", headers=h,
                                 json={**dry_q, "dry_run": True, "comment": "import"})
        assert resp.status == 200, await resp.text()
        assert set((await resp.json())["alert_ids"]) == dry_ids and len(sent) == before
        resp = await client.post("/api/v1/alerts/ack", headers=h,
                                 json={**real_q, "comment": "seen"})
        assert resp.status == 200, await resp.text()
        assert set((await resp.json())["alert_ids"]) == real_ids
        acked = [decode(v.encode(), window_row_width=WINDOW_ROW_WIDTH) for _, _, v in
                 sent[before:]]
        assert {a.alert_id for a in acked if isinstance(a, Acknowledgement)} == real_ids

    w.run(body)  # its cleanup flushes the audit rows
    rows = w.db.query(f"SELECT path, status, rows, detail FROM {w.db.database}.api_audit "
                      "WHERE path LIKE '/api/v1/alerts/%ack' ORDER BY at, detail")
    got = {str(d): (str(p), int(s), int(n)) for p, s, n, d in rows}
    assert got[f"ack {one['alert_id']}: patrol sent"] == (
        f"/api/v1/alerts/{one['alert_id']}/ack", 200, 1)
    assert got[f"bulk ack (dry run): {len(dry_ids)} alerts (rule sequence-gap, country KZ): "
               "import"] == ("/api/v1/alerts/ack", 200, len(dry_ids))
    assert got[f"bulk ack: {len(real_ids)} alerts (severity critical, station KZ-KORDAI): "
               "seen"] == ("/api/v1/alerts/ack", 200, len(real_ids))


# -- a muted alert is stored, never notified ----------------------------------------------------
def _faust_event(value: bytes, offset: int) -> Any:
    return SimpleNamespace(value=value, message=SimpleNamespace(
        topic="alert-input", partition=0, offset=offset))


def test_a_muted_alert_is_stored_and_listed_but_not_notified(
        clickhouse_db: ServerDatabase, tmp_path: Any) -> None:
    """The real runtime (engine, sink, webhook notifier) on the real server: a mute record
    on the input, then seizures at two posts: both alerts stored, only the unmuted one
    POSTed to the receiver; after the unmute, the muted alert's acknowledgement is."""
    from schemas.alert_input import ack_record
    from tests.unit.streams.test_ingest import STATIONS as INGEST_POSTS
    from tests.unit.streams.test_ingest import registry

    db = clickhouse_db
    db.insert("stations", STATIONS.column_names,
              [station_row(station(s), NOW) for s in INGEST_POSTS])  # registry() as stored
    receiver = WebhookReceiver()
    t0 = (T_NOW // 3600 - 3) * 3600
    now = float(t0 + 2 * 3600)
    rows = [wrow(t0, station="TJ-PYANJ", event_type="seizure", dimension="heroin",
                 seizure_kg=60.0, version=1),
            wrow(t0, station="KZ-KORDAI", event_type="seizure", dimension="heroin",
                 seizure_kg=70.0, version=1)]
    mute_id = str(uuid.uuid4())
    inputs = [mute_record(MuteRequest(mute_id, "create", "seizure-kg-station-1h", "TJ",
                                      3600, "exercise at the post", "duty", now - 10))[1],
              *(v for _, v in window_input_records(rows))]

    def runtime() -> tuple[AlertRuntime, BatchingSink]:
        sink = BatchingSink(db, BatchSettings(), Metrics(), close_db=False)
        rt = AlertRuntime(settings=AlertSettings(webhook_url=receiver.url),
                          window_config=WindowConfig(), registry=registry(), sink=sink,
                          database=db.database, metrics=Metrics(), produce=_no_produce,
                          alerts_topic=None, raw_partitions=1, clock=lambda: now)
        return rt, sink

    async def ignore(h: Any) -> None:
        pass

    async def first() -> None:
        rt, sink = runtime()
        await rt.restore()
        await rt.handle([_faust_event(v, i) for i, v in enumerate(inputs)], ignore)
        await sink.flush()
        await rt.close()  # lets the notifier deliver what it holds
        await sink.close()

    try:
        asyncio.run(first())
        db.insert("window_stats", WINDOW_STATS.column_names, rows)  # as the worker stores them
        stored = {str(r[1]): str(r[0]) for r in db.query(
            f"SELECT toString(alert_id), station_id FROM {db.database}.alerts FINAL "
            "WHERE rule_id = 'seizure-kg-station-1h'")}
        assert set(stored) == {"TJ-PYANJ", "KZ-KORDAI"}  # the muted one is stored too
        [m] = [Mute.from_row(r) for r in db.query(
            f"SELECT * FROM {db.database}.alert_mutes FINAL")]
        assert (m.mute_id, m.scope, m.created_at, m.ends_at) == (
            mute_id, "country", int(now) - 10, int(now) - 10 + 3600)
        notified = {doc["station_id"] for doc in
                    (orjson.loads(p.body) for p in receiver.snapshot())}
        assert notified == {"KZ-KORDAI"}

        # the API shows it muted, and counts it apart
        api = InProcessApi(db, clock=lambda: datetime.fromtimestamp(now, UTC))
        secret = create_token(db, "signal webhook", Scope(all=True))[1]

        async def listing(client: TestClient[Any, Any]) -> dict[str, Any]:
            return (await get(client, secret, "/api/v1/alerts",
                              {"rule": "seizure-kg-station-1h"}))[1]  # type: ignore[no-any-return]

        got = api.run(listing)
        api.close()
        muted = {a["station_id"]: a["muted"] for a in got["alerts"]}
        assert muted["KZ-KORDAI"] is None
        assert muted["TJ-PYANJ"]["mute_id"] == mute_id
        assert muted["TJ-PYANJ"]["reason"] == "exercise at the post"
        assert got["counts"]["open"]["total"] == 1 and got["counts"]["open_muted"]["total"] == 1
        # the muted alert comes after the unmuted one, whatever its fired_at
        assert [a["station_id"] for a in got["alerts"]] == ["KZ-KORDAI", "TJ-PYANJ"]

        # after the unmute (read again after a restart: restored from the table), a new
        # version of the once muted alert is notified
        later = [mute_record(MuteRequest(mute_id, "expire", "", "", 0, "", "chief", now))[1],
                 ack_record(stored["TJ-PYANJ"], "duty", "seen", now)[1]]

        async def second() -> None:
            rt, sink = runtime()
            await rt.restore()
            assert rt.mutes.mutes[mute_id].active(now - 1)
            await rt.handle([_faust_event(v, 100 + i) for i, v in enumerate(later)], ignore)
            await sink.flush()
            await rt.close()
            await sink.close()

        asyncio.run(second())
        [ended] = [Mute.from_row(r) for r in db.query(
            f"SELECT * FROM {db.database}.alert_mutes FINAL")]
        assert (ended.version, ended.expired_by, ended.status(now)) == (2, "chief", "unmuted")
        acked = [doc for doc in (orjson.loads(p.body) for p in receiver.snapshot())
                 if doc["station_id"] == "TJ-PYANJ"]
        assert [(d["version"], d["acked"]) for d in acked] == [(2, True)]
    finally:
        receiver.close()


async def _no_produce(topic: str, key: bytes, value: bytes) -> None:
    raise AssertionError("no topic configured, nothing may be produced")
