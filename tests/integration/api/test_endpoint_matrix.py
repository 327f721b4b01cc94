"""Every API endpoint with every filter, group-by and statistic, on both engines.

So that no SQL-dialect error hides again (ClickHouse 18.16 refused ``any(country) AS
country`` once a ``country`` filter was added to the same query): the app runs in-process
(aiohttp's test server) over the ClickHouse 18.16 server — reading as the API's read-only
user, auditing through the audit user, as ``blo api`` does — and over chDB, with window
rows, events, late events, dead letters and alerts present, and is called with

* ``/stats``: every subset of the filters × every subset of the group-bys (the order of the
  group-bys alternates), for a regional and a national token (the latter also answers the
  paired posts' block);
* ``/top`` and ``/series``: every subset of the filters × every statistic, both tokens;
* the windows rotate through those calls so each window meets every filter subset,
  group-by and statistic (pairwise, not the full product with windows); every window with
  every statistic once more without filters and with the default time range;
* ``/stations``, ``/health``, ``/alerts`` (open or not), ``/whoami``, one ``/live``
  snapshot, the acknowledgement, ``/openapi.json`` and ``/healthz``, for both tokens;
* ``/routes`` and ``/trends/compare``, ``/ranked``, ``/baseline`` (docs/analysis.md), for
  both tokens;
* ``/bulletins``, ``/bulletins/editions`` and ``/bulletins/editions/download``
  (docs/bulletins.md), for both tokens.

Filters, group-bys and statistics are read from ``blo.api.params`` (the models' fields and
``Literal`` types), routes from the app's router: a new one is run here automatically, and
the test says what to add when it cannot know what to expect of it. Every answer must be
200 and well-formed, and its figures must equal those computed here, independently of the
API's SQL, from the rows the test inserted (latest version per window key, visible stations
only).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from aiohttp.test_utils import TestClient

from blo.api.app import build_api
from blo.api.params import Filters, SeriesParams, StatsParams, TopParams
from blo.api.queries import live_sql, series_sql, stats_sql, top_sql
from blo.api.scope import Scope
from blo.api.tokens import create_token
from blo.localservices.clickhouse_server import ClickHouseServer
from blo.settings import ClickHouseSettings, load_settings, parse_clickhouse_url
from sinks.base import Database, Row
from sinks.clickhouse import ServerDatabase
from sinks.migrations import migrate
from sinks.tables import (
    ALERT_MUTES,
    ALERTS,
    DLQ,
    EVENT_REVISIONS,
    EVENTS,
    LATE_EVENTS,
    STATIONS,
    WINDOW_STATS,
    TableSpec,
)
from streams.alerts.mutes import Mute
from streams.windows import window_config
from tests.integration.api.inprocess import InProcessApi, first_snapshot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CLOCK = datetime.now(UTC).replace(second=0, microsecond=0)  # the API's fixed "now"
HOUR = CLOCK.replace(minute=0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# station → (country, agency, border, paired BLO)
POSTS = {
    "KZ-KORDAI": ("KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
    "KZ-KARASU": ("KZ", "customs", "KG-KZ", ""),
    "KG-AK-JOL": ("KG", "customs", "KG-KZ", "KZ-KORDAI"),
    "TJ-PYANJ": ("TJ", "joint", "AF-TJ", "AF-SHERKHAN"),
    "AF-SHERKHAN": ("AF", "border_guard", "AF-TJ", "TJ-PYANJ"),
}
TOKENS = {"all": Scope(all=True), "kz": Scope(countries=frozenset({"KZ"}))}

# -- what the parameter models define (a new filter, group-by or statistic lands here) ----
FILTERS: tuple[str, ...] = tuple(Filters.model_fields)
GROUP_NAMES: tuple[str, ...] = get_args(get_args(StatsParams.model_fields["group_by"].annotation)[0])
STAT_NAMES: tuple[str, ...] = get_args(TopParams.model_fields["stat"].annotation)
# parameters that are not filters, and how this test sets them
OTHER_PARAMS = {"from_", "to", "window", "group_by", "stat", "n"}

# -- the oracle: what each filter, group-by and statistic means, written here again -------
FILTER_MEANS: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "station": lambda r, v: r["station_id"] == v,
    "country": lambda r, v: r["country"] == v,
    "border": lambda r, v: r["border"] == v,
    "event_type": lambda r, v: r["event_type"] == v,
    "drug": lambda r, v: r["event_type"] == "seizure" and r["dimension"] == v,
}
GROUP_COLUMN = {"station": "station_id", "country": "country", "border": "border",
                "event_type": "event_type", "drug": "dimension"}
STAT_MEANS: dict[str, tuple[str, Callable[[list[float]], float]]] = {
    "events": ("events", sum), "persons": ("persons", sum), "vehicles": ("vehicles", sum),
    "refused": ("refused", sum), "inbound": ("inbound", sum), "outbound": ("outbound", sum),
    "seizure_kg": ("seizure_kg", sum),
    "seizure_kg_max": ("seizure_kg_max", lambda xs: max(xs, default=0.0)),
    "arrests": ("arrests", sum), "inspections_with_finds": ("inspections_with_finds", sum),
    "report_value": ("value", sum),
}
# the sample value of each filter: one KZ seizure row has them all, so every subset of the
# filters matches rows, for both tokens
SAMPLE = {"station": "KZ-KORDAI", "country": "KZ", "border": "KG-KZ",
          "event_type": "seizure", "drug": "heroin"}


def test_the_parameter_models_are_fully_known_here() -> None:
    """A new filter, group-by, statistic or parameter fails here with what to add."""
    assert set(FILTERS) <= set(FILTER_MEANS), (
        f"new filter(s) {set(FILTERS) - set(FILTER_MEANS)}: add their meaning to FILTER_MEANS "
        "and a sample value to SAMPLE")
    assert set(FILTERS) <= set(SAMPLE)
    assert set(GROUP_NAMES) <= set(GROUP_COLUMN), "new group-by: add it to GROUP_COLUMN"
    assert set(STAT_NAMES) == set(STAT_MEANS), "new statistic: add it to STAT_MEANS"
    assert get_args(SeriesParams.model_fields["stat"].annotation) == STAT_NAMES
    for model in (StatsParams, TopParams, SeriesParams):
        unknown = set(model.model_fields) - set(FILTERS) - OTHER_PARAMS
        assert not unknown, f"{model.__name__}: new parameter(s) {unknown}: cover them here"


def test_no_aggregate_is_aliased_to_a_column_name() -> None:
    """18.16 resolves such an alias before the column: a filter on it is Code 184."""
    t = datetime(2026, 1, 1, tzinfo=UTC)
    f = Filters.model_validate(SAMPLE)
    built = [stats_sql("blo", "1h", t, t, ("S",), f, gb, 10)[0] for gb in _subsets(GROUP_NAMES)]
    for stat in STAT_NAMES:
        built += [top_sql("blo", "1h", t, t, ("S",), f, stat, 10)[0],
                  series_sql("blo", "1h", t, t, ("S",), f, stat, 10)[0]]
    built += [q for q, _ in live_sql("blo", "1m", ("S",), t)]
    columns = set(WINDOW_STATS.column_names) | set(EVENTS.column_names)
    for sql in built:
        for expr, alias in re.findall(r"(\w+\([^()]*\))\s+AS\s+(\w+)", sql):
            if expr.startswith("tupleElement(_latest, "):
                continue  # the readers' view naming its columns: that level reads no table
            assert alias not in columns, (expr, alias, sql)


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def _default(ch_type: str) -> Any:
    if ch_type.startswith("Nullable"):
        return None
    if ch_type.startswith("Array"):
        return []
    if ch_type.startswith("DateTime"):
        return EPOCH
    if ch_type == "UUID":
        return uuid.uuid4()
    if ch_type == "String":
        return ""
    return 0.0 if ch_type.startswith("Float") else 0


def _row(table: TableSpec, **values: Any) -> Row:
    unknown = set(values) - set(table.column_names)
    assert not unknown, unknown
    return tuple(values[c] if c in values else _default(t) for c, t in table.columns)


def _starts(kind: str) -> list[datetime]:
    """Window starts of ``kind``: inside the default range (the day before CLOCK), and one
    ten days earlier that only no query covers."""
    if kind == "1m":
        return [CLOCK - timedelta(minutes=m) for m in (3, 17, 42)] + [HOUR - timedelta(days=10)]
    return [HOUR - timedelta(hours=h) for h in (1, 2, 5)] + [HOUR - timedelta(days=10)]


# (event_type, dimension, measure) of the rows per window and station
KEYS = [("crossing", "", ""), ("seizure", "heroin", ""), ("seizure", "hashish", ""),
        ("inspection", "", ""), ("detention", "", ""),
        ("count_report", "Personal Vehicle Passengers", "persons")]


def _stats(rng: random.Random, etype: str, measure: str) -> dict[str, Any]:
    n = rng.randint(1, 40)
    kg = rng.randint(0, 400) / 4  # quarters: sums are exact floats
    return {"events": n, "persons": rng.randint(0, 3 * n), "vehicles": rng.randint(0, n),
            "refused": rng.randint(0, 3), "inbound": rng.randint(0, n),
            "outbound": rng.randint(0, n), "seizure_kg": kg if etype == "seizure" else 0.0,
            "seizure_kg_max": kg / 2 if etype == "seizure" else 0.0,
            "arrests": rng.randint(0, 4), "inspections_with_finds": rng.randint(0, 2),
            "value": rng.randint(0, 1000) / 4 if measure else 0.0}


def _window_rows(windows: Sequence[str]) -> tuple[list[Row], list[Row], list[dict[str, Any]]]:
    """(older versions, latest versions, the latest as dicts: the oracle's input)."""
    rng = random.Random(11)
    old: list[Row] = []
    latest: list[Row] = []
    truth: list[dict[str, Any]] = []
    for kind in windows:
        for sid, (country, _, border, _) in POSTS.items():
            for start in _starts(kind):
                for etype, dim, measure in KEYS:
                    size = {"1m": 60, "day": 86400, "month": 30 * 86400}.get(kind, 3600)
                    label = start.strftime("%Y-%m-%d") if kind in ("day", "month") else ""
                    key = {"window_kind": kind, "window_start": start,
                           "window_end": start + timedelta(seconds=size),
                           "window_label": label, "station_id": sid, "country": country,
                           "border": border, "station_tz": "Asia/Almaty", "event_type": etype,
                           "measure": measure, "dimension": dim, "first_event_at": start,
                           "last_event_at": start, "status": "final", "updated_at": start}
                    if rng.random() < 0.3:  # an earlier emission of the key: FINAL drops it
                        old.append(_row(WINDOW_STATS, **key, **_stats(rng, etype, measure),
                                        version=1))
                    s = _stats(rng, etype, measure)
                    latest.append(_row(WINDOW_STATS, **key, **s, version=2))
                    truth.append({**key, **s})
    return old, latest, truth


ALERT_SPECS = {  # name → (scope, scope_key, station_id)
    "tj-station": ("station", "TJ-PYANJ", "TJ-PYANJ"),
    "kz-station": ("station", "KZ-KORDAI", "KZ-KORDAI"),
    "kz-country": ("country", "KZ", ""),
    "kg-kz-border": ("border", "KG-KZ", ""),
    "all": ("all", "all", ""),
    "kz-kg-pair": ("pair", "KG-AK-JOL+KZ-KORDAI", ""),
}
ALERT_ID = {n: uuid.uuid5(uuid.NAMESPACE_URL, f"matrix-{n}") for n in ALERT_SPECS}
ALERTS_SEEN = {"all": set(ALERT_SPECS), "kz": {"kz-station", "kz-country", "kg-kz-border",
                                               "kz-kg-pair"}}
MUTE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "matrix-mute"))  # mutes kz-station
# /alerts filters → the alerts they keep (before the token's scope)
ALERT_FILTERS: list[tuple[dict[str, str], set[str]]] = [
    ({"severity": "warning,critical"}, set(ALERT_SPECS)),
    ({"severity": "info"}, set()),
    ({"state": "resolved"}, {"all"}),
    ({"rule": "kz-country"}, {"kz-country"}),
    ({"country": "KZ"}, {"kz-station", "kz-country", "kg-kz-border", "kz-kg-pair"}),
    ({"station": "KZ-KORDAI"}, {"kz-station", "kz-kg-pair"}),
    ({"acknowledged": "false", "sort": "time"}, set(ALERT_SPECS)),
    ({"acknowledged": "true"}, set()),
    ({"muted": "true"}, {"kz-station"}),
    ({"muted": "false", "open": "true"}, set(ALERT_SPECS) - {"kz-station", "all"}),
]


