"""The figures of a bulletin: the SQL that reads them and the shaping of its rows. Pure.

Every figure comes from the readers' views (:func:`sinks.read_model.latest`):

* the **month windows** (``window_stats``, kind ``month``: the latest version of every
  key, labelled by each post's own local month) give seizures, crossings, refusals,
  detentions, inspections, incidents and the periodic count reports. Seizures are the
  live ``seizure`` events (the drug is the row's dimension) and the imported seizure
  summaries (count reports of measure ``seizure_kg`` / ``seizure_events`` whose dimension
  starts with the drug, ``cocaine/land``: the CBP mapping's convention). Kilograms are
  summed as integer micro-kilograms, so a sum never depends on the order rows are read in;
* ``alerts`` (latest version) give the alerts of the period, counted by rule and severity,
  the ones the scope may see (:func:`blo.api.queries.visibility_conditions`);
* ``events`` and ``event_revisions`` (latest revision) give the method note: the events
  read by type, the corrections and voids of the period, and, with the ledger of events
  too late for their window (``late_events``), the **data version**.

The data version is a digest of what was read — per period the count, the highest
``ingested_at`` and a sum of hashes of (event id, revision) of the events, the count and
sum of versions of the window rows, the alert versions, the scope's registry records — so
the same command over the same data states the same version, and any new, corrected or
voided event (or a window re-emitted) changes it. Nothing in it depends on the clock.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from blo.analytics.periods import Period
from blo.analytics.routes import RouteFlow
from blo.api.queries import stations_sql, visibility_conditions
from blo.api.scope import Scope, Visibility
from sinks.read_model import Query, latest
from sinks.read_model.events import months_from
from sinks.tables import ALERTS, EVENT_REVISIONS, EVENTS, LATE_EVENTS, WINDOW_STATS

Reader = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]
"""Runs one query (``%(name)s`` placeholders, their values) and returns its rows."""

MICRO = 1_000_000
REGION = "region"
MONTH_WINDOW = "month"
SEIZURE_MEASURES = {"seizure_kg", "seizure_events"}
"""Count-report measures that are seizure summaries (blo/data/mappings/cbp_drug_seizures.yaml):
their dimension starts with the drug (``fentanyl/land``)."""


class BulletinError(ValueError):
    """A bulletin that cannot be made (an unknown scope): a message for the user."""


# -- the posts --------------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    station_id: str
    name: str
    country: str
    border: str
    lat: float | None
    lon: float | None


def registry_query(db: str) -> Query:
    """The registry's latest record of every station (:func:`blo.api.queries.stations_sql`)."""
    return Query(stations_sql(db), {})


def posts_from_rows(rows: Iterable[Sequence[Any]]) -> tuple[Post, ...]:
    """Rows of :func:`registry_query` as posts, by station id."""
    out = [Post(str(r[0]), str(r[1]), str(r[2]), str(r[4]),
                None if r[7] is None else float(r[7]), None if r[8] is None else float(r[8]))
           for r in rows]
    return tuple(sorted(out, key=lambda p: p.station_id))


def scope_posts(posts: Sequence[Post], scope: str) -> tuple[Post, ...]:
    """The posts a bulletin of ``scope`` covers: every post for ``region``, else the posts
    of that country (ISO code). :class:`BulletinError` when the registry has none."""
    if scope == REGION:
        chosen = tuple(posts)
    else:
        chosen = tuple(p for p in posts if p.country == scope)
    if not chosen:
        known = sorted({p.country for p in posts})
        raise BulletinError(f"scope {scope!r}: the registry has no post of it "
                            f"(countries: {', '.join(known) or 'none'}; or 'region')")
    return chosen


def api_scope(scope: str) -> Scope:
    return Scope(all=True) if scope == REGION else Scope(countries=frozenset({scope}))


