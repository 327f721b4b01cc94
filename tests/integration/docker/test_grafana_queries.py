"""Every ClickHouse query of the Grafana dashboards runs on a real ClickHouse.

Grafana never runs here, so each query is expanded the way the ClickHouse datasource plugin
(grafana-clickhouse-datasource v4) would expand it before ClickHouse sees it, then run on
the session's ClickHouse 18.16 server (the oldest the project supports) and on chDB (a
current engine, as production runs), over a migrated database holding rows written here:

1. the plugin's front end: ``$__conditionalAll(phrase, $var)`` is ``1=1`` when ``var`` is
   "All", else ``phrase`` (``CHDatasource.applyConditionalAll``);
2. Grafana's template variables: ``${var:singlequote}`` is ``'a','b'``, ``$var`` /
   ``${var}`` is the value (a multi-value as ``'a','b'``: the plugin's own format), "All" is
   every option of the variable;
3. the plugin's back end macros (``pkg/macros``): ``$__timeFilter(c)`` is
   ``c >= toDateTime(FROM) AND c <= toDateTime(TO)``, ``$__fromTime`` / ``$__toTime`` are
   ``toDateTime(FROM)`` / ``toDateTime(TO)``, ``$__interval_s`` the panel interval in whole
   seconds (at least 1).

Only what the dashboards use is expanded; anything else left with a ``$`` fails the test.
The main panels' answers are compared with figures computed here from the rows written
(not from the dashboard's SQL); every query also runs with ``readonly=1`` on the server,
as the read-only Grafana user of docker/clickhouse/users.d/grafana.xml would.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from sinks.base import Database
from sinks.clickhouse import ServerDatabase
from sinks.tables import ALERTS, DLQ, LATE_EVENTS, STATIONS, WINDOW_STATS
from tests.integration.sinks.factories import dlq_row, station_row
from tests.unit.streams.alerts.factories import T0, H, dt, wrow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = ROOT / "docker" / "grafana" / "dashboards"
CLICKHOUSE_DS = "grafana-clickhouse-datasource"

# The dashboard's time range and interval in these tests: two days either side of T0
# (2024-05-01T10:00Z, an hour boundary).
T_FROM = T0 - 2 * 24 * H
T_TO = T0 + 2 * 24 * H
INTERVAL_S = 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL = "$__all"


# --- the expander -------------------------------------------------------------------------

@dataclass
class Variable:
    name: str
    options: list[str]
    multi: bool


@dataclass
class Query:
    dashboard: str
    title: str
    panel_type: str
    sql: str


@dataclass
class Dashboard:
    name: str
    variables: dict[str, Variable] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)


def _walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _walk(p.get("panels", []))


def _is_clickhouse(obj: dict[str, Any]) -> bool:
    return bool((obj.get("datasource") or {}).get("type") == CLICKHOUSE_DS)


def load_dashboards() -> list[Dashboard]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        dash = Dashboard(path.name)
        for var in raw.get("templating", {}).get("list", []):
            if var["type"] == "custom":
                options = [o.strip() for o in var["query"].split(",")]
            elif var["type"] == "query" and _is_clickhouse(var):
                options = []  # filled from the database by the test (its own query)
                dash.queries.append(Query(path.name, f"${var['name']}", "variable",
                                          var["query"]["rawSql"]))
            else:
                continue
            dash.variables[var["name"]] = Variable(var["name"], options, bool(var.get("multi")))
        for p in _walk(raw["panels"]):
            for t in p.get("targets", []):
                if _is_clickhouse(t) or (_is_clickhouse(p) and not t.get("datasource")):
                    dash.queries.append(Query(path.name, p["title"], p["type"], t["rawSql"]))
        if dash.queries:
            out.append(dash)
    return out


def _macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Arguments of the call whose '(' is at ``open_paren`` (split at its own commas, not
    those of nested parentheses) and the index just past its ')'."""
    depth, start, args = 0, open_paren + 1, []
    for i in range(open_paren, len(sql)):
        c = sql[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise AssertionError(f"unbalanced parentheses after {sql[open_paren - 20:open_paren + 1]!r}")


_VAR_IN_ARG = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_TEMPLATE_VAR = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_MACRO = re.compile(r"\$__(\w+)")


def _conditional_all(sql: str, selection: dict[str, list[str] | str]) -> str:
    macro = "$__conditionalAll("
    while (i := sql.rfind(macro)) != -1:
        args, end = _macro_args(sql, i + len(macro) - 1)
        assert len(args) == 2, args
        m = _VAR_IN_ARG.search(args[1].strip())
        assert m, args[1]
        value = selection[m.group(1) or m.group(2)]
        is_all = value == [ALL] or value in ("", ALL)
        sql = sql[:i] + ("1=1" if is_all else args[0]) + sql[end:]
    return sql


def _format(values: list[str] | str, fmt: str | None, multi: bool) -> str:
    if fmt == "singlequote":  # Grafana: each value quoted, ' escaped as \'
        vals = values if isinstance(values, list) else [values]
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in vals)
    assert fmt is None, f"format {fmt} not modelled"
    if isinstance(values, list):  # the plugin's format for multi-values
        return "'" + "','".join(values) + "'"
    return values