@dataclass
class Fixture:
    db: Database
    truth: list[dict[str, Any]]
    events_30d: dict[str, int]
    late_24h: dict[str, int]
    dlq_24h: dict[str, int]
    secrets: dict[str, str] = field(default_factory=dict)
    event_ids: dict[str, uuid.UUID] = field(default_factory=dict)  # station → one event


FEED_IDS = {"KZ-KORDAI": uuid.uuid4(), "TJ-PYANJ": uuid.uuid4()}


def _fill(db: Database, windows: Sequence[str]) -> Fixture:
    db.insert("stations", STATIONS.column_names, [
        _row(STATIONS, station_id=sid, valid_from=datetime(2018, 1, 1, tzinfo=UTC),
             name=sid.title(), country=c, agency=a, crossing_point=sid,
             neighbour_country=b.replace(c, "").strip("-"), border=b, paired_blo=p,
             lat=40.0, lon=70.0, tz="Asia/Almaty", coord_source="test",
             coord_approximate=1, active=1, updated_at=CLOCK)
        for sid, (c, a, b, p) in POSTS.items()])
    old, latest, truth = _window_rows(windows)
    db.insert("window_stats", WINDOW_STATS.column_names, old)
    db.insert("window_stats", WINDOW_STATS.column_names, latest)
    events, late, dead = [], [], []
    n30: dict[str, int] = defaultdict(int)
    n_late: dict[str, int] = defaultdict(int)
    n_dlq: dict[str, int] = defaultdict(int)
    for i, (sid, (country, agency, border, paired)) in enumerate(POSTS.items()):
        for k in range(i + 1):
            at = CLOCK - timedelta(hours=k * 5)
            events.append(_row(EVENTS, event_type="crossing", schema_version=1, station_id=sid,
                               source_seq=k, occurred_at=at, reported_at=at, ingested_at=at,
                               country=country, agency=agency, border=border,
                               paired_blo=paired))
            n30[sid] += 1
        old_at = CLOCK - timedelta(days=40)  # outside the 30 days health looks at
        events.append(_row(EVENTS, event_type="crossing", schema_version=1, station_id=sid,
                           source_seq=99, occurred_at=old_at, reported_at=old_at,
                           ingested_at=old_at, country=country))
        for k in range(i % 3):
            late.append(_row(LATE_EVENTS, station_id=sid, window_kind="1h",
                             window_start=HOUR - timedelta(hours=3), event_type="crossing",
                             occurred_at=HOUR - timedelta(hours=3),
                             recorded_at=CLOCK - timedelta(hours=k + 1)))
            n_late[sid] += 1
        for k in range(2 - i % 2):
            dead.append(_row(DLQ, dlq_id=f"{sid}-{k}", failed_at=CLOCK - timedelta(hours=k),
                             reason="invalid", reasons=["invalid"], station_id=sid,
                             payload="{}", payload_encoding="utf-8"))
            n_dlq[sid] += 1
    # the feed's significant events: a seizure at KZ-KORDAI, an incident at TJ-PYANJ
    feed_at = CLOCK - timedelta(hours=1)
    for sid, etype, extra in (
            ("KZ-KORDAI", "seizure", {"drug": "heroin", "quantity": 12.5, "quantity_unit": "kg",
                                      "quantity_kg": 12.5, "arrests": 1}),
            ("TJ-PYANJ", "incident", {"persons": 2, "payload": json.dumps(
                {"incident_type": "crisis", "impact": "high", "confidence": "low"})})):
        country, agency, border, paired = POSTS[sid]
        events.append(_row(EVENTS, event_id=FEED_IDS[sid], event_type=etype, schema_version=1,
                           station_id=sid, source_seq=50, occurred_at=feed_at,
                           reported_at=feed_at, ingested_at=feed_at, country=country,
                           agency=agency, border=border, paired_blo=paired, **extra))
        n30[sid] += 1
    db.insert("events", EVENTS.column_names, events)
    event_ids = {str(r[3]): r[0] for r in reversed(events)
                 if r[0] not in FEED_IDS.values()}  # the first crossing of each station
    # KZ-KORDAI's was corrected once: its history is in event_revisions
    kordai = next(r for r in events if r[0] == event_ids["KZ-KORDAI"])
    db.insert("event_revisions", EVENT_REVISIONS.column_names, [
        _row(EVENT_REVISIONS, event_id=kordai[0], station_id="KZ-KORDAI", revision=n,
             correction_reason="recounted" if n else "", event_type="crossing",
             occurred_at=kordai[5], reported_at=kordai[5], ingested_at=kordai[5],
             body_hash=f"h{n}", payload=json.dumps({"persons": 2 + n}))
        for n in (0, 1)])
    db.insert("late_events", LATE_EVENTS.column_names, late)
    db.insert("dlq", DLQ.column_names, dead)
    alerts = []
    t = HOUR - timedelta(hours=1)
    for name, (scope, key, station) in ALERT_SPECS.items():
        alerts.append(_row(ALERTS, alert_id=ALERT_ID[name], version=1, rule_id=name,
                           rule_name=name, kind="threshold", severity="warning",
                           state="firing" if name != "all" else "resolved", scope=scope,
                           scope_key=key, station_id=station, window_kind="1h",
                           window_start=t, window_end=t + timedelta(hours=1), value=3.0,
                           threshold=2.0, message="m", fired_at=t,
                           resolved_at=EPOCH if name != "all" else CLOCK, updated_at=t))
    db.insert("alerts", ALERTS.column_names, alerts)
    # one active mute (the KZ station alert's rule, in KZ): every engine runs the mute SQL
    db.insert("alert_mutes", ALERT_MUTES.column_names, [Mute(
        MUTE_ID, 1, "kz-station", "country", "KZ", "matrix", "duty",
        int(CLOCK.timestamp()) - 3600, int(CLOCK.timestamp()) + 3600,
        updated_at=int(CLOCK.timestamp()) - 3600).row()])
    fx = Fixture(db, truth, dict(n30), dict(n_late), dict(n_dlq), event_ids=event_ids)
    for token, token_scope in TOKENS.items():
        fx.secrets[token] = create_token(db, f"matrix {token}", token_scope)[1]
    return fx