# -- the figures of one period ----------------------------------------------------------
@dataclass(frozen=True)
class Totals:
    """Additive figures of a set of window rows; kilograms as integer micro-kilograms."""

    seizure_cases: int = 0
    seizure_ukg: int = 0
    arrests: int = 0
    crossings: int = 0
    persons: int = 0
    vehicles: int = 0
    refused: int = 0
    detentions: int = 0
    detained: int = 0
    inspections: int = 0
    finds: int = 0
    incidents: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


HEADLINE = ("seizure_cases", "seizure_ukg", "arrests", "crossings", "persons", "vehicles",
            "refused", "detentions", "detained", "incidents")
"""The headline figures, in order (``seizure_ukg``: kilograms seized)."""


@dataclass(frozen=True)
class WindowLine:
    """One row of :func:`window_query`: the sums of one (month, post, type, measure,
    dimension)."""

    label: str
    station_id: str
    event_type: str
    measure: str
    dimension: str
    events: int
    persons: int
    vehicles: int
    refused: int
    seizure_ukg: int
    arrests: int
    finds: int
    value_u: int
    provisional: int
    rows: int
    versions: int


def window_query(db: str, stations: Sequence[str], periods: Sequence[Period]) -> Query:
    """The month-window rows (readers' view) of ``stations`` whose local month is one of
    ``periods``' months, summed per (month, post, type, measure, dimension): kilograms and
    report values as integer micro-units; with the rows still provisional, the rows read and
    the sum of their versions (the data version)."""
    labels = sorted({m for p in periods for m in p.months()})
    t0 = min(p.utc_bounds()[0] for p in periods)
    t1 = max(p.utc_bounds()[1] for p in periods)
    cols = ("window_label", "station_id", "event_type", "measure", "dimension", "events",
            "persons", "vehicles", "refused", "seizure_kg", "arrests",
            "inspections_with_finds", "value", "status", "version")
    src = latest(db, WINDOW_STATS, cols,
                 "window_kind = %(kind)s AND station_id IN %(stations)s "
                 "AND window_start >= toDateTime(%(t0)s) AND window_start < toDateTime(%(t1)s)")
    sql = (f"SELECT window_label, station_id, event_type, measure, dimension, sum(events), "
           "sum(persons), sum(vehicles), sum(refused), "
           "sum(toInt64(round(seizure_kg * 1000000))), sum(arrests), "
           "sum(inspections_with_finds), sum(toInt64(round(value * 1000000))), "
           "sum(status = 'provisional'), count(), sum(version) "
           f"FROM {src} WHERE window_label IN %(labels)s "
           "GROUP BY window_label, station_id, event_type, measure, dimension "
           "ORDER BY window_label, station_id, event_type, measure, dimension")
    return Query(sql, {"kind": MONTH_WINDOW, "stations": tuple(stations) or ("",),
                       "t0": _epoch(t0), "t1": _epoch(t1), "labels": tuple(labels)})


def window_lines(rows: Iterable[Sequence[Any]]) -> list[WindowLine]:
    return [WindowLine(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]),
                       *(int(v) for v in r[5:16])) for r in rows]


def seizure_drug(line: WindowLine) -> str | None:
    """The drug of a seizure line (live seizure, or an imported seizure summary), else
    None."""
    if line.event_type == "seizure":
        return line.dimension
    if line.event_type == "count_report" and line.measure in SEIZURE_MEASURES:
        return line.dimension.split("/", 1)[0]
    return None


def line_totals(line: WindowLine) -> Totals:
    """What one window line adds to the figures."""
    et = line.event_type
    if et == "seizure":
        return Totals(seizure_cases=line.events, seizure_ukg=line.seizure_ukg,
                      arrests=line.arrests)
    if et == "count_report":
        if line.measure == "seizure_kg":
            return Totals(seizure_ukg=line.value_u)
        if line.measure == "seizure_events":
            return Totals(seizure_cases=round(line.value_u / MICRO))
        return Totals()
    if et == "crossing":
        return Totals(crossings=line.events, persons=line.persons, vehicles=line.vehicles,
                      refused=line.refused)
    if et == "detention":
        return Totals(detentions=line.events, detained=line.persons)
    if et == "inspection":
        return Totals(inspections=line.events, finds=line.finds)
    if et == "incident":
        return Totals(incidents=line.events)
    return Totals()


