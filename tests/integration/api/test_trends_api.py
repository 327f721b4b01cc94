"""``/api/v1/trends/*`` on the real ClickHouse server, over window rows written here:
period-over-period and year-over-year figures and ranked changes equal sums computed here
from the rows (latest version, station-local month labels, visible stations only); the
baseline bands equal the history the alert engine's provider reads and the mean and
population standard deviation computed here."""

from __future__ import annotations

import asyncio
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.settings import load_settings
from sinks.clickhouse import ServerDatabase
from sinks.tables import STATIONS, WINDOW_STATS
from streams.alert_baseline import BaselineHistory
from streams.alerts.check import load_rules
from streams.alerts.rules import BaselineRule
from tests.integration.api.inprocess import InProcessApi, bearer
from tests.integration.api.route_events import BORDERS, POSTS, registry_rows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MONTHS = ("2025-09", "2025-10", "2026-09", "2026-10", "2026-11")
SCOPES = {"all": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"}))}
RULE_ID = "refused-crossings-baseline-1h"


def _local_month(label: str, tz: str) -> tuple[datetime, datetime]:
    y, m = int(label[:4]), int(label[5:])
    z = ZoneInfo(tz)
    start = datetime(y, m, 1, tzinfo=z)
    end = datetime(y + m // 12, m % 12 + 1, 1, tzinfo=z)
    return start.astimezone(UTC), end.astimezone(UTC)


def _row(kind: str, start: datetime, end: datetime, label: str, station: str,
         event_type: str, dimension: str = "", version: int = 1, **stats: float) -> tuple:
    country, tz = POSTS[station]
    values: dict[str, Any] = dict.fromkeys(WINDOW_STATS.column_names, 0)
    values.update(window_kind=kind, window_start=start, window_end=end, window_label=label,
                  station_id=station, country=country, border=BORDERS[station],
                  station_tz=tz, event_type=event_type, measure="", dimension=dimension,
                  first_event_at=start, last_event_at=start, status="final",
                  version=version, updated_at=end, **stats)
    return tuple(values[c] for c in WINDOW_STATS.column_names)


def _refused(station: str, label: str) -> int:
    """Refusals of a post in a month: KZ-KARASU refused nobody in 2026-09 (a zero base)."""
    if station == "KZ-KARASU" and label == "2026-09":
        return 0
    return (sorted(POSTS).index(station) + 1) * 7 + MONTHS.index(label) * 3 \
        + (40 if station == "TJ-PYANJ" and label == "2026-10" else 0)


def month_rows() -> tuple[list[tuple], list[dict[str, Any]]]:
    """Month windows of every post, and the truth: the latest version of each row."""
    rows, truth = [], []
    for sid, (_, tz) in POSTS.items():
        for label in MONTHS:
            start, end = _local_month(label, tz)
            refused = _refused(sid, label)
            # an outdated version first: the readers' view keeps version 2
            rows.append(_row("month", start, end, label, sid, "crossing", version=1,
                             events=999, refused=999))
            rows.append(_row("month", start, end, label, sid, "crossing", version=2,
                             events=refused * 10, refused=refused))
            truth.append({"station": sid, "country": POSTS[sid][0], "label": label,
                          "event_type": "crossing", "events": refused * 10,
                          "refused": refused, "seizure_kg": 0.0})
            kg = float(len(sid) + MONTHS.index(label))
            rows.append(_row("month", start, end, label, sid, "seizure", "heroin",
                             events=2, seizure_kg=kg))
            truth.append({"station": sid, "country": POSTS[sid][0], "label": label,
                          "event_type": "seizure", "events": 2, "refused": 0,
                          "seizure_kg": kg})
    return rows, truth


H0 = datetime(2026, 10, 20, 10, tzinfo=UTC)
WEEK = timedelta(days=7)
# refusals at TJ-PYANJ at H0 - k weeks (k = 1..8); None: no row at all (not reporting);
# "seizure": a row of another event type only (reporting, no refusals: counts 0)
HISTORY: dict[int, Any] = {1: 12, 2: 9, 3: None, 4: 15, 5: "seizure", 6: 11, 7: 8, 8: 10,
                           9: 500}  # the 9th week is beyond the rule's 8


def hour_rows() -> list[tuple]:
    rows = []

    def hour(at: datetime, event_type: str, version: int = 1, **stats: float) -> None:
        rows.append(_row("1h", at, at + timedelta(hours=1), "", "TJ-PYANJ", event_type,
                         version=version, **stats))

    hour(H0, "crossing", version=1, refused=1)
    hour(H0, "crossing", version=2, refused=80)  # the current value: 80
    hour(H0 + timedelta(hours=1), "crossing", refused=5)  # 3 weeks of history only
    for k, v in HISTORY.items():
        if v == "seizure":
            hour(H0 - k * WEEK, "seizure", seizure_kg=1.0)
        elif v is not None:
            hour(H0 - k * WEEK, "crossing", refused=v)
    for k in (1, 2, 4):
        hour(H0 + timedelta(hours=1) - k * WEEK, "crossing", refused=3)
    return rows


@pytest.fixture
def api(clickhouse_db: ServerDatabase) -> Iterator[Any]:
    clickhouse_db.insert("stations", STATIONS.column_names, registry_rows())
    rows, truth = month_rows()
    clickhouse_db.insert("window_stats", WINDOW_STATS.column_names, rows + hour_rows())
    app = InProcessApi(clickhouse_db)
    app.truth = truth  # type: ignore[attr-defined]
    app.secrets = {k: create_token(clickhouse_db, f"{k} centre", s)[1]  # type: ignore[attr-defined]
                   for k, s in SCOPES.items()}
    yield app
    app.close()


def _sum(truth: list[dict[str, Any]], months: tuple[str, ...], stat: str, group: str,
         stations: set[str], event_type: str | None = None) -> dict[Any, float]:
    out: dict[Any, float] = defaultdict(float)
    for t in truth:
        if t["label"] in months and t["station"] in stations \
                and event_type in (None, t["event_type"]):
            out[t[group]] += t[stat]
    return dict(out)


def _calls(api: Any, calls: dict[str, tuple[str, str, dict[str, str]]]) -> dict[str, Any]:
    async def body(client: TestClient[Any, Any]) -> dict[str, Any]:
        out = {}
        for name, (path, token, q) in calls.items():
            resp = await client.get(path, params=q, headers=bearer(api.secrets[token]))
            out[name] = (resp.status, await resp.json())
        return out
    return api.run(body)


def test_period_and_year_comparisons_and_ranked_changes(api: Any) -> None:
    got = _calls(api, {
        "station": ("/api/v1/trends/compare", "all",
                    {"period": "2026-10", "stat": "refused", "group_by": "station"}),
        "country_kz": ("/api/v1/trends/compare", "kz",
                       {"period": "2026-10", "stat": "refused", "group_by": "station"}),
        "quarter": ("/api/v1/trends/compare", "all",
                    {"period": "2026-Q4", "stat": "seizure_kg", "group_by": "country",
                     "against": "year_before"}),
        "ranked": ("/api/v1/trends/ranked", "all",
                   {"period": "2026-10", "stat": "refused", "by": "relative"}),
        "ranked_kz": ("/api/v1/trends/ranked", "kz",
                      {"period": "2026-10", "stat": "refused", "min_base": "0"}),
        "fall": ("/api/v1/trends/ranked", "all",
                 {"period": "2026-10", "stat": "events", "direction": "fall",
                  "against": "year_before", "event_type": "seizure"}),
        "window_1h": ("/api/v1/trends/compare", "all",
                      {"period": "2026-10", "window": "1h"}),
        "both": ("/api/v1/trends/compare", "all",
                 {"period": "2026-10", "from": "2026-10-01T00:00:00Z"}),
        "foreign": ("/api/v1/trends/compare", "kz", {"period": "2026-10", "country": "TJ"}),
    })
    truth, every = api.truth, set(POSTS)
    kz = {"KZ-KORDAI", "KZ-KARASU"}

    status, body = got["station"]
    assert status == 200, body
    assert body["current"]["months"] == ["2026-10"]  # not Almaty's November (in the bounds)
    assert [c["against"] for c in body["comparisons"]] == ["previous", "year_before"]
    now = _sum(truth, ("2026-10",), "refused", "station", every)
    for comp, base_month in zip(body["comparisons"], ("2026-09", "2025-10"), strict=True):
        assert comp["base"]["months"] == [base_month]
        base = _sum(truth, (base_month,), "refused", "station", every)
        assert {r["station"]: (r["current"], r["base"], r["change"]) for r in comp["rows"]} \
            == {s: (now[s], base[s], now[s] - base[s]) for s in every}
        for r in comp["rows"]:
            if base[r["station"]] == 0:
                assert r["change_pct"] is None and r["note"].startswith("no relative change")
            else:
                assert r["change_pct"] == pytest.approx(
                    (now[r["station"]] - base[r["station"]]) / base[r["station"]] * 100, abs=1e-4)
    karasu = next(r for r in body["comparisons"][0]["rows"] if r["station"] == "KZ-KARASU")
    assert karasu["base"] == 0 and karasu["change_pct"] is None

    status, body = got["country_kz"]
    assert status == 200 and {r["station"] for c in body["comparisons"]
                              for r in c["rows"]} == kz  # the KZ token: KZ posts only

    status, body = got["quarter"]
    q4, q4_before = ("2026-10", "2026-11", "2026-12"), ("2025-10", "2025-11", "2025-12")
    now = _sum(truth, q4, "seizure_kg", "country", every)
    base = _sum(truth, q4_before, "seizure_kg", "country", every)
    assert status == 200 and [c["against"] for c in body["comparisons"]] == ["year_before"]
    assert {r["country"]: (r["current"], r["base"]) for r in body["comparisons"][0]["rows"]} \
        == {c: (pytest.approx(now[c]), pytest.approx(base[c])) for c in now}

    # ranked: TJ-PYANJ's refusals rose most; KZ-KARASU (base 0) is not ranked by relative
    status, body = got["ranked"]
    now = _sum(truth, ("2026-10",), "refused", "station", every)
    prev = _sum(truth, ("2026-09",), "refused", "station", every)
    want = sorted((s for s in every if prev[s] >= 1 and now[s] > prev[s]),
                  key=lambda s: -(now[s] - prev[s]) / prev[s])
    assert status == 200 and [r["station"] for r in body["rows"]] == want
    assert body["rows"][0]["station"] == "TJ-PYANJ" and "KZ-KARASU" not in want
    status, body = got["ranked_kz"]
    want = sorted((s for s in kz if now[s] > prev[s]), key=lambda s: -(now[s] - prev[s]))
    assert status == 200 and [r["station"] for r in body["rows"]] == want
    assert [r["change"] for r in body["rows"]] == [now[s] - prev[s] for s in want]

    status, body = got["fall"]  # seizure events: 2 every month, nothing fell
    assert status == 200 and body["rows"] == []
    assert got["window_1h"][0] == 400 and got["both"][0] == 400
    assert got["foreign"][0] == 403


def _history(db: ServerDatabase, rule: BaselineRule, start: int) -> tuple[float, list[float]]:
    """What the alert engine's baseline provider reads for TJ-PYANJ at ``start``."""
    async def query(sql: str, params: Any) -> list[Any]:
        return db.query(sql, params)

    provider = BaselineHistory(query, db.database)
    asyncio.run(provider.read(rule, [start]))
    return provider.week(rule, "TJ-PYANJ", start)[0], list(provider(rule, "TJ-PYANJ", start))


def test_baseline_bands_are_the_alert_baseline(api: Any, clickhouse_db: ServerDatabase) -> None:
    q = {"rule": RULE_ID, "key": "TJ-PYANJ", "from": H0.isoformat(),
         "to": (H0 + timedelta(hours=2)).isoformat()}
    got = _calls(api, {
        "all": ("/api/v1/trends/baseline", "all", q),
        "kz": ("/api/v1/trends/baseline", "kz", q),
        "not_baseline": ("/api/v1/trends/baseline", "all", {**q, "rule": "sequence-gap"}),
    })
    status, body = got["all"]
    assert status == 200, body
    rule = next(r for r in load_rules(load_settings().alerts.rules_path()).rules
                if r.id == RULE_ID)
    assert isinstance(rule, BaselineRule)
    assert (body["k"], body["clear_k"], body["weeks"], body["min_weeks"]) == (
        rule.k, rule.clear_k, rule.weeks, rule.min_weeks)
    first, second = body["points"]
    # computed here: weeks 1..8 before H0; week 3 not reporting (left out), week 5 a 0
    past = [0.0 if v == "seizure" else float(v) for k, v in sorted(HISTORY.items())
            if k <= rule.weeks and v is not None]
    mean, sd = statistics.fmean(past), statistics.pstdev(past)
    assert first["window_start"] == H0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (first["value"], first["weeks"]) == (80, len(past))
    assert first["mean"] == pytest.approx(mean) and first["stddev"] == pytest.approx(sd)
    assert first["upper"] == pytest.approx(mean + rule.k * sd)
    assert first["clear"] == pytest.approx(mean + (rule.clear_k or rule.k) * sd)
    assert first["lower"] == pytest.approx(max(0.0, mean - rule.k * sd))
    assert first["above"] is (80 > mean + rule.k * sd)
    # and what the alert engine's provider reads is the same history
    value, history = _history(clickhouse_db, rule, int(H0.timestamp()))
    assert value == 80 and sorted(history) == sorted(past)
    # three weeks of history: below min_weeks, no band
    assert (second["weeks"], second["mean"], second["upper"], second["above"]) == (
        3, None, None, False)
    assert got["kz"][0] == 403
    assert got["not_baseline"][0] == 400


def test_overlapping_windows_and_periods_without_a_year_before_are_refused(api: Any) -> None:
    """Hopping windows count an event in several windows: their sums are no statistic to
    compare; the first period has nothing before it in ClickHouse's range."""
    rng = {"from": "2026-10-01T00:00:00Z", "to": "2026-10-02T00:00:00Z"}
    got = _calls(api, {
        "hopping": ("/api/v1/trends/compare", "all", {**rng, "window": "1h/5m"}),
        "ranked_hopping": ("/api/v1/trends/ranked", "all", {**rng, "window": "1h/5m"}),
        "tumbling": ("/api/v1/trends/compare", "all", {**rng, "window": "1h"}),
        "first": ("/api/v1/trends/compare", "all", {"period": "1970-01"}),
        "bulletin_first": ("/api/v1/bulletins", "all", {"period": "1970-01",
                                                         "format": "json", "scope": "region"}),
    })
    assert got["hopping"][0] == 400 and "overlap" in str(got["hopping"][1]), got["hopping"]
    assert got["ranked_hopping"][0] == 400
    assert got["tumbling"][0] == 200, got["tumbling"]
    assert got["first"][0] == 400 and "1971" in str(got["first"][1]), got["first"]
    assert got["bulletin_first"][0] == 400, got["bulletin_first"]