# --------------------------------------------------------------------------------------
# the oracle
# --------------------------------------------------------------------------------------
def _visible(token: str) -> tuple[set[str], set[str]]:
    """(visible stations, paired foreign posts) of a token, from POSTS."""
    scope = TOKENS[token]
    own = {s for s, (c, *_) in POSTS.items() if scope.all or c in scope.countries}
    paired = set() if scope.all else {
        s for s, (_, _, _, p) in POSTS.items() if s not in own and (
            p in own or any(POSTS[o][3] == s for o in own))}
    return own, paired


def _bounds(q: dict[str, str]) -> tuple[datetime, datetime]:
    to = datetime.fromisoformat(q["to"]) if "to" in q else CLOCK
    return (datetime.fromisoformat(q["from"]) if "from" in q else to - timedelta(days=1)), to


def _rows_for(fx: Fixture, q: dict[str, str], stations: set[str],
              filters: Sequence[str]) -> list[dict[str, Any]]:
    t0, t1 = _bounds(q)
    return [r for r in fx.truth if r["window_kind"] == q.get("window", "1h")
            and t0 <= r["window_start"] < t1 and r["station_id"] in stations
            and all(FILTER_MEANS[f](r, q[f]) for f in filters if f in q)]


def _figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {s: round(agg([r[col] for r in rows]), 6) for s, (col, agg) in STAT_MEANS.items()}