@dataclass(frozen=True)
class DrugLine:
    drug: str
    cases: int
    ukg: int


@dataclass(frozen=True)
class PostLine:
    station_id: str
    name: str
    country: str
    totals: Totals


@dataclass(frozen=True)
class ReportLine:
    """A periodic count report's measure (seizure summaries aside), summed."""

    measure: str
    value_u: int
    reports: int


def events_by_type(lines: Iterable[WindowLine], months: Sequence[str]
                   ) -> tuple[tuple[str, int], ...]:
    """Events per type in ``months`` (the window rows' ``events``), by type."""
    n: dict[str, int] = defaultdict(int)
    wanted = set(months)
    for line in lines:
        if line.label in wanted:
            n[line.event_type] += line.events
    return tuple(sorted(n.items()))


def totals_of(lines: Iterable[WindowLine], months: Sequence[str]) -> Totals:
    out = Totals()
    wanted = set(months)
    for line in lines:
        if line.label in wanted:
            out = out + line_totals(line)
    return out


def by_drug(lines: Iterable[WindowLine], months: Sequence[str]) -> tuple[DrugLine, ...]:
    """Seizures per drug, heaviest first (then by drug)."""
    cases: dict[str, int] = defaultdict(int)
    ukg: dict[str, int] = defaultdict(int)
    wanted = set(months)
    for line in lines:
        drug = seizure_drug(line)
        if drug is None or line.label not in wanted:
            continue
        t = line_totals(line)
        cases[drug] += t.seizure_cases
        ukg[drug] += t.seizure_ukg
    out = [DrugLine(d, cases[d], ukg[d]) for d in cases.keys() | ukg.keys()]
    return tuple(sorted(out, key=lambda d: (-d.ukg, -d.cases, d.drug)))


def by_post(lines: Iterable[WindowLine], months: Sequence[str], posts: Sequence[Post]
            ) -> tuple[PostLine, ...]:
    """Every post of the scope with its figures (zero when it reported nothing), by
    country then station id."""
    acc: dict[str, Totals] = defaultdict(Totals)
    wanted = set(months)
    for line in lines:
        if line.label in wanted:
            acc[line.station_id] = acc[line.station_id] + line_totals(line)
    out = [PostLine(p.station_id, p.name, p.country, acc.get(p.station_id, Totals()))
           for p in posts]
    return tuple(sorted(out, key=lambda p: (p.country, p.station_id)))


def reports(lines: Iterable[WindowLine], months: Sequence[str]) -> tuple[ReportLine, ...]:
    """The count reports' measures other than seizure summaries, by measure."""
    value: dict[str, int] = defaultdict(int)
    n: dict[str, int] = defaultdict(int)
    wanted = set(months)
    for line in lines:
        if (line.label in wanted and line.event_type == "count_report"
                and line.measure not in SEIZURE_MEASURES):
            value[line.measure] += line.value_u
            n[line.measure] += line.events
    return tuple(ReportLine(m, value[m], n[m]) for m in sorted(value))


# -- change against other periods -------------------------------------------------------
@dataclass(frozen=True)
class Change:
    absolute: int
    percent: float | None
    """None when the base is zero (no relative change: "n/a")."""


def change(current: int, base: int) -> Change:
    pct = None if base == 0 else round((current - base) * 100.0 / base, 1)
    return Change(current - base, pct)


@dataclass(frozen=True)
class Headline:
    key: str
    current: int
    previous: int
    year_before: int

    @property
    def vs_previous(self) -> Change:
        return change(self.current, self.previous)

    @property
    def vs_year_before(self) -> Change:
        return change(self.current, self.year_before)


def headlines(current: Totals, previous: Totals, year_before: Totals) -> tuple[Headline, ...]:
    return tuple(Headline(k, getattr(current, k), getattr(previous, k),
                          getattr(year_before, k)) for k in HEADLINE)