def _variables(sql: str, dash: Dashboard, selection: dict[str, list[str] | str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name.startswith("__"):  # a macro: the plugin's back end expands it
            return m.group(0)
        var = dash.variables[name]
        value = selection[name]
        if value == [ALL]:
            value = var.options
        return _format(value, m.group(2), var.multi)

    return _TEMPLATE_VAR.sub(sub, sql)


def _macros(sql: str, t_from: int, t_to: int, interval_s: int) -> str:
    out, pos = [], 0
    for m in _MACRO.finditer(sql):
        if m.start() < pos:
            continue
        name = m.group(1)
        out.append(sql[pos:m.start()])
        pos = m.end()
        if name == "timeFilter":
            assert sql[pos] == "(", sql[m.start():]
            (col,), pos = _macro_args(sql, pos)
            col = col.strip()
            out.append(f"{col} >= toDateTime({t_from}) AND {col} <= toDateTime({t_to})")
        elif name == "fromTime":
            out.append(f"toDateTime({t_from})")
        elif name == "toTime":
            out.append(f"toDateTime({t_to})")
        elif name == "interval_s":
            out.append(str(max(interval_s, 1)))
        else:
            raise AssertionError(f"macro $__{name} is not modelled by this test")
    out.append(sql[pos:])
    return "".join(out)


def expand(sql: str, dash: Dashboard, selection: dict[str, list[str] | str], database: str,
           *, t_from: int = T_FROM, t_to: int = T_TO, interval_s: int = INTERVAL_S) -> str:
    """``sql`` as ClickHouse would receive it from Grafana (see the module docstring), with
    the database ``blo`` renamed to the test's ``database``."""
    sql = _conditional_all(sql, selection)
    sql = _variables(sql, dash, selection)
    sql = _macros(sql, t_from, t_to, interval_s)
    assert "$" not in sql, f"not expanded: {sql}"
    return re.sub(r"\bblo\.(?=\w)", f"{database}.", sql)


# the expander itself, against the plugin's documented expansions ------------------------

def test_expander_follows_the_plugin() -> None:
    dash = Dashboard("d", {"c": Variable("c", ["KZ", "TJ", "KG"], True),
                           "k": Variable("k", ["1m", "1h"], False)})
    sql = ("SELECT 1 FROM blo.t WHERE $__timeFilter(ts) AND k = ${k:singlequote} AND "
           "$__conditionalAll(c IN (${c:singlequote}), $c) AND t >= $__fromTime AND "
           "t <= $__toTime GROUP BY intDiv(toUInt32(ts), $__interval_s)")
    got = expand(sql, dash, {"c": ["KZ", "TJ"], "k": "1h"}, "db", t_from=10, t_to=20,
                 interval_s=0)
    assert got == ("SELECT 1 FROM db.t WHERE ts >= toDateTime(10) AND ts <= toDateTime(20) "
                   "AND k = '1h' AND c IN ('KZ','TJ') AND t >= toDateTime(10) AND "
                   "t <= toDateTime(20) GROUP BY intDiv(toUInt32(ts), 1)")
    got = expand(sql, dash, {"c": [ALL], "k": "1m"}, "db", t_from=10, t_to=20)
    assert "1=1" in got and "c IN" not in got and "k = '1m'" in got
    assert _variables("x IN ($c)", dash, {"c": [ALL]}) == "x IN ('KZ','TJ','KG')"
    assert _variables("${c:singlequote}", dash, {"c": ["it's"]}) == "'it\\'s'"
    with pytest.raises(AssertionError, match="not modelled"):
        expand("SELECT $__timeInterval(ts)", dash, {}, "db")
    with pytest.raises(AssertionError, match="not expanded"):
        expand("SELECT 1 AS cost_in_$", dash, {}, "db")


# --- the data -----------------------------------------------------------------------------

# station → (country, name); TJ-ISHKASHIM is registered but never sends anything
POSTS = {"TJ-PYANJ": ("TJ", "Panji Poyon"), "TJ-ISHKASHIM": ("TJ", "Ishkashim"),
         "AF-SHERKHAN": ("AF", "Sher Khan Bandar"), "KZ-KORDAI": ("KZ", "Kordai"),
         "KG-AK-JOL": ("KG", "Ak-Jol"), "TJ-DUSHANBE-AIRPORT": ("TJ", "Dushanbe airport")}
COUNTRY = {sid: c for sid, (c, _) in POSTS.items()}
# the airport is an interior post (no land neighbour): border '' in the tables
BORDER = {"TJ-PYANJ": "AF-TJ", "TJ-ISHKASHIM": "AF-TJ", "AF-SHERKHAN": "AF-TJ",
          "KZ-KORDAI": "KG-KZ", "KG-AK-JOL": "KG-KZ", "TJ-DUSHANBE-AIRPORT": ""}

# 1h crossing windows: (station, hours before T0) → events, persons, refused, inbound, outbound
CROSSINGS = {
    ("TJ-PYANJ", 3): (11, 30, 1, 6, 5), ("TJ-PYANJ", 2): (9, 20, 0, 4, 5),
    ("TJ-PYANJ", 1): (4, 8, 2, 1, 3), ("KZ-KORDAI", 2): (7, 14, 1, 3, 4),
    ("KZ-KORDAI", 1): (5, 10, 0, 5, 0), ("KG-AK-JOL", 1): (3, 3, 3, 2, 1),
    ("AF-SHERKHAN", 3): (2, 2, 0, 0, 2),
}
# 1h seizure windows: (station, hours before T0, drug) → events, kg
SEIZURES = {("TJ-PYANJ", 2, "heroin"): (1, 12.5), ("TJ-PYANJ", 1, "hashish"): (2, 1.25),
            ("AF-SHERKHAN", 2, "opium"): (1, 3.0),
            ("TJ-DUSHANBE-AIRPORT", 1, "heroin"): (1, 0.75)}
# newest event per station (month windows; what "Stations: last event" reads)
LAST_EVENT = {"TJ-PYANJ": T0 - 10 * 60, "KZ-KORDAI": T0 - 50 * 60,
              "KG-AK-JOL": T0 - 70 * 60, "AF-SHERKHAN": T0 - 2 * H - 5}


def _window(start: int, size: int, kind: str, station: str, event_type: str, dimension: str,
            version: int, status: str = "final", **stats: Any) -> tuple[Any, ...]:
    r = dict(zip(WINDOW_STATS.column_names, wrow(
        start, size, kind=kind, station="TJ-PYANJ", event_type=event_type,
        dimension=dimension, status=status, version=version, **stats), strict=True))
    r.update(station_id=station, country=COUNTRY[station], border=BORDER[station])
    return tuple(r[c] for c in WINDOW_STATS.column_names)


def window_rows() -> list[tuple[Any, ...]]:
    rows = []
    per_day: Counter[str] = Counter()
    for (sid, h), (n, persons, refused, inbound, outbound) in CROSSINGS.items():
        start = T0 - h * H
        # an earlier provisional version of the same key, bigger: FINAL must drop it
        rows.append(_window(start, H, "1h", sid, "crossing", "", 1, "provisional",
                            events=n + 100, persons=persons + 100, refused=refused + 100,
                            inbound=inbound + 100, outbound=outbound + 100))
        rows.append(_window(start, H, "1h", sid, "crossing", "", 2, events=n, persons=persons,
                            refused=refused, inbound=inbound, outbound=outbound))
        # the same events in 1m windows, and in each station's day window (below)
        rows.append(_window(start, 60, "1m", sid, "crossing", "", 1, events=n))
        per_day[sid] += n
    for sid, n in per_day.items():
        rows.append(_window(T0 - 10 * H, 24 * H, "day", sid, "crossing", "", 1, events=n))
    for (sid, h, drug), (n, kg) in SEIZURES.items():
        rows.append(_window(T0 - h * H, H, "1h", sid, "seizure", drug, 2, events=n,
                            seizure_kg=kg, seizure_kg_max=kg))
    # outside the time range: counted nowhere
    rows.append(_window(T0 - 10 * 24 * H, H, "1h", "TJ-PYANJ", "crossing", "", 1, events=999,
                        inbound=999, refused=999))
    for sid, last in LAST_EVENT.items():
        month = T0 - 10 * H
        rows.append(_window(month, 30 * 24 * H, "month", sid, "crossing", "", 1,
                            "provisional", last_event_at=last - 3600))
        rows.append(_window(month, 30 * 24 * H, "month", sid, "crossing", "", 2,
                            "provisional", events=5, last_event_at=last))
    return rows


def registry_rows() -> list[tuple[Any, ...]]:
    rows = []
    for i, (sid, (country, name)) in enumerate(POSTS.items()):
        rows.append(station_row(i, station_id=sid, valid_from=dt(T0 - 400 * 24 * H),
                                name=name, country=country, agency="border_guard", active=1,
                                border=BORDER[sid], updated_at=dt(T0)))
    # an older registry record of KZ-KORDAI, under another name: the newest one counts
    rows.append(station_row(9, station_id="KZ-KORDAI", valid_from=dt(T0 - 900 * 24 * H),
                            name="Kordai (old)", country="KZ", agency="customs", active=0,
                            updated_at=dt(T0)))
    return rows


# alerts: name → (scope, scope_key, station_id, [(version, state, acked)])
ALERT_SPECS = {
    "tj-station": ("station", "TJ-PYANJ", "TJ-PYANJ", [(1, "firing", 0)]),
    "kz-resolved": ("station", "KZ-KORDAI", "KZ-KORDAI", [(1, "firing", 0),
                                                          (2, "resolved", 0)]),
    "kg-country": ("country", "KG", "", [(1, "firing", 0)]),
    "af-tj-border": ("border", "AF-TJ", "", [(1, "firing", 0)]),
    "af-acked": ("station", "AF-SHERKHAN", "AF-SHERKHAN", [(1, "firing", 0),
                                                           (2, "firing", 1)]),
}


def alert_rows() -> list[tuple[Any, ...]]:
    rows = []
    for n, (name, (scope, key, station, versions)) in enumerate(ALERT_SPECS.items()):
        fired = dt(T0 - (n + 1) * 600)
        for version, state, acked in versions:
            a = dict.fromkeys(ALERTS.column_names, 0)
            a.update(alert_id=uuid.uuid5(uuid.NAMESPACE_URL, name), version=version,
                     rule_id=name, rule_name=f"rule {name}", kind="threshold",
                     severity="warning", state=state, scope=scope, scope_key=key,
                     station_id=station, window_kind="1h", window_start=fired,
                     window_end=fired, value=60.0, threshold=50.0, message=f"{name} v{version}",
                     labels=[], fired_at=fired, resolved_at=EPOCH if state == "firing" else
                     fired, acked=acked, acked_by="ops" if acked else "", acked_at=EPOCH,
                     ack_comment="", updated_at=fired, messages="")
            rows.append(tuple(a[c] for c in ALERTS.column_names))
    return rows


def late_rows() -> list[tuple[Any, ...]]:
    def late(i: int, sid: str, kind: str, start: int, size: int) -> tuple[Any, ...]:
        return (uuid.uuid5(uuid.NAMESPACE_URL, f"late-{i}"), sid, kind, dt(start),
                dt(start + size), "crossing", dt(start + 60), dt(start + size + 7200),
                dt(T0))

    rows = [late(1, "TJ-PYANJ", "1h", T0 - 3 * H, H), late(2, "TJ-PYANJ", "1h", T0 - 3 * H, H),
            late(3, "KZ-KORDAI", "day", T0 - 10 * H, 24 * H),
            late(4, "KZ-KORDAI", "1h", T0 - 30 * 24 * H, H)]  # window outside the range
    return [*rows, rows[0]]  # a redelivered ledger row: one under FINAL


# dead letters: (dlq id, reason, station, failed at)
DEAD_LETTERS = [("d1", "invalid", "TJ-PYANJ", T0 - 90 * 60),
                ("d1", "invalid", "TJ-PYANJ", T0 - 30 * 60),  # redelivered: the later counts
                ("d2", "unknown_station", "", T0 - 2 * H - 60),
                ("d3", "not_json", "", T0 - 10 * 24 * H)]  # outside the range


def dlq_rows() -> list[tuple[Any, ...]]:
    return [dlq_row(i, dlq_id=d, reason=r, station_id=s, failed_at=dt(t))
            for i, (d, r, s, t) in enumerate(DEAD_LETTERS)]


@pytest.fixture
def db(engine_db: Database) -> Database:
    # superseded versions in a part of their own: a current engine collapses duplicates
    # inside one insert (optimize_on_insert), 18.16 does not; FINAL must do it on both
    rows = window_rows()
    version = WINDOW_STATS.column_names.index("version")
    first = min(r[version] for r in rows)
    engine_db.insert("window_stats", WINDOW_STATS.column_names,
                     [r for r in rows if r[version] == first])
    engine_db.insert("window_stats", WINDOW_STATS.column_names,
                     [r for r in rows if r[version] != first])
    engine_db.insert("stations", STATIONS.column_names, registry_rows())
    engine_db.insert("alerts", ALERTS.column_names, alert_rows())
    engine_db.insert("late_events", LATE_EVENTS.column_names, late_rows())
    engine_db.insert("dlq", DLQ.column_names, dlq_rows())
    return engine_db


# --- expected figures (computed from the rows above, not by the dashboards' SQL) -----------

def _in(countries: list[str] | None, station: str) -> bool:
    return countries is None or COUNTRY.get(station) in countries


def expected(countries: list[str] | None) -> dict[str, Any]:
    """Panel title → the rows it must return (window kind 1h), for the selected countries
    (None: All)."""
    cross = {k: v for k, v in CROSSINGS.items() if _in(countries, k[0])}
    seiz = {k: v for k, v in SEIZURES.items() if _in(countries, k[0])}
    per_hour: Counter[tuple[int, str]] = Counter()
    inout: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    refused: Counter[tuple[int, str]] = Counter()
    top: Counter[str] = Counter()
    for (sid, h), (n, _, ref, i, o) in cross.items():
        t = T0 - h * H
        per_hour[t, COUNTRY[sid]] += n
        inout[t][0] += i
        inout[t][1] += o
        refused[t, COUNTRY[sid]] += ref
        top[sid] += n
    kg: Counter[tuple[int, str]] = Counter()
    by_border: Counter[str] = Counter()
    for (sid, h, drug), (n, k) in seiz.items():
        per_hour[T0 - h * H, COUNTRY[sid]] += n
        kg[T0 - h * H, drug] += k
        by_border[BORDER[sid] or "interior"] += k
        top[sid] += n
    open_alerts = [name for name, (scope, key, sid, versions) in ALERT_SPECS.items()
                   if versions[-1][1] == "firing" and (
                       countries is None or (sid and COUNTRY[sid] in countries)
                       or (scope == "country" and key in countries))]
    latest_dlq: dict[str, tuple[str, str, int]] = {}
    for d, r, s, t in DEAD_LETTERS:
        if d not in latest_dlq or t > latest_dlq[d][2]:
            latest_dlq[d] = (r, s, t)
    dead = Counter((t // INTERVAL_S * INTERVAL_S, r) for r, s, t in latest_dlq.values()
                   if T_FROM <= t <= T_TO and (countries is None or _in(countries, s) and s))
    stations = sorted((COUNTRY[s], s) for s in POSTS if _in(countries, s))
    return {
        "Events": [(sum(per_hour.values()),)],
        "Persons crossing": [(sum(v[1] for v in cross.values()),)],
        "Seized (kg)": [(sum(v[1] for v in seiz.values()),)],
        "Refused crossings": [(sum(v[2] for v in cross.values()),)],
        "Firing alerts": [(len(open_alerts),)],
        "Dead letters": [(sum(dead.values()),)],
        "Events per hour by country": sorted((t, c, n) for (t, c), n in per_hour.items()),
        "Crossings inbound / outbound": sorted((t, i, o) for t, (i, o) in inout.items()),
        "Seizures (kg) by drug": sorted((t, d, k) for (t, d), k in kg.items()),
        "Refused crossings by country": sorted((t, c, n) for (t, c), n in refused.items()),
        "Top stations by events": sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
        "Seized (kg) by border": sorted(by_border.items(), key=lambda kv: (-kv[1], kv[0])),
        "Stations: last event": [(s, POSTS[s][1], c, LAST_EVENT.get(s)) for c, s in stations],
        "Open alerts": sorted(f"rule {n}" for n in open_alerts),
        "Late events": ([("TJ-PYANJ", "1h", 2)] if _in(countries, "TJ-PYANJ") else [])
        + ([("KZ-KORDAI", "day", 1)] if _in(countries, "KZ-KORDAI") else []),
        "Dead letters by reason": sorted((t, r, n) for (t, r), n in dead.items()),
    }


def norm(v: Any) -> Any:
    if isinstance(v, datetime):
        return int((v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp())
    if isinstance(v, float):
        return round(v, 6)
    return v


def check(title: str, rows: list[tuple[Any, ...]], want: dict[str, Any]) -> bool:
    """Compare the panels whose figures are known; True when ``title`` was checked."""
    rows = [tuple(norm(v) for v in r) for r in rows]
    if title == "Stations: last event":
        got = [(r[0], r[1], r[2], r[5]) for r in rows]
        assert got == want[title], title
        assert {r[0]: r[7] for r in rows} == {  # the border, interior posts labelled
            s: BORDER[s] or "interior" for s in POSTS if s in {r[0] for r in rows}}
        assert "interior" in {r[7] for r in rows} or "TJ" not in {r[2] for r in rows}
        for r in rows:  # silent for: now - last event (seconds), empty without an event
            if r[5] is None:
                assert r[6] is None
            else:
                now = datetime.now(UTC).timestamp()
                assert abs(r[6] - (now - r[5])) < 120, r
        assert all(r[4] == 1 and r[3] == "border_guard" for r in rows), rows
        return True
    if title == "Open alerts":
        assert sorted(r[2] for r in rows) == want[title]
        acked = {r[2]: (r[7], r[8]) for r in rows}
        if "rule af-acked" in acked:
            assert acked["rule af-acked"] == (1, "ops")
        assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)
        return True
    if title == "Late events":
        assert [r[:3] for r in rows] == want[title], title
        return True
    if title in want:
        assert rows == want[title], title
        return True
    return False


# --- the tests ----------------------------------------------------------------------------

DASHBOARDS_WITH_CLICKHOUSE = load_dashboards()


def test_the_dashboards_have_clickhouse_queries() -> None:
    titles = {q.title for d in DASHBOARDS_WITH_CLICKHOUSE for q in d.queries}
    assert set(expected(None)) <= titles


def _readonly_client(db: Database) -> Client | None:
    if not isinstance(db, ServerDatabase):
        return None
    t = db.target
    return Client(t.host, port=t.port, user=t.user, password=t.password.get_secret_value(),
                  database=t.database, settings={"readonly": 1})


# columns computed from now(): a second or two may pass between two runs of one query
CLOCK_COLUMNS = {"Stations: last event": 6}


def assert_same_rows(title: str, got: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> None:
    """The same rows, a now()-based column within 5 s (``check`` tests its value)."""
    got = [tuple(norm(v) for v in r) for r in got]
    rows = [tuple(norm(v) for v in r) for r in rows]
    col = CLOCK_COLUMNS.get(title)
    if col is None:
        assert got == rows, title
        return
    assert [r[:col] + r[col + 1:] for r in got] == [r[:col] + r[col + 1:] for r in rows], title
    for a, b in zip(got, rows, strict=True):
        assert (a[col] is None) == (b[col] is None) and abs((a[col] or 0) - (b[col] or 0)) <= 5, \
            (title, a, b)


@pytest.mark.parametrize("countries", [None, ["KZ", "TJ"]], ids=["all", "kz-tj"])
def test_every_dashboard_query_runs_and_returns_the_figures(
    db: Database, countries: list[str] | None
) -> None:
    want = expected(countries)
    checked: set[str] = set()
    readonly = _readonly_client(db)
    try:
        for dash in DASHBOARDS_WITH_CLICKHOUSE:
            # the variable queries first: their answers are the variables' options
            for q in dash.queries:
                if q.panel_type == "variable":
                    rows = db.query(expand(q.sql, dash, {}, db.database))
                    name = q.title.lstrip("$")
                    dash.variables[name].options = [str(r[0]) for r in rows]
                    if name == "country":
                        assert dash.variables[name].options == sorted(set(COUNTRY.values()))
            selection: dict[str, list[str] | str] = {
                "country": countries or [ALL], "window_kind": "1h"}
            for q in dash.queries:
                if q.panel_type == "variable":
                    continue
                sql = expand(q.sql, dash, selection, db.database)
                rows = db.query(sql)
                if check(q.title, rows, want):
                    checked.add(q.title)
                if readonly is not None:  # in readonly mode, as the Grafana user, too
                    assert_same_rows(q.title, readonly.execute(sql), rows)
                # the other window kinds run as well
                for kind in dash.variables["window_kind"].options:
                    if kind != "1h" and "${window_kind" in q.sql:
                        db.query(expand(q.sql, dash, {**selection, "window_kind": kind},
                                        db.database))
    finally:
        if readonly is not None:
            readonly.disconnect()
    assert checked == set(want)


def test_other_window_kinds_and_time_ranges(db: Database) -> None:
    """Spot checks beyond the 1h figures: the day and 1m families count the same crossings,
    a time range with nothing in it answers zeros and empty series."""
    dash = next(d for d in DASHBOARDS_WITH_CLICKHOUSE if "country" in d.variables)
    q = {x.title: x for x in dash.queries}
    total = sum(v[0] for v in CROSSINGS.values()) + sum(v[0] for v in SEIZURES.values())
    crossings = sum(v[0] for v in CROSSINGS.values())
    for kind, want in (("1h", total), ("1m", crossings), ("day", crossings)):
        sql = expand(q["Events"].sql, dash, {"country": [ALL], "window_kind": kind},
                     db.database)
        assert db.query(sql) == [(want,)], kind
    empty = {"t_from": T0 + 30 * 24 * H, "t_to": T0 + 31 * 24 * H}
    sel: dict[str, list[str] | str] = {"country": [ALL], "window_kind": "1h"}
    assert db.query(expand(q["Events"].sql, dash, sel, db.database, **empty)) == [(0,)]
    for title in ("Events per hour by country", "Dead letters by reason", "Late events"):
        assert db.query(expand(q[title].sql, dash, sel, db.database, **empty)) == [], title