def _expected_stats(rows: list[dict[str, Any]], groups: Sequence[str]) -> list[dict[str, Any]]:
    if not groups:  # an aggregate without GROUP BY: one row, zeros when nothing matched
        return [_figures(rows)]
    by: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[tuple(r[GROUP_COLUMN[g]] for g in groups)].append(r)
    return [{**dict(zip(groups, k, strict=True)), **_figures(v)} for k, v in sorted(by.items())]


def expected_stats(fx: Fixture, token: str, q: dict[str, str]) -> dict[str, Any]:
    own, paired = _visible(token)
    groups = [g for g in q.get("group_by", "country").split(",") if g]
    body: dict[str, Any] = {"rows": _expected_stats(_rows_for(fx, q, own, FILTERS), groups)}
    if paired and "station" not in q:
        pgroups = [g for g in groups if g != "station"] or ["country"]
        prow = _rows_for(fx, q, paired, ("event_type", "drug"))
        body["paired"] = {"group_by": pgroups, "rows": _expected_stats(prow, pgroups)}
    return body


def expected_top(fx: Fixture, token: str, q: dict[str, str]) -> list[dict[str, Any]]:
    col, agg = STAT_MEANS[q.get("stat", "events")]
    by: dict[str, list[float]] = defaultdict(list)
    for r in _rows_for(fx, q, _visible(token)[0], FILTERS):
        by[r["station_id"]].append(r[col])
    ranked = sorted(((round(agg(v), 6), s) for s, v in by.items()), key=lambda x: (-x[0], x[1]))
    return [{"station_id": s, "country": POSTS[s][0], "value": v}
            for v, s in ranked[:int(q.get("n", "10"))]]


def expected_series(fx: Fixture, token: str, q: dict[str, str]) -> list[dict[str, Any]]:
    col, agg = STAT_MEANS[q.get("stat", "events")]
    by: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows_for(fx, q, _visible(token)[0], FILTERS):
        by[r["window_start"]].append(r)
    return [{"t": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "label": rs[0]["window_label"] or None,
             "value": round(agg([r[col] for r in rs]), 6)} for t, rs in sorted(by.items())]