# -- alerts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertLine:
    rule_id: str
    names: tuple[tuple[str, str], ...]
    """(language, the rule's name)."""
    severity: str
    count: int
    firing: int

    def name(self, lang: str) -> str:
        d = dict(self.names)
        return d.get(lang) or d.get("en") or self.rule_id


SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def alerts_query(db: str, scope: str, stations: Sequence[str], period: Period) -> Query:
    """Per (rule, severity): the alerts (latest version) the scope sees that fired in the
    period's UTC months, how many still fire, the latest rule name and ``messages`` (its
    names per language), and the sum of versions (the data version)."""
    t0, t1 = period.utc_bounds(timedelta(0))
    sc = api_scope(scope)
    params: dict[str, Any] = {"t0": _epoch(t0), "t1": _epoch(t1)}
    vis = visibility_conditions(sc, Visibility(sc, frozenset(stations), frozenset()), params)
    cond = " AND ".join(["fired_at >= toDateTime(%(t0)s)", "fired_at < toDateTime(%(t1)s)",
                         *vis])
    src = latest(db, ALERTS, ("rule_id", "rule_name", "severity", "state", "scope",
                              "scope_key", "station_id", "fired_at", "messages", "version"))
    sql = ("SELECT rule_id, severity, count(), sum(state = 'firing'), "
           "argMax(rule_name, fired_at), argMax(messages, fired_at), sum(version) "
           f"FROM {src} WHERE {cond} GROUP BY rule_id, severity ORDER BY rule_id, severity")
    return Query(sql, params)


def alert_lines(rows: Iterable[Sequence[Any]]) -> tuple[tuple[AlertLine, ...], int]:
    """The alert lines (worst severity first, then rule) and the sum of versions read."""
    from streams.alerts.rows import parse_rule_names

    out, versions = [], 0
    for rule_id, sev, n, firing, name, messages, ver in rows:
        names = {"en": str(name), **parse_rule_names(messages)}
        out.append(AlertLine(str(rule_id), tuple(sorted(names.items())), str(sev), int(n),
                             int(firing)))
        versions += int(ver)
    out.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.rule_id))
    return tuple(out), versions


# -- the method note and the data version -----------------------------------------------
def events_query(db: str, stations: Sequence[str], period: Period) -> Query:
    """Per event type, the events (readers' view) of ``stations`` that occurred in the
    period's UTC bounds (widened to hold every post's local months): count, highest
    ``ingested_at`` (epoch s), sum of revisions, and a sum of hashes of (id, revision) —
    the data version's part of ``events``."""
    t0, t1 = (_epoch(t) for t in period.utc_bounds())
    src = latest(db, EVENTS, ("station_id", "event_id", "event_type", "revision",
                              "ingested_at", "occurred_at"),
                 "station_id IN %(stations)s AND " + months_from(t0, t1))
    sql = ("SELECT event_type, count(), toUInt32(max(ingested_at)), sum(revision), "
           "sum(cityHash64(toString(event_id), revision)) "
           f"FROM {src} WHERE occurred_at >= toDateTime(%(t0)s) "
           "AND occurred_at < toDateTime(%(t1)s) GROUP BY event_type ORDER BY event_type")
    return Query(sql, {"stations": tuple(stations) or ("",), "t0": t0, "t1": t1})


