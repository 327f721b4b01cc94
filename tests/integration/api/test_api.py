"""The query API on the real ClickHouse server: every endpoint, scopes, tokens, audit.

The app runs in-process (aiohttp's test server) over a real ``ServerDatabase``; the
acknowledgement endpoint sends to a real topic on the session broker. Expected figures are
computed here from the rows the test wrote, not by the API's code.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from blo.api.app import build_api
from blo.api.scope import Scope
from blo.api.tokens import create_token, revoke_token
from blo.localservices.tansu import TansuBroker
from blo.settings import load_settings
from schemas.alert_input import Acknowledgement, decode
from sinks.clickhouse import ServerDatabase
from sinks.tables import ALERTS, STATIONS, WINDOW_STATS
from streams.alert_input import WINDOW_ROW_WIDTH
from tests.integration.api.inprocess import InProcessApi, first_snapshot
from tests.unit.streams.alerts.factories import wrow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
H = 3600
# station → (country, agency, border, paired BLO)
POSTS = {
    "KZ-KORDAI": ("KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
    "KZ-KARASU": ("KZ", "customs", "KG-KZ", ""),
    "KG-AK-JOL": ("KG", "customs", "KG-KZ", "KZ-KORDAI"),
    "TJ-PYANJ": ("TJ", "joint", "AF-TJ", "AF-SHERKHAN"),
    "AF-SHERKHAN": ("AF", "border_guard", "AF-TJ", "TJ-PYANJ"),
}
EVENTS_PER_HOUR = {"KZ-KORDAI": 7, "KZ-KARASU": 3, "KG-AK-JOL": 5, "TJ-PYANJ": 11,
                   "AF-SHERKHAN": 2}


def _station_rows() -> list[tuple[Any, ...]]:
    rows = []
    for sid, (country, agency, border, paired) in POSTS.items():
        rows.append((sid, datetime(2018, 1, 1, tzinfo=UTC), sid.title(), country, agency,
                     sid, border.replace(country, "").strip("-"), border, paired, 40.0, 70.0,
                     "Asia/Almaty", "test", 1, 1, NOW))
    return rows


def _window_rows() -> list[tuple[Any, ...]]:
    """Three past hours of crossings per post (1h windows) and one heroin seizure hour."""
    rows = []
    for sid, n in EVENTS_PER_HOUR.items():
        country, _, border, _ = POSTS[sid]
        for h in (1, 2, 3):
            r = dict(zip(WINDOW_STATS.column_names, wrow(
                int((NOW - timedelta(hours=h)).timestamp()), station="TJ-PYANJ",
                event_type="crossing", dimension="", events=n, persons=2 * n, version=1),
                strict=True))
            r.update(station_id=sid, country=country, border=border)
            rows.append(tuple(r[c] for c in WINDOW_STATS.column_names))
        # and a minute of the last hour (what the live snapshot sums)
        minute = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
        r = dict(zip(WINDOW_STATS.column_names, wrow(
            int(minute.timestamp()), 60, kind="1m", station="TJ-PYANJ", event_type="crossing",
            dimension="", events=n, version=1), strict=True))
        r.update(station_id=sid, country=country, border=border)
        rows.append(tuple(r[c] for c in WINDOW_STATS.column_names))
    r = dict(zip(WINDOW_STATS.column_names, wrow(
        int((NOW - timedelta(hours=2)).timestamp()), station="TJ-PYANJ", event_type="seizure",
        dimension="heroin", events=1, seizure_kg=12.5, version=1), strict=True))
    rows.append(tuple(r[c] for c in WINDOW_STATS.column_names))
    return rows


def _alert_rows() -> list[tuple[Any, ...]]:
    base = dict.fromkeys(ALERTS.column_names, 0)
    t = NOW - timedelta(hours=1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    base.update(version=1, rule_name="r", kind="threshold", severity="warning",
                state="firing", window_kind="1h", window_start=t, window_end=t, message="m",
                labels=[], fired_at=t, resolved_at=epoch, acked_by="", acked_at=epoch,
                ack_comment="", updated_at=t, messages="")
    specs = {  # name → (scope, scope_key, station_id)
        "tj-station": ("station", "TJ-PYANJ", "TJ-PYANJ"),
        "kz-station": ("station", "KZ-KORDAI", "KZ-KORDAI"),
        "kz-country": ("country", "KZ", ""),
        "af-tj-border": ("border", "AF-TJ", ""),
        "kg-kz-border": ("border", "KG-KZ", ""),
        "all": ("all", "all", ""),
        "kz-kg-pair": ("pair", "KG-AK-JOL+KZ-KORDAI", ""),
    }
    rows = []
    for name, (scope, key, station) in specs.items():
        a = dict(base, alert_id=uuid.uuid5(uuid.NAMESPACE_URL, name), rule_id=name,
                 scope=scope, scope_key=key, station_id=station)
        rows.append(tuple(a[c] for c in ALERTS.column_names))
    return rows


ALERT_ID = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in (
    "tj-station", "kz-station", "kz-country", "af-tj-border", "kg-kz-border", "all",
    "kz-kg-pair")}


class Api(InProcessApi):
    """The app over the test database, with tokens of each kind; acknowledgements go to
    ``topic`` on the session broker."""

    def __init__(self, db: ServerDatabase, bootstrap: str, topic: str) -> None:
        super().__init__(db, settings=load_settings(
            kafka={"bootstrap": bootstrap, "topic_alert_input": topic}), kafka=True)
        self.db = db
        self.topic = topic
        self.bootstrap = bootstrap
        self.tokens = {
            "kz": create_token(db, "KZ centre", Scope(countries=frozenset({"KZ"})))[1],
            "kz_customs": create_token(db, "KZ customs", Scope(
                countries=frozenset({"KZ"}), agencies=frozenset({"customs"})))[1],
            "tj": create_token(db, "TJ centre", Scope(countries=frozenset({"TJ"})))[1],
            "all": create_token(db, "Regional centre", Scope(all=True))[1],
        }
        revoked, self.tokens["revoked"] = create_token(db, "old laptop", Scope(all=True))
        revoke_token(db, revoked.token_id)

    def get(self, path: str, token: str | None, **params: Any) -> tuple[int, Any]:
        async def body(client: TestClient) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
            resp = await client.get(path, params=params, headers=headers)
            return resp.status, await resp.json()

        return self.run(body)  # type: ignore[no-any-return]


@pytest.fixture
def api(make_clickhouse_db: Any, kafka_broker: TansuBroker) -> Iterator[Api]:
    db = make_clickhouse_db()
    db.insert("stations", STATIONS.column_names, _station_rows())
    db.insert("window_stats", WINDOW_STATS.column_names, _window_rows())
    db.insert("alerts", ALERTS.column_names, _alert_rows())
    topic = f"ain-api-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    a = Api(db, kafka_broker.bootstrap, topic)
    yield a
    a.close()


def _stations_in(body: Any) -> set[str]:
    """Every station id anywhere in an answer (keys or values)."""
    text = json.dumps(body)
    return {sid for sid in POSTS if sid in text}


def _live_snapshot(api: Api, token: str) -> dict[str, Any]:
    return api.run(lambda client: first_snapshot(client, api.tokens[token]))


ENDPOINTS = [("/api/v1/stats", {"group_by": "station"}), ("/api/v1/top", {}),
             ("/api/v1/stations", {}), ("/api/v1/health", {}), ("/api/v1/alerts", {})]


def test_a_kz_token_reads_no_tj_station_row_through_any_endpoint(api: Api) -> None:
    for path, params in ENDPOINTS:
        status, body = api.get(path, "kz", **params)
        assert status == 200, (path, body)
        seen = _stations_in({k: v for k, v in body.items() if k != "paired"})
        assert "TJ-PYANJ" not in seen and "AF-SHERKHAN" not in seen, (path, body)
        status, body = api.get(path, "all", **params)
        assert status == 200
        assert {"TJ-PYANJ", "KZ-KORDAI"} <= _stations_in(body), (path, body)
    snap = _live_snapshot(api, "kz")
    assert {s["station_id"] for s in snap["stations"]} == {"KZ-KORDAI", "KZ-KARASU"}
    assert snap["events_1h"] == EVENTS_PER_HOUR["KZ-KORDAI"] + EVENTS_PER_HOUR["KZ-KARASU"]
    assert {s["station_id"] for s in _live_snapshot(api, "all")["stations"]} == set(POSTS)
    # a series over KZ sums KZ posts only; asking for TJ is refused
    status, body = api.get("/api/v1/series", "kz", window="1h")
    assert status == 200
    assert [p["value"] for p in body["points"]] == [10, 10, 10]
    assert api.get("/api/v1/series", "kz", country="TJ")[0] == 403
    assert api.get("/api/v1/series", "kz", station="TJ-PYANJ")[0] == 403
    assert api.get("/api/v1/stats", "kz", border="AF-TJ")[0] == 403


def test_stats_are_exact_roll_ups_of_visible_rows_and_paired_posts_only_in_aggregate(
        api: Api) -> None:
    status, body = api.get("/api/v1/stats", "all", group_by="country")
    assert status == 200
    expected: Counter[str] = Counter()
    for sid, n in EVENTS_PER_HOUR.items():
        expected[POSTS[sid][0]] += 3 * n
    expected["TJ"] += 1  # the seizure hour's row
    assert {r["country"]: r["events"] for r in body["rows"]} == expected
    assert {r["country"]: r["seizure_kg"] for r in body["rows"]}["TJ"] == 12.5
    # KZ: its own posts, and KG-AK-JOL (paired with KZ-KORDAI) as a KG aggregate only
    status, body = api.get("/api/v1/stats", "kz", group_by="station,event_type")
    assert status == 200
    assert {r["station"] for r in body["rows"]} == {"KZ-KORDAI", "KZ-KARASU"}
    assert body["paired"]["group_by"] == ["event_type"]  # never per station
    assert body["paired"]["rows"] == [
        {**body["paired"]["rows"][0], "event_type": "crossing",
         "events": 3 * EVENTS_PER_HOUR["KG-AK-JOL"]}]
    assert "KG-AK-JOL" not in json.dumps(body)
    # an agency scope narrows to its stations and sees no country roll-up alerts
    status, body = api.get("/api/v1/stats", "kz_customs", group_by="station")
    assert {r["station"] for r in body["rows"]} == {"KZ-KARASU"}
    status, body = api.get("/api/v1/top", "all", stat="events", n=2)
    assert [r["station_id"] for r in body["rows"]] == ["TJ-PYANJ", "KZ-KORDAI"]
    assert body["rows"][0]["value"] == 3 * EVENTS_PER_HOUR["TJ-PYANJ"] + 1


def test_group_by_border_shows_interior_posts_as_such(api: Api) -> None:
    """An airport (no land neighbour: border '' in the tables) is the group ``interior`` by
    border, is selected by ``border=interior``, and is marked ``interior`` in /stations."""
    airport, per_hour = "KZ-ALMATY-AIRPORT", 4
    api.db.insert("stations", STATIONS.column_names, [(
        airport, datetime(2018, 1, 1, tzinfo=UTC), "Almaty airport", "KZ", "customs",
        "Almaty airport", "", "", "", 43.35, 77.04, "Asia/Almaty", "test", 1, 1, NOW)])
    rows = []
    for h in (1, 2, 3):
        r = dict(zip(WINDOW_STATS.column_names, wrow(
            int((NOW - timedelta(hours=h)).timestamp()), station="TJ-PYANJ",
            event_type="crossing", dimension="", events=per_hour, version=1), strict=True))
        r.update(station_id=airport, country="KZ", border="")
        rows.append(tuple(r[c] for c in WINDOW_STATS.column_names))
    api.db.insert("window_stats", WINDOW_STATS.column_names, rows)

    expected: Counter[tuple[str, str]] = Counter({("interior", "KZ"): 3 * per_hour})
    for sid, n in EVENTS_PER_HOUR.items():
        expected[(POSTS[sid][2], POSTS[sid][0])] += 3 * n
    expected[("AF-TJ", "TJ")] += 1  # the seizure hour's row
    status, body = api.get("/api/v1/stats", "all", group_by="border,country")
    assert status == 200
    assert {(r["border"], r["country"]): r["events"] for r in body["rows"]} == expected
    assert "" not in {r["border"] for r in body["rows"]}
    for token in ("kz", "all"):  # a KZ token may ask: it sums its own interior posts
        status, body = api.get("/api/v1/stats", token, group_by="border", border="interior")
        assert status == 200, body
        assert [(r["border"], r["events"]) for r in body["rows"]] == [("interior", 12)]
    status, body = api.get("/api/v1/stats", "tj", group_by="border", border="interior")
    assert status == 200 and body["rows"] == []  # TJ has no interior post
    assert api.get("/api/v1/stats", "all", border="")[0] == 400
    status, body = api.get("/api/v1/stations", "kz")
    marked = {s["station_id"]: (s["border"], s["interior"]) for s in body["stations"]}
    assert marked == {airport: ("", True), "KZ-KORDAI": ("KG-KZ", False),
                      "KZ-KARASU": ("KG-KZ", False)}


def test_alerts_follow_the_scope(api: Api) -> None:
    def ids(token: str) -> set[str]:
        status, body = api.get("/api/v1/alerts", token, open="true")
        assert status == 200
        return {a["alert_id"] for a in body["alerts"]}

    name = {v: k for k, v in ALERT_ID.items()}
    assert {name[i] for i in ids("kz")} == {"kz-station", "kz-country", "kg-kz-border",
                                             "kz-kg-pair"}
    assert {name[i] for i in ids("tj")} == {"tj-station", "af-tj-border"}
    assert {name[i] for i in ids("kz_customs")} == set()  # no KZ-KARASU alert, no roll-ups
    assert ids("all") == set(ALERT_ID.values())


def test_acknowledging_sends_to_the_alert_engine_only_in_scope(api: Api) -> None:
    async def ack(client: TestClient, token: str, name: str, body: Any) -> tuple[int, Any]:
        resp = await client.post(f"/api/v1/alerts/{ALERT_ID[name]}/ack", json=body,
                                 headers={"Authorization": f"Bearer {api.tokens[token]}"})
        return resp.status, await resp.json()

    async def calls(client: TestClient) -> list[tuple[int, Any]]:
        return [await ack(client, "kz", "kz-station", {"comment": "patrol sent"}),
                await ack(client, "kz", "tj-station", {}),
                await ack(client, "kz", "kz-station", {"comment": 5}),
                await ack(client, "kz", "kz-station", ["x"])]

    (ok, _), (foreign, _), (bad, why), (bad2, _) = api.run(calls)
    assert (ok, foreign, bad, bad2) == (200, 404, 400, 400)
    assert "comment" in why["problems"][0]
    consumer = KafkaConsumer(bootstrap_servers=api.bootstrap, group_id=None,
                             consumer_timeout_ms=3000)
    consumer.assign([TopicPartition(api.topic, 0)])
    consumer.seek_to_beginning()
    got = [decode(m.value, window_row_width=WINDOW_ROW_WIDTH) for m in consumer]
    consumer.close()
    assert len(got) == 1 and isinstance(got[0], Acknowledgement)
    aid, who, comment = got[0].alert_id, got[0].by, got[0].comment
    assert (aid, comment) == (ALERT_ID["kz-station"], "patrol sent")
    assert who.startswith("KZ centre (tok_")


def test_bulk_acknowledgement_sends_exactly_the_visible_alerts_a_filter_names(api: Api) -> None:
    since = (NOW - timedelta(hours=2)).isoformat()

    async def post(client: TestClient, token: str, body: Any) -> tuple[int, Any]:
        resp = await client.post("/api/v1/alerts/ack", json=body,
                                 headers={"Authorization": f"Bearer {api.tokens[token]}"})
        return resp.status, await resp.json()

    async def calls(client: TestClient) -> list[tuple[int, Any]]:
        return [await post(client, "kz", {"scope": "TJ-PYANJ"}),      # a foreign station
                await post(client, "kz", {"scope": "TJ"}),            # a foreign country
                await post(client, "kz", {"scope": "all"}),           # regional roll-ups
                await post(client, "kz", {"comment": "no filter"}),
                await post(client, "kz", {"since": since, "dry_run": True}),
                await post(client, "kz", {"scope": "KZ-KORDAI", "comment": "bulk"}),
                await post(client, "kz", {"rule": "kz-country", "until": since})]

    (tj, _), (tj_c, why), (roll, _), (none, what), (dry, counted), (ok, sent), (early, zero) = \
        api.run(calls)
    assert (tj, tj_c, roll, none, dry, ok, early) == (403, 403, 403, 400, 200, 200, 200)
    assert "country TJ is outside this token's scope" in why["error"]
    assert "at least one of rule, scope, since, until" in what["problems"][0]
    name = {v: k for k, v in ALERT_ID.items()}
    # every alert the KZ token sees fired within the range; none is sent on a dry run
    assert {name[i] for i in counted["alert_ids"]} == {"kz-station", "kz-country",
                                                        "kg-kz-border", "kz-kg-pair"}
    assert (counted["matched"], counted["sent"]) == (4, 0)
    # a station names its own alerts and the pairs it is in
    assert {name[i] for i in sent["alert_ids"]} == {"kz-station", "kz-kg-pair"}
    assert zero["matched"] == 0  # fired after 'until'
    consumer = KafkaConsumer(bootstrap_servers=api.bootstrap, group_id=None,
                             consumer_timeout_ms=3000)
    consumer.assign([TopicPartition(api.topic, 0)])
    consumer.seek_to_beginning()
    got = [decode(m.value, window_row_width=WINDOW_ROW_WIDTH) for m in consumer]
    consumer.close()
    assert all(isinstance(g, Acknowledgement) for g in got)
    acks = [g for g in got if isinstance(g, Acknowledgement)]
    assert sorted(a.alert_id for a in acks) == sorted(sent["alert_ids"])
    assert {(a.comment, a.by.startswith("KZ centre (tok_")) for a in acks} == {("bulk", True)}


def test_tokens_and_parameters_are_checked(api: Api) -> None:
    assert api.get("/api/v1/stats", None)[0] == 401
    api.tokens["forged"] = "blo_" + "x" * 43
    assert api.get("/api/v1/stats", "forged")[0] == 401
    status, body = api.get("/api/v1/stats", "revoked")
    assert status == 401 and "token" in body["error"]
    status, body = api.get("/api/v1/stats", "all", window="2h", stat="x", bogus="1")
    assert status == 400
    assert {p.split(":")[0] for p in body["problems"]} >= {"bogus"}
    status, body = api.get("/api/v1/top", "all", n="0", stat="nope")
    assert status == 400 and {p.split(":")[0] for p in body["problems"]} == {"n", "stat"}
    status, body = api.get("/api/v1/stats", "all", window="2h")
    assert status == 400 and "window" in body["problems"][0]
    status, body = api.get("/api/v1/stats", "all", **{"from": "2026-01-02", "to": "2026-01-01"})
    assert status == 400 and "before" in json.dumps(body)
    assert api.get("/api/v1/stats", "all", event_type="crossing' OR 1=1 --")[0] == 400
    # values are bound parameters: a quote in a station id is just a station nobody has
    status, body = api.get("/api/v1/stats", "all", group_by="station",
                           station="KZ-KORDAI' OR '1'='1")
    assert status == 403  # not a visible station, whatever it contains
    status, body = api.get("/api/v1/stats", "all", group_by="station", country="KZ",
                           event_type="crossing")
    assert status == 200 and {r["station"] for r in body["rows"]} == {"KZ-KORDAI", "KZ-KARASU"}
    # a token revoked while in use stops working within the store's refresh
    tok = create_token(api.db, "short lived", Scope(all=True))
    api.tokens["short"] = tok[1]
    assert api.get("/api/v1/whoami", "short")[0] == 200

    async def after_revoke(client: TestClient) -> int:
        h = {"Authorization": f"Bearer {tok[1]}"}
        assert (await client.get("/api/v1/whoami", headers=h)).status == 200
        revoke_token(api.db, tok[0].token_id)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = (await client.get("/api/v1/whoami", headers=h)).status
            if status == 401:
                return status
            await asyncio.sleep(0.5)
        return status

    assert api.run(after_revoke) == 401


def test_every_call_is_audited_without_secrets(api: Api) -> None:
    calls = [("/api/v1/stats", "kz", {}), ("/api/v1/stats", None, {}),
             ("/api/v1/top", "all", {"n": "3"}), ("/api/v1/series", "kz", {"country": "TJ"})]

    async def body(client: TestClient) -> None:
        for path, token, params in calls:
            h = {"Authorization": f"Bearer {api.tokens[token]}"} if token else {}
            await client.get(path, params=params, headers=h)
        await client.get("/api/v1/health", params={"access_token": api.tokens["tj"]})

    api.run(body)  # the app's cleanup flushes the audit log
    rows = api.db.query(f"SELECT token_name, method, path, query, status, rows FROM "
                        f"{api.db.database}.api_audit ORDER BY at, path")
    got = sorted((str(n), str(p), int(s)) for n, _, p, _, s, _ in rows)
    assert got == sorted([("KZ centre", "/api/v1/stats", 200), ("", "/api/v1/stats", 401),
                          ("Regional centre", "/api/v1/top", 200),
                          ("KZ centre", "/api/v1/series", 403),
                          ("", "/api/v1/health", 401)])  # access_token: /live only
    text = json.dumps([list(map(str, r)) for r in rows])
    assert not any(secret in text for secret in api.tokens.values())
    assert "n=3" in text
    top_rows = [int(r[5]) for r in rows if r[2] == "/api/v1/top"]
    assert top_rows == [3]


def test_the_openapi_document_describes_every_route(api: Api) -> None:
    status, doc = api.get("/api/v1/openapi.json", None)
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {r.resource.canonical for r in build_api(api.ctx).router.routes()  # type: ignore[union-attr]
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")}
    assert routes - {"/api/v1/openapi.json"} == set(doc["paths"])
    windows = doc["paths"]["/api/v1/stats"]["get"]["parameters"][2]["schema"]["enum"]
    assert windows == list(api.ctx.windows)


def test_tokens_cli_creates_lists_and_revokes(make_clickhouse_db: Any,
                                              clickhouse_server: Any) -> None:
    import os
    import subprocess
    import sys

    db = make_clickhouse_db()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env["BLO_CLICKHOUSE_URL"] = clickhouse_server.url(db.database)

    def blo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "blo", "tokens", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    made = blo("create", "KZ national centre", "--country", "kz", "--country", "KG",
               "--agency", "customs")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("blo_") and len(secret) > 40
    assert "scope: KG,KZ (agencies customs)" in made.stderr
    stored = db.query(f"SELECT token_hash FROM {db.database}.api_tokens")
    assert secret not in json.dumps([list(map(str, r)) for r in stored])  # only its hash
    listed = json.loads(blo("list", "--json").stdout)
    assert [(t["name"], t["scope"], t["revoked_at"]) for t in listed] == [
        ("KZ national centre", "KG,KZ (agencies customs)", None)]
    gone = blo("revoke", listed[0]["token_id"])
    assert gone.returncode == 0 and "revoked" in gone.stdout
    assert json.loads(blo("list", "--json").stdout)[0]["revoked_at"] is not None
    for bad, msg in ((("create", "x", "--country", "ZZ"), "unknown country"),
                     (("create", "x"), "--country"),
                     (("create", "x", "--all", "--country", "KZ"), "--all"),
                     (("revoke", "tok_000000000000"), "no token"),
                     (("revoke", "nope"), "not a token id")):
        res = blo(*bad)
        assert res.returncode == 2 and msg in res.stderr, (bad, res.stderr)


def test_blo_api_serves_and_stops_promptly_with_a_live_stream_open(
        make_clickhouse_db: Any, clickhouse_server: Any, kafka_broker: TansuBroker,
        tmp_path: Any) -> None:
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from blo.localservices.tansu import free_port

    db = make_clickhouse_db()
    db.insert("stations", STATIONS.column_names, _station_rows())
    _, secret = create_token(db, "Regional centre", Scope(all=True))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_CLICKHOUSE_URL=clickhouse_server.url(db.database),
               BLO_KAFKA_BOOTSTRAP=kafka_broker.bootstrap, BLO_API_PORT=str(port),
               BLO_API_LIVE_INTERVAL_S="0.5",
               # the session server's admin user (least privilege: test_least_privilege.py)
               BLO_API_ALLOW_UNSAFE_USERS="true")
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "blo", "api"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "blo api did not start"
                time.sleep(0.3)
        with urllib.request.urlopen(base + "/", timeout=5) as r:  # the dashboard page
            assert b"<html" in r.read().lower()
        live = urllib.request.urlopen(f"{base}/api/v1/live?access_token={secret}", timeout=10)
        first = b""
        while b"\n\n" not in first:
            first += live.read1(65536)
        snap = json.loads(first.split(b"\n\n")[0].split(b"data: ", 1)[1])
        assert {s["station_id"] for s in snap["stations"]} == set(POSTS)
        assert snap["interval_s"] == 0.5
        proc.send_signal(signal.SIGTERM)  # with the stream still open
        assert proc.wait(20) == 0
        live.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    audited = db.query(f"SELECT path, status FROM {db.database}.api_audit")
    assert ("/api/v1/live", 200) in [(str(p), int(s)) for p, s in audited]


def test_open_dashboards_of_one_scope_share_their_snapshot_queries(api: Api) -> None:
    """Three KZ dashboards and a TJ one open at once: ClickHouse computes one snapshot per
    scope (blo.api.shared), every KZ stream gets the same one, and TJ its own."""
    per_station_sql: list[str] = []
    query = api.ctx.query

    async def counting(sql: str, params: Any) -> Any:
        if "sum(events), toUInt32(max(last_event_at))" in sql:  # live_sql's first query
            per_station_sql.append(sql)
        return await query(sql, params)

    api.ctx.query = counting

    async def body(client: TestClient) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_snapshot(client, api.tokens[t])
                                           for t in ("kz", "kz", "tj", "kz"))))

    kz1, kz2, tj, kz3 = api.run(body)
    assert len(per_station_sql) == 2  # one per scope, not one per stream
    assert kz1 == kz2 == kz3
    assert _stations_in(kz1) and not _stations_in(kz1) & _stations_in(tj)