# --------------------------------------------------------------------------------------
# the calls
# --------------------------------------------------------------------------------------
def _subsets(names: Sequence[str]) -> list[tuple[str, ...]]:
    return [c for k in range(len(names) + 1) for c in itertools.combinations(names, k)]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _range(i: int) -> dict[str, str]:
    """Alternately the default range (the day before CLOCK) and an explicit one."""
    if i % 2:
        return {}
    return {"from": _iso(CLOCK - timedelta(days=3)), "to": _iso(CLOCK + timedelta(hours=1))}


def plan(windows: Sequence[str]) -> list[tuple[str, str, dict[str, str]]]:
    """(token, path, query) of every statistics call."""
    calls: list[tuple[str, str, dict[str, str]]] = []
    for token in TOKENS:
        i = 0
        for fs in _subsets(FILTERS):
            for gb in _subsets(GROUP_NAMES):
                order = gb[::-1] if i % 3 == 1 else gb
                q = {**{f: SAMPLE[f] for f in fs}, "group_by": ",".join(order),
                     "window": windows[i % len(windows)], **_range(i)}
                calls.append((token, "/api/v1/stats", q))
                i += 1
        for path in ("/api/v1/top", "/api/v1/series"):
            i = 0
            for fs in _subsets(FILTERS):
                for stat in STAT_NAMES:
                    q = {**{f: SAMPLE[f] for f in fs}, "stat": stat,
                         "window": windows[i % len(windows)], **_range(i)}
                    if path.endswith("top"):
                        q["n"] = str((1, 3, 100)[i % 3])
                    calls.append((token, path, q))
                    i += 1
            for window in windows:  # no filter, default range, each statistic
                calls.extend((token, path, {"window": window, "stat": s}) for s in STAT_NAMES)
    return calls


def _check_number(v: Any, where: str) -> None:
    assert isinstance(v, int | float) and not isinstance(v, bool), (where, v)


def check_stats(fx: Fixture, token: str, q: dict[str, str], body: dict[str, Any]) -> None:
    groups = [g for g in q["group_by"].split(",") if g]
    assert body["group_by"] == groups and body["window"] == q["window"]
    for r in body["rows"]:
        assert list(r) == [*groups, *STAT_NAMES], r
        for g in groups:
            assert isinstance(r[g], str)
        for s in STAT_NAMES:
            _check_number(r[s], s)
    want = expected_stats(fx, token, q)
    assert body["rows"] == want["rows"]
    assert body.get("paired") == want.get("paired")


def check_top(fx: Fixture, token: str, q: dict[str, str], body: dict[str, Any]) -> None:
    assert body["stat"] == q["stat"] and body["window"] == q["window"]
    for r in body["rows"]:
        assert set(r) == {"station_id", "country", "value"}
        _check_number(r["value"], "value")
    assert body["rows"] == expected_top(fx, token, q)


def check_series(fx: Fixture, token: str, q: dict[str, str], body: dict[str, Any]) -> None:
    assert body["stat"] == q["stat"] and body["window"] == q["window"]
    for p in body["points"]:
        assert set(p) == {"t", "label", "value"}
        _check_number(p["value"], "value")
    assert body["points"] == expected_series(fx, token, q)


CHECKS = {"/api/v1/stats": check_stats, "/api/v1/top": check_top,
          "/api/v1/series": check_series}


class Runner(InProcessApi):
    """The app over one engine's database, called in-process: it reads through ``reader``
    and writes (audit) through ``writer``, as ``blo api`` and the embedded worker do."""

    def __init__(self, fx: Fixture, reader: Database, writer: Database) -> None:
        super().__init__(reader, writer, database=fx.db.database, clock=lambda: CLOCK)
        self.fx = fx

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.fx.secrets[token]}"}


def _failure(token: str, path: str, q: dict[str, str], status: int, body: Any,
             why: str = "") -> str:
    return f"{token} GET {path}?{'&'.join(f'{k}={v}' for k, v in q.items())} → {status} " \
           f"{json.dumps(body)[:300]} {why}"