def corrections_query(db: str, stations: Sequence[str], period: Period) -> Query:
    """The events of ``stations`` in the period's UTC bounds that were corrected (a revision
    above 0 that does not void) or voided, per ``event_revisions`` (readers' view), and the
    events too late for their month window (``late_events``), as one row: (revised,
    voided, late)."""
    t0, t1 = (_epoch(t) for t in period.utc_bounds())
    src = latest(db, EVENT_REVISIONS, ("station_id", "event_id", "revision", "voided",
                                       "occurred_at"),
                 "station_id IN %(stations)s AND " + months_from(t0, t1))
    # a late event recorded twice (a redelivery) is one until a merge: the readers' view
    late_src = latest(db, LATE_EVENTS, ("event_id",),
                      "window_kind = %(kind)s AND station_id IN %(stations)s AND "
                      "window_start >= toDateTime(%(t0)s) AND "
                      "window_start < toDateTime(%(late_hi)s)")
    late = f"SELECT count() FROM {late_src}"
    sql = ("SELECT uniqExactIf(toString(event_id), revision > 0 AND voided = 0), "
           "uniqExactIf(toString(event_id), voided = 1), "
           f"({late}) FROM {src} WHERE occurred_at >= toDateTime(%(t0)s) "
           "AND occurred_at < toDateTime(%(t1)s)")
    # the period's month windows start within 14 h of its UTC start, the next period's
    # within 14 h of its end: [t0, t1 - 28 h) of the widened bounds holds only the former
    return Query(sql, {"stations": tuple(stations) or ("",), "t0": t0, "t1": t1,
                       "late_hi": t1 - 28 * 3600, "kind": MONTH_WINDOW})


@dataclass(frozen=True)
class EventsRead:
    event_type: str
    count: int
    last_ingested: int
    revisions: int
    hashes: int


@dataclass(frozen=True)
class Method:
    events: tuple[tuple[str, int], ...]
    """(event type, events) of the period: the month windows' event counts, each post's
    local months (a count report is one event)."""
    provisional_months: tuple[str, ...]
    """Months of the period with a window row still provisional."""
    revised: int
    voided: int
    late: int


@dataclass(frozen=True)
class DataVersion:
    digest: str
    events: int
    last_ingested: int
    window_rows: int
    alert_versions: int
    posts: int


@dataclass(frozen=True)
class Bulletin:
    """A bulletin's figures: what the renderers show, nothing computed there."""

    scope: str
    period: str
    previous: str
    year_before: str
    months: tuple[str, ...]
    posts: tuple[Post, ...]
    current: Totals
    headline: tuple[Headline, ...]
    drugs: tuple[DrugLine, ...]
    post_lines: tuple[PostLine, ...]
    reports: tuple[ReportLine, ...]
    alerts: tuple[AlertLine, ...]
    flows: tuple[RouteFlow, ...]
    """Route flows of the period, heaviest first."""
    method: Method
    version: DataVersion
    notes: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """Plain data (JSON-ready), kilograms as numbers of kg."""
        def kg(u: int) -> float:
            return u / MICRO

        def tot(t: Totals) -> dict[str, Any]:
            d: dict[str, Any] = asdict(t)
            d["seizure_kg"] = kg(d.pop("seizure_ukg"))
            return d

        return {
            "scope": self.scope, "period": self.period, "previous": self.previous,
            "year_before": self.year_before, "months": list(self.months),
            "posts": [asdict(p) for p in self.posts],
            "totals": tot(self.current),
            "headline": [{"key": "seizure_kg" if h.key == "seizure_ukg" else h.key,
                          **({k: kg(getattr(h, k)) for k in ("current", "previous",
                                                             "year_before")}
                             if h.key == "seizure_ukg" else
                             {k: getattr(h, k) for k in ("current", "previous",
                                                         "year_before")}),
                          "change_previous_pct": h.vs_previous.percent,
                          "change_year_before_pct": h.vs_year_before.percent}
                         for h in self.headline],
            "drugs": [{"drug": d.drug, "cases": d.cases, "kg": kg(d.ukg)} for d in self.drugs],
            "by_post": [{"station_id": p.station_id, "name": p.name, "country": p.country,
                         **tot(p.totals)} for p in self.post_lines],
            "reports": [{"measure": r.measure, "value": kg(r.value_u), "reports": r.reports}
                        for r in self.reports],
            "alerts": [{"rule_id": a.rule_id, "names": dict(a.names), "severity": a.severity,
                        "count": a.count, "firing": a.firing} for a in self.alerts],
            "routes": [f.as_json(chain=False) for f in self.flows],
            "method": {"events": dict(self.method.events),
                       "provisional_months": list(self.method.provisional_months),
                       "revised": self.method.revised, "voided": self.method.voided,
                       "late": self.method.late},
            "data_version": asdict(self.version),
        }


