"""The analytical endpoints (issue 16; docs/analysis.md): trafficking routes and trends.

* ``GET /api/v1/routes``: flows of seized drugs between countries, from the seizures made
  at the token's own posts (never the paired foreign posts': their events are not the
  token's to read), by route and drug, weighted by kg or cases.
* ``GET /api/v1/trends/compare``: a statistic of ``/stats`` per group against the period
  before and the same period a year before, with absolute and relative change.
* ``GET /api/v1/trends/ranked``: the groups (posts by default) whose statistic rose or fell
  most.
* ``GET /api/v1/trends/baseline``: a baseline alert rule's seasonal band per window, as
  the alert engine computes it.

Thin handlers: parameters, scope checks, SQL from :mod:`blo.api.queries` and
:mod:`blo.analytics`, the answer shaped here from the pure results.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, field_validator, model_validator

from blo.analytics.periods import PERIOD_HELP, Period, PeriodError
from blo.analytics.routes import (
    country_edges,
    flows_from_rows,
    routes_sql,
    total_kg,
)
from blo.analytics.trends import AGAINST, Against, Band, Change, Span, band, compare, ranked
from blo.api import shape
from blo.api.deps import API, Api
from blo.api.http import TOKEN, ApiError, answer
from blo.api.params import INTERIOR, Group, ParamError, Stat, StatsParams, parse
from blo.api.params import _Params as ParamsModel  # parse() takes its subclasses
from blo.api.queries import stats_sql
from blo.api.routes.statistics import ranged
from blo.api.scope import Scope, Visibility, filter_refusal, key_fully_visible, visible_posts
from blo.api.tokens import iso
from streams.alert_baseline import BaselineHistory
from streams.alerts import RuleSet
from streams.alerts.check import RulesError, load_rules
from streams.alerts.rules import BaselineRule

ROUTES_DEFAULT_DAYS = 30
BASELINE_MAX_WINDOWS = 2000


def _period(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return Period.parse(v)
        except PeriodError as e:
            raise ValueError(str(e)) from None
    return v


def _utc(v: Any) -> Any:
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError("not an ISO 8601 time (e.g. 2026-11-28T10:00:00Z)") from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return v


def _span_json(s: Span) -> dict[str, Any]:
    return {"from": iso(s.start), "to": iso(s.end),
            "period": s.period.name if s.period else None, "months": list(s.months)}


# -- routes ---------------------------------------------------------------------------------
class RoutesParams(ParamsModel):
    """``GET /api/v1/routes``: a ``period`` (station-local months) or ``from``/``to``
    (default: the last 30 days); ``drug``; ``weight`` orders flows and edges; ``station``,
    ``country``, ``border`` narrow the posts (within the token's); ``limit`` flows."""

    period: Period | None = Field(None, description=PERIOD_HELP)
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    drug: str | None = Field(None, pattern=r"^[a-z_]{1,32}$")
    weight: Literal["kg", "cases"] = "kg"
    station: str | None = Field(None, max_length=64)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    border: str | None = Field(None, pattern=rf"^([A-Z]{{2}}-[A-Z]{{2}}|{INTERIOR})$")
    limit: int = Field(100, ge=1, le=1000)

    _p = field_validator("period", mode="before")(_period)
    _t = field_validator("from_", "to", mode="before")(_utc)

    @model_validator(mode="after")
    def _one_span(self) -> RoutesParams:
        if self.period is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("give a period or from/to, not both")
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self

    def span(self, now: datetime, max_days: int) -> Span:
        if self.period is not None:
            return Span.of_period(self.period)
        to = self.to or now
        start = self.from_ or to - timedelta(days=ROUTES_DEFAULT_DAYS)
        if to - start > timedelta(days=max_days):
            raise ParamError([f"from/to: at most {max_days} days per query"])
        return Span(start, to)


async def routes(request: web.Request) -> web.Response:
    api = request.app[API]
    p = parse(RoutesParams, dict(request.query))
    scope = request[TOKEN].scope
    reg, v = await api.sees(scope)
    refused = filter_refusal(scope, v, p.station, p.country, p.border)
    if refused:
        raise ApiError(403, refused)
    posts = visible_posts(v, reg.infos, p.station, p.country, p.border)
    span = p.span(api.ctx.clock(), api.ctx.max_range_days)
    sql, params = routes_sql(api.ctx.database, posts or ("",), span.start, span.end, p.drug)
    flows = flows_from_rows(await api.ctx.query(sql, params), span.months or None)
    edges = country_edges(flows)
    if p.weight == "cases":
        flows.sort(key=lambda f: -f.cases)  # stable: kg, then the route, among equals
        edges.sort(key=lambda e: -e.cases)
    body = {"scope": scope.describe(), **_span_json(span), "drug": p.drug,
            "weight": p.weight, "stations": list(posts),
            "totals": {"kg": total_kg(flows),
                       "cases": sum(f.cases for f in flows), "flows": len(flows)},
            "flows": [f.as_json() for f in flows[:p.limit]],
            "edges": [{"source": e.source, "target": e.target, "kg": e.kg, "cases": e.cases}
                      for e in edges]}
    return answer(body, len(body["flows"]))


# -- trends: comparisons and ranked changes -------------------------------------------------
class CompareParams(StatsParams):
    """``GET /api/v1/trends/compare``: ``stat`` per ``group_by`` (as ``/stats``) in a
    ``period`` (month windows, station-local labels) or in ``from``/``to`` of ``window``,
    against the ``previous`` period and/or the one a ``year_before``."""

    period: Period | None = Field(None, description=PERIOD_HELP)
    stat: Stat = "events"
    against: tuple[Against, ...] = AGAINST

    _p = field_validator("period", mode="before")(_period)

    @field_validator("against", mode="before")
    @classmethod
    def _split_against(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(dict.fromkeys(p.strip() for p in v.split(",") if p.strip()))
        return v

    @model_validator(mode="before")
    @classmethod
    def _months(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("period") is not None:
            if data.get("from") is not None or data.get("to") is not None:
                raise ValueError("give a period or from/to, not both")
            if data.get("window", "month") != "month":
                raise ValueError("a period is read from the 'month' windows")
            data = {**data, "window": "month"}
        return data


class RankedParams(CompareParams):
    """``GET /api/v1/trends/ranked``: the ``n`` groups (posts by default) whose ``stat``
    rose (``direction=fall``: fell) most against one base span, by ``absolute`` or
    ``relative`` change, among those whose base is at least ``min_base``."""

    group_by: tuple[Group, ...] = ("station",)
    against: tuple[Against, ...] = ("previous",)
    by: Literal["absolute", "relative"] = "absolute"
    direction: Literal["rise", "fall"] = "rise"
    n: int = Field(10, ge=1, le=100)
    min_base: float = Field(1.0, ge=0)

    @field_validator("against")
    @classmethod
    def _one(cls, v: tuple[Against, ...]) -> tuple[Against, ...]:
        if len(v) != 1:
            raise ValueError("rank against one span: previous or year_before")
        return v


async def _figures(api: Api, v: Visibility, p: CompareParams, span: Span
                   ) -> dict[tuple[object, ...], float]:
    """``p.stat`` per group of ``p.group_by`` in ``span`` (visible stations only)."""
    sql, params = stats_sql(api.ctx.database, p.window, span.start, span.end,
                            v.station_ids(), p, p.group_by, api.ctx.max_rows, span.months)
    rows = shape.stat_rows(p.group_by, await api.ctx.query(sql, params))
    return {tuple(r[g] for g in p.group_by): float(r[p.stat] or 0) for r in rows}


def _change_json(group_by: tuple[str, ...], c: Change) -> dict[str, Any]:
    return {**dict(zip(group_by, c.group, strict=True)), "current": shape.num(c.current),
            "base": shape.num(c.base), "change": shape.num(c.change),
            "change_pct": c.change_pct, "note": c.note}


async def _compared(request: web.Request, model: type[CompareParams]
                    ) -> tuple[CompareParams, Scope, Span, list[tuple[Against, Span,
                                                                      list[Change]]]]:
    r = await ranged(request, model)
    p = r.p
    if p.window in r.api.ctx.overlapping:  # an event is in several of its windows
        raise ParamError([(f"window: {p.window} windows overlap, so their sums count an "
                          f"event several times; compare tumbling or calendar windows")])
    current = Span.of_period(p.period) if p.period is not None else Span(r.t0, r.t1)
    now = await _figures(r.api, r.v, p, current)
    out = []
    for against in p.against:
        base = current.base(against)
        out.append((against, base, compare(now, await _figures(r.api, r.v, p, base))))
    return p, r.scope, current, out


async def trends_compare(request: web.Request) -> web.Response:
    p, scope, current, compared = await _compared(request, CompareParams)
    body = {"scope": scope.describe(), "stat": p.stat, "window": p.window,
            "group_by": list(p.group_by), "current": _span_json(current),
            "comparisons": [{"against": a, "base": _span_json(base),
                             "rows": [_change_json(p.group_by, c) for c in changes]}
                            for a, base, changes in compared]}
    return answer(body, sum(len(c) for _, _, c in compared))


async def trends_ranked(request: web.Request) -> web.Response:
    p, scope, current, compared = await _compared(request, RankedParams)
    assert isinstance(p, RankedParams)
    against, base, changes = compared[0]
    top = ranked(changes, by=p.by, direction=p.direction, n=p.n, min_base=p.min_base)
    body = {"scope": scope.describe(), "stat": p.stat, "window": p.window,
            "group_by": list(p.group_by), "by": p.by, "direction": p.direction,
            "min_base": p.min_base, "against": against, "current": _span_json(current),
            "base": _span_json(base), "rows": [_change_json(p.group_by, c) for c in top]}
    return answer(body, len(top))


# -- trends: seasonal baseline bands --------------------------------------------------------
class BaselineParams(ParamsModel):
    """``GET /api/v1/trends/baseline``: the band of baseline rule ``rule`` for scope key
    ``key`` (a station, country or border, as the rule's scope) per window starting in
    ``from``/``to`` (default: the last 7 days)."""

    rule: str = Field(..., pattern=r"^[a-z0-9_.\-]{1,64}$")
    key: str = Field(..., min_length=1, max_length=64)
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None

    _t = field_validator("from_", "to", mode="before")(_utc)


_SCOPE_COLUMN = {"station": "station_id", "country": "country", "border": "border"}


def window_starts_sql(db: str, rule: BaselineRule, key: str, t0: datetime, t1: datetime,
                      limit: int) -> tuple[str, dict[str, Any]]:
    """The starts of ``rule``'s window kind in ``[t0, t1)`` that have rows of scope key
    ``key`` (epoch seconds, oldest first; a filter on physical rows: every version of a
    window row has its start and scope)."""
    params: dict[str, Any] = {"kind": rule.window, "t0": int(t0.timestamp()),
                              "t1": int(t1.timestamp()), "key": key}
    cond = f" AND {_SCOPE_COLUMN[rule.scope]} = %(key)s" if rule.scope in _SCOPE_COLUMN \
        else ""
    sql = (f"SELECT DISTINCT toUInt32(window_start) AS s FROM {db}.window_stats "
           "WHERE window_kind = %(kind)s AND window_start >= toDateTime(%(t0)s) "
           f"AND window_start < toDateTime(%(t1)s){cond} ORDER BY s LIMIT {int(limit)}")
    return sql, params


_RULES: dict[tuple[Path, tuple[str, ...]], tuple[int, RuleSet]] = {}


def _rules(path: Path, windows: tuple[str, ...]) -> RuleSet:
    """The rules file, parsed again only when it changed (as the engine reloads it); 503
    with the reason when it cannot be read or does not load."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as e:
        raise ApiError(503, f"the alert rules file {path} cannot be read: {e.strerror}") \
            from None
    cached = _RULES.get((path, windows))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        rules = load_rules(path, windows)
    except RulesError as e:
        raise ApiError(503, f"the alert rules do not load: {e}") from None
    _RULES[(path, windows)] = (mtime, rules)
    return rules


def _band_json(b: Band) -> dict[str, Any]:
    return {"window_start": shape.epoch_iso(b.window_start), "value": shape.num(b.value),
            "weeks": b.weeks, "mean": b.mean, "stddev": b.stddev, "lower": b.lower,
            "upper": b.upper, "clear": b.clear, "above": b.above}


async def trends_baseline(request: web.Request) -> web.Response:
    api = request.app[API]
    p = parse(BaselineParams, dict(request.query))
    if api.ctx.rules_path is None:
        raise ApiError(503, "no alert rules are configured here")
    rules = _rules(api.ctx.rules_path, tuple(api.ctx.windows))
    baseline = {r.id: r for r in rules.rules if isinstance(r, BaselineRule)}
    rule = baseline.get(p.rule)
    if rule is None:
        raise ParamError([f"rule: not a baseline rule; one of {', '.join(sorted(baseline))}"
                          if baseline else "rule: the rules hold no baseline rule"])
    scope = request[TOKEN].scope
    reg, v = await api.sees(scope)
    if not key_fully_visible(v, reg.infos, rule.scope, p.key):
        # the band is a series of the whole roll-up: every post it sums must be the
        # token's (a shared border's foreign posts are not, even paired ones)
        raise ApiError(403, f"{rule.scope} {p.key} sums posts outside this token's scope "
                            f"({scope.describe()})")
    t1 = p.to or api.ctx.clock()
    t0 = p.from_ or t1 - timedelta(days=7)
    if t0 >= t1:
        raise ParamError(["'from' must be before 'to'"])
    if t1 - t0 > timedelta(days=api.ctx.max_range_days):
        raise ParamError([f"from/to: at most {api.ctx.max_range_days} days per query"])
    sql, params = window_starts_sql(api.ctx.database, rule, p.key, t0, t1,
                                    BASELINE_MAX_WINDOWS + 1)
    starts = [int(s) for (s,) in await api.ctx.query(sql, params)]
    if len(starts) > BASELINE_MAX_WINDOWS:  # never a silently shortened series
        raise ParamError([(f"from/to: more than {BASELINE_MAX_WINDOWS} {rule.window} "
                          f"windows in the range; ask for a shorter one")])
    history = BaselineHistory(api.ctx.query, api.ctx.database)
    await history.read(rule, starts)
    bands = []
    for s in starts:
        value, reporting = history.week(rule, p.key, s)
        if reporting:
            bands.append(band(rule, s, value, history(rule, p.key, s)))
    body = {"scope": scope.describe(), "rule": rule.id, "statistic": rule.statistic,
            "window": rule.window, "rule_scope": rule.scope, "key": p.key, "k": rule.k,
            "clear_k": rule.k if rule.clear_k is None else rule.clear_k,
            "weeks": rule.weeks, "min_weeks": rule.min_weeks, "min_value": rule.min_value,
            "from": iso(t0), "to": iso(t1), "points": [_band_json(b) for b in bands]}
    return answer(body, len(bands))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/routes", routes)
    router.add_get("/api/v1/trends/compare", trends_compare)
    router.add_get("/api/v1/trends/ranked", trends_ranked)
    router.add_get("/api/v1/trends/baseline", trends_baseline)