async def _json(client: TestClient[Any, Any], path: str, headers: dict[str, str],
                params: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = await client.get(path, params=params or {}, headers=headers)
    text = await resp.text()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


async def _statistics(r: Runner, client: TestClient[Any, Any], failures: list[str]) -> int:
    calls = plan(r.ctx.windows)
    for token, path, q in calls:
        status, body = await _json(client, path, r.headers(token), q)
        if status != 200:
            failures.append(_failure(token, path, q, status, body))
            continue
        try:
            CHECKS[path](r.fx, token, q, body)
        except AssertionError as e:
            failures.append(_failure(token, path, q, status, body, f"— {e!r}"[:600]))
    return len(calls)


async def _others(r: Runner, client: TestClient[Any, Any], token: str) -> set[str]:
    """Every other endpoint for ``token``; returns the routes it called."""
    fx, h = r.fx, r.headers(token)
    own, _ = _visible(token)
    done: set[str] = set()

    status, body = await _json(client, "/api/v1/whoami", h)
    assert status == 200 and body["scope"] == TOKENS[token].describe()
    assert body["windows"] == list(r.ctx.windows)
    done.add("GET /api/v1/whoami")

    status, body = await _json(client, "/api/v1/stations", h)
    assert status == 200 and {s["station_id"] for s in body["stations"]} == own
    for s in body["stations"]:
        assert s["country"] == POSTS[s["station_id"]][0] and isinstance(s["lat"], float)
    done.add("GET /api/v1/stations")

    status, body = await _json(client, "/api/v1/health", h)
    assert status == 200 and body["at"] == _iso(CLOCK)
    assert {s["station_id"]: (s["events_30d"], s["late_events_24h"], s["dead_letters_24h"])
            for s in body["stations"]} == {
        s: (fx.events_30d.get(s, 0), fx.late_24h.get(s, 0), fx.dlq_24h.get(s, 0)) for s in own}
    for s in body["stations"]:
        assert s["last_event_at"] == _iso(CLOCK) and s["event_time_lag_s"] == 0
    done.add("GET /api/v1/health")

    for params, names in (({}, ALERTS_SEEN[token]),
                          ({"open": "true"}, ALERTS_SEEN[token] - {"all"}),
                          ({"limit": "1"}, None)):
        status, body = await _json(client, "/api/v1/alerts", h, params)
        assert status == 200, body
        got = {a["alert_id"] for a in body["alerts"]}
        if names is None:
            assert len(got) == 1
        else:
            assert got == {str(ALERT_ID[n]) for n in names}, (params, body)
        for a in body["alerts"]:
            assert a["fired_at"] == _iso(HOUR - timedelta(hours=1)) and a["acked"] is False
    for params, keep in ALERT_FILTERS:
        status, body = await _json(client, "/api/v1/alerts", h, params)
        want = {str(ALERT_ID[n]) for n in keep & ALERTS_SEEN[token]}
        assert status == 200 and body["total"] == len(want), (token, params, body)
        assert {a["alert_id"] for a in body["alerts"]} == want, (token, params)
        assert body["counts"]["alerts"] == len(want)
        for a in body["alerts"]:
            assert (a["muted"] or {}).get("mute_id") == (
                MUTE_ID if a["alert_id"] == str(ALERT_ID["kz-station"]) else None)
        status, body = await _json(client, "/api/v1/alerts", h,
                                   {**params, "group": "rule_scope"})
        assert status == 200 and body["total"] == len(want), (token, params, body)
        assert {g["latest_alert_id"] for g in body["groups"]} == want
    done.add("GET /api/v1/alerts")

    status, body = await _json(client, "/api/v1/alerts/mutes", h)
    assert status == 200 and [(m["mute_id"], m["status"]) for m in body["mutes"]] == [
        (MUTE_ID, "active")]
    done.add("GET /api/v1/alerts/mutes")
    sent_before = len(r.acks)
    resp = await client.post("/api/v1/alerts/mutes", headers=h, json={
        "scope": "KZ-KORDAI", "duration": "30m", "reason": "matrix"})
    assert resp.status == 200, await resp.text()
    assert len(r.acks) == sent_before + 1 and '"k":"m"' in r.acks[-1][2]
    resp = await client.post("/api/v1/alerts/mutes", headers=h, json={
        "scope": "TJ-PYANJ", "duration": "30m", "reason": "matrix"})
    assert resp.status == (200 if token == "all" else 403), await resp.text()
    done.add("POST /api/v1/alerts/mutes")
    resp = await client.delete(f"/api/v1/alerts/mutes/{uuid.uuid4()}", headers=h)
    assert resp.status == 404, await resp.text()
    resp = await client.delete(f"/api/v1/alerts/mutes/{MUTE_ID}", headers=h)
    assert resp.status == 200, await resp.text()  # sent; the engine would end it
    assert '"op":"expire"' in r.acks[-1][2]
    done.add("DELETE /api/v1/alerts/mutes/{mute_id}")

    resp = await client.post(f"/api/v1/alerts/{ALERT_ID['kz-station']}/ack",
                             json={"comment": "seen"}, headers=h)
    assert resp.status == 200, await resp.text()
    assert r.acks and str(ALERT_ID["kz-station"]) in r.acks[-1][2]
    done.add("POST /api/v1/alerts/{alert_id}/ack")

    since = _iso(HOUR - timedelta(hours=2))
    resp = await client.post("/api/v1/alerts/ack", json={"since": since, "dry_run": True},
                             headers=h)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body["alert_ids"]) == {str(ALERT_ID[n]) for n in ALERTS_SEEN[token]}
    assert body["sent"] == 0
    sent_before = len(r.acks)
    resp = await client.post("/api/v1/alerts/ack", json={"scope": "KZ-KORDAI"}, headers=h)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body["alert_ids"]) == {str(ALERT_ID["kz-station"]), str(ALERT_ID["kz-kg-pair"])}
    assert len(r.acks) == sent_before + 2
    resp = await client.post("/api/v1/alerts/ack", json={"scope": "TJ-PYANJ"}, headers=h)
    assert resp.status == (200 if token == "all" else 403), await resp.text()
    done.add("POST /api/v1/alerts/ack")

    for sid, eid in fx.event_ids.items():  # another scope's event: 404, as an unknown one
        status, body = await _json(client, f"/api/v1/events/{eid}/history", h)
        assert status == (200 if sid in own else 404), (sid, status, body)
        if status == 200:
            assert body["station_id"] == sid and body["event_id"] == str(eid)
            assert [r["revision"] for r in body["revisions"]] == (
                [0, 1] if sid == "KZ-KORDAI" else [0])
            if sid == "KZ-KORDAI":
                assert body["revisions"][1]["changes"] == [
                    {"field": "persons", "old": 2, "new": 3}]
    done.add("GET /api/v1/events/{event_id}/history")

    done |= await _live_picture(client, token, h, own)
    done |= await _analysis(r, client, token, h, own)
    done |= await _exports(client, token, h, own)

    snap = await first_snapshot(client, fx.secrets[token])
    window = "1m" if "1m" in r.ctx.windows else r.ctx.windows[0]
    recent = [t for t in fx.truth if t["window_kind"] == window and t["station_id"] in own
              and CLOCK - timedelta(hours=1) <= t["window_start"] < CLOCK + timedelta(hours=1)]
    assert {s["station_id"] for s in snap["stations"]} == own
    assert snap["events_1h"] == sum(t["events"] for t in recent)
    per: dict[str, int] = defaultdict(int)
    for t in recent:
        per[_iso(t["window_start"])] += t["events"]
    assert snap["series"] == [{"t": k, "events": v} for k, v in sorted(per.items())]
    # open and not muted (kz-station is muted): exact, with the muted one counted apart
    assert snap["alerts_open"] == len(ALERTS_SEEN[token] - {"all", "kz-station"})
    assert snap["alerts_counts"]["open_muted"]["total"] == 1
    done.add("GET /api/v1/live")
    return done