def data_version(posts: Sequence[Post], lines: Sequence[WindowLine],
                 events: Mapping[str, Sequence[EventsRead]], alert_versions: int,
                 corrections: tuple[int, int, int] = (0, 0, 0)) -> DataVersion:
    """The digest of what was read (see the module's doc): stable for the same data.
    ``corrections``: the method note's revised, voided and late counts."""
    parts = {
        "corrections": list(corrections),
        "posts": [asdict(p) for p in posts],
        "windows": [(w.label, w.station_id, w.event_type, w.measure, w.dimension, w.rows,
                     w.versions) for w in lines],
        "events": {k: [asdict(e) for e in v] for k, v in sorted(events.items())},
        "alerts": alert_versions,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()[:16]
    every = [e for v in events.values() for e in v]
    return DataVersion(digest, sum(e.count for e in every),
                       max((e.last_ingested for e in every), default=0),
                       sum(w.rows for w in lines), alert_versions, len(posts))


def events_read(rows: Iterable[Sequence[Any]]) -> tuple[EventsRead, ...]:
    return tuple(EventsRead(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))
                 for r in rows)


# -- the whole bulletin -----------------------------------------------------------------
RoutesHook = Callable[[str, Sequence[str], Period], tuple[Query, Callable[
    [Sequence[Sequence[Any]]], Sequence[RouteFlow]]]]
"""Builds the route-flow query of a period and the function shaping its rows."""


def build(read: Reader, db: str, scope: str, period: Period,
          routes: RoutesHook | None = None) -> Bulletin:
    """Read and shape every figure of the bulletin of ``scope`` (``region`` or a country
    code) for ``period``. ``routes``: how to read route flows (None: no route chart)."""
    posts = scope_posts(posts_from_rows(read(*registry_query(db))), scope)
    ids = [p.station_id for p in posts]
    prev, yb = period.previous(), period.year_before()
    lines = window_lines(read(*window_query(db, ids, (period, prev, yb))))
    cur = totals_of(lines, period.months())
    heads = headlines(cur, totals_of(lines, prev.months()), totals_of(lines, yb.months()))
    alerts, alert_versions = alert_lines(read(*alerts_query(db, scope, ids, period)))
    events = {p.name: events_read(read(*events_query(db, ids, p))) for p in (period, prev, yb)}
    revised, voided, late = (int(v) for v in read(*corrections_query(db, ids, period))[0])
    provisional = tuple(sorted({w.label for w in lines
                                if w.provisional and w.label in period.months()}))
    flows: tuple[RouteFlow, ...] = ()
    if routes is not None:
        q, shape = routes(db, ids, period)
        # rows in a fixed order: the shaping sums floats, whose last bits follow the order
        rows = sorted(read(*q), key=lambda r: tuple(str(v) for v in r))
        flows = tuple(sorted(shape(rows), key=lambda f: (-f.kg, -f.cases, _flow_key(f))))
    return Bulletin(
        scope=scope, period=period.name, previous=prev.name, year_before=yb.name,
        months=period.months(), posts=posts, current=cur, headline=heads,
        drugs=by_drug(lines, period.months()),
        post_lines=by_post(lines, period.months(), posts),
        reports=reports(lines, period.months()), alerts=alerts, flows=flows,
        method=Method(events_by_type(lines, period.months()), provisional, revised, voided,
                      late),
        version=data_version(posts, lines, events, alert_versions, (revised, voided, late)))


def _flow_key(f: RouteFlow) -> tuple[str, ...]:
    return (f.producing or "", f.departure or "", "/".join(f.transit), f.destination or "",
            f.drug or "")


def _epoch(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp())