async def _live_picture(client: TestClient[Any, Any], token: str, h: dict[str, str],
                        own: set[str]) -> set[str]:
    """The feed and the post page (the dashboard's live picture) for ``token``."""
    status, body = await _json(client, "/api/v1/feed", h)
    assert status == 200, body
    want = [sid for sid in ("KZ-KORDAI", "TJ-PYANJ") if sid in own]
    assert sorted(i["station_id"] for i in body["items"]) == sorted(want)
    for item in body["items"]:
        assert item["event_id"] == str(FEED_IDS[item["station_id"]])
        assert item["occurred_at"] == _iso(CLOCK - timedelta(hours=1))
        if item["event_type"] == "seizure":
            assert (item["drug"], item["kg"], item["arrests"]) == ("heroin", 12.5, 1)
        else:
            assert (item["incident_type"], item["impact"], item["persons"]) == ("crisis", "high", 2)
    status, body = await _json(client, "/api/v1/feed", h, {"station": "TJ-PYANJ"})
    assert status == (200 if "TJ-PYANJ" in own else 403), body
    status, body = await _json(client, "/api/v1/feed", h, {"event_type": "seizure",
                                                           "limit": "1"})
    assert status == 200 and [i["event_type"] for i in body["items"]] == ["seizure"]
    for sid in POSTS:
        status, body = await _json(client, f"/api/v1/posts/{sid}", h)
        assert status == (200 if sid in own else 404), (sid, body)
        if status == 200:
            assert body["station"]["station_id"] == sid
            assert set(body["series"]) == {"24h", "7d"}
            assert body["health"]["station_id"] == sid
    # the bulletin of the token's own scope (its figures: tests/integration/analytics)
    status, body = await _json(client, "/api/v1/bulletins", h,
                               {"period": CLOCK.strftime("%Y-%m"), "format": "json"})
    assert status == 200 and {p["station_id"] for p in body["posts"]} == own, body
    # stored bulletin editions: none here (their contents: tests/integration/analytics)
    status, body = await _json(client, "/api/v1/bulletins/editions", h,
                               {"period": CLOCK.strftime("%Y-%m")})
    assert status == 200 and body == {"scopes": None if token == "all" else ["KZ"],
                                      "editions": []}, body
    status, body = await _json(client, "/api/v1/bulletins/editions/download", h,
                               {"period": CLOCK.strftime("%Y-%m"), "lang": "en"})
    assert status == 404 and "no edition" in body["error"], body
    return {"GET /api/v1/feed", "GET /api/v1/posts/{station_id}", "GET /api/v1/bulletins",
            "GET /api/v1/bulletins/editions", "GET /api/v1/bulletins/editions/download"}


async def _analysis(r: Runner, client: TestClient[Any, Any], token: str, h: dict[str, str],
                    own: set[str]) -> set[str]:
    """Routes and trends (docs/analysis.md) for ``token``: 200 on both engines, figures
    equal to the oracle's where this test holds the data."""
    status, body = await _json(client, "/api/v1/routes", h)
    assert status == 200 and set(body["stations"]) == own, body
    # KZ-KORDAI's seizure (its payload names no route): one flow of unknown countries
    assert [(f["drug"], f["kg"], f["cases"], f["chain"]) for f in body["flows"]] == [
        ("heroin", 12.5, 1, [])] and body["edges"] == []
    month = (CLOCK - timedelta(hours=1)).strftime("%Y-%m")
    status, body = await _json(client, "/api/v1/routes", h, {
        "period": month, "drug": "heroin", "weight": "cases", "country": "KZ"})
    assert status == 200 and body["totals"] == {"kg": 12.5, "cases": 1, "flows": 1}, body
    status, body = await _json(client, "/api/v1/routes", h, {"station": "TJ-PYANJ"})
    assert status == (200 if "TJ-PYANJ" in own else 403), body

    rows = _rows_for(r.fx, {}, own, [])
    status, body = await _json(client, "/api/v1/trends/compare", h,
                               {"group_by": "station", "stat": "events"})
    assert status == 200, body
    (prev, _) = body["comparisons"]
    assert {x["station"]: x["current"] for x in prev["rows"] if x["current"]} == {
        s: v["events"] for s, v in _by_station(rows).items() if v["events"]}
    before = _rows_for(r.fx, {"from": prev["base"]["from"], "to": prev["base"]["to"]}, own, [])
    assert sum(x["base"] for x in prev["rows"]) == _figures(before)["events"]
    for q in ({"period": month, "group_by": "country,event_type", "stat": "seizure_kg"},
              {"window": r.ctx.windows[-1], "against": "year_before", "drug": "heroin"}):
        status, body = await _json(client, "/api/v1/trends/compare", h, q)
        assert status == 200, (q, body)
    status, body = await _json(client, "/api/v1/trends/ranked", h, {"min_base": "0"})
    assert status == 200 and {x["station"] for x in body["rows"]} <= own, body

    for sid in ("KZ-KORDAI", "TJ-PYANJ"):
        status, body = await _json(client, "/api/v1/trends/baseline", h, {
            "rule": "refused-crossings-baseline-1h", "key": sid})
        assert status == (200 if sid in own else 403), body
        if status == 200:
            want: dict[str, float] = defaultdict(float)
            for t in r.fx.truth:
                if t["window_kind"] == "1h" and t["station_id"] == sid \
                        and t["window_start"] >= CLOCK - timedelta(days=7):
                    want[_iso(t["window_start"])] += t["refused"] \
                        if t["event_type"] == "crossing" else 0
            assert {p["window_start"]: p["value"] for p in body["points"]} == want
    return {"GET /api/v1/routes", "GET /api/v1/trends/compare", "GET /api/v1/trends/ranked",
            "GET /api/v1/trends/baseline"}


def _by_station(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by[row["station_id"]].append(row)
    return {s: _figures(rs) for s, rs in by.items()}


async def _exports(client: TestClient[Any, Any], token: str, h: dict[str, str],
                   own: set[str]) -> set[str]:
    """The exports (docs/exports.md) in every format: the stats export's own rows equal
    /stats, the events export holds the visible posts' events of the range."""
    import io

    import pyarrow.parquet as pq

    from blo.analytics.columns import STATS_VALUES

    span = {"from": _iso(CLOCK - timedelta(days=1)), "to": _iso(CLOCK + timedelta(minutes=1))}
    want_events = {sid: min(i + 1, 5) + (sid in FEED_IDS)
                   for i, sid in enumerate(POSTS) if sid in own}
    stats_q = {**span, "window": "1h", "group_by": "station"}
    _, body = await _json(client, "/api/v1/stats", h, stats_q)
    want_stats = {r["station"]: r["events"] for r in body["rows"]}
    for fmt in ("csv", "xlsx", "parquet"):
        for path, q in (("/api/v1/export/stats", stats_q), ("/api/v1/export/events", span)):
            resp = await client.get(path, params={**q, "format": fmt}, headers=h)
            raw = await resp.read()
            assert resp.status == 200, (token, path, fmt, raw[:300])
            if fmt == "parquet":
                df = pq.read_table(io.BytesIO(raw)).to_pandas()
            elif fmt == "xlsx":
                import pandas as pd

                df = pd.read_excel(io.BytesIO(raw))
            else:
                import pandas as pd

                df = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
            if path.endswith("stats"):
                mine = df[df["block"] == "own"]
                assert dict(zip(mine["station"], mine[STATS_VALUES["events"].en],
                                strict=True)) == want_stats, (token, fmt)
            else:
                assert df.groupby("station").size().to_dict() == want_events, (token, fmt)
    resp = await client.get("/api/v1/export/events",
                            params={**span, "station": "TJ-PYANJ"}, headers=h)
    assert resp.status == (200 if "TJ-PYANJ" in own else 403)
    return {"GET /api/v1/export/stats", "GET /api/v1/export/events"}


def _routes(app: Any) -> set[str]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if route.method != "HEAD":
            out.add(f"{route.method} {path}")
    return out


@pytest.fixture(params=["server", "chdb"])
def runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """On the ClickHouse 18.16 server the app reads as the API's read-only user
    (``readonly = 1``) and audits through the audit user's door, as ``blo api`` does; those
    users may use the database ``blo`` only. On chDB one database does both."""
    windows = tuple(w.name for w in window_config(load_settings().windows).windows)
    if request.param == "chdb":
        db: Database = request.getfixturevalue("chdb_db")
        r = Runner(_fill(db, windows), db, db)
        yield r
        r.close()
        return
    server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
    make = request.getfixturevalue("make_clickhouse_db")
    admin: ServerDatabase = make("blo", migrated=False)
    for name in ("blo", "blo_audit"):  # whatever an interrupted run left behind
        admin.command(f"DROP DATABASE IF EXISTS {name}")
    migrate(admin)
    ch = ClickHouseSettings.model_validate({})
    reader, writer = (ServerDatabase(parse_clickhouse_url(url), ch)
                      for url in (server.reader_url("blo"), server.audit_url("blo")))
    r = Runner(_fill(admin, windows), reader, writer)
    yield r
    r.close()
    reader.close()
    writer.close()
    admin.command("DROP DATABASE IF EXISTS blo_audit")


def test_every_endpoint_with_every_filter_group_by_and_statistic(runner: Runner) -> None:
    r = runner
    failures: list[str] = []
    routes = _routes(build_api(r.ctx))

    async def main(client: TestClient[Any, Any]) -> tuple[int, set[str]]:
        n = await _statistics(r, client, failures)
        done = {"GET /api/v1/stats", "GET /api/v1/top", "GET /api/v1/series"}
        for token in TOKENS:
            done |= await _others(r, client, token)
        status, doc = await _json(client, "/api/v1/openapi.json", {})
        assert status == 200 and set(doc["paths"]) == {
            p.split(" ", 1)[1] for p in routes if p.split(" ", 1)[1].startswith("/api/v1/")
        } - {"/api/v1/openapi.json"}
        done.add("GET /api/v1/openapi.json")
        status, body = await _json(client, "/healthz", {})
        assert status == 200 and body == {"status": "alive"}
        done.add("GET /healthz")
        return n, done

    n, done = r.run(main)  # the app's cleanup flushes the audit rows
    audited = r.fx.db.query(f"SELECT count() FROM {r.fx.db.database}.api_audit "
                            "WHERE status = 200")
    assert int(audited[0][0]) >= n
    assert not failures, f"{len(failures)} of {n} statistics calls failed:\n" + \
        "\n".join(failures[:40])
    assert n > 2000
    api_routes = {x for x in routes if " /api/" in x or x.endswith(" /healthz")}
    assert api_routes <= done, f"routes this test does not call: {api_routes - done}"
