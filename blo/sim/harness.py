"""The simulator through the pipeline's pure cores, in simulated event time. No Kafka, no
ClickHouse, no clock.

:func:`run` generates ``hours`` of traffic (:class:`blo.simulate.TrafficGenerator`, with a
scenario's plan if given) and, every ``tick_s`` seconds of event time, does what the worker
does with a slice of records:

1. ingest (:class:`streams.ingest.IngestProcessor`: decode → validate → enrich →
   conflicts → ``events`` rows), the records JSON-encoded as the SDK sends them;
2. the new rows into the windows (:class:`streams.windows.WindowState`), then a tick;
3. the alert input records (:mod:`streams.alert_input`: station progress, window rows),
   encoded and decoded as on the input topic, into :class:`streams.alerts.AlertEngine`
   with the rules file (the default blo/data/rules.yaml), then a caught-up tick.

Baseline rules read weeks of history from ``window_stats``, which a simulation does not
have: :func:`model_history` answers with what the simulator's rate model gives for the
same hour of the past weeks (Poisson draws around the post's expected refusals).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import orjson

from blo.settings import IngestSettings
from blo.sim.scenarios import SCENARIOS, Plan, expected_refusals
from blo.simulate import DEMO_RATE, DEMO_STATIONS, TrafficGenerator, poisson, simulation_stations
from schemas.alert_input import StationsProgress, WindowRows, decode
from schemas.identity import derive_event_id
from schemas.station import Registry, StationRecord
from streams.alert_input import WINDOW_ROW_WIDTH, station_progress_record, window_input_records
from streams.alert_runtime import paired_types, registry_pairs
from streams.alerts import AlertEngine, BaselineProvider, BaselineRule, RuleSet, load_rules
from streams.alerts.baseline import history_starts
from streams.alerts.book import AlertUpdate
from streams.ingest import IngestPolicy, IngestProcessor, RawRecord
from streams.stages.decode import SourcePos
from streams.windows import WindowConfig, WindowState, load_window_config

RECORD_EVENTS = 200
"""Events per raw record (a list, as the SDK batches them)."""


@dataclass(frozen=True, slots=True)
class Raised:
    """An alert that fired: what, where, and when the harness saw it (event time)."""

    rule_id: str
    scope_key: str
    severity: str
    seen_at: datetime
    window_start: int
    window_end: int
    value: float


@dataclass
class Outcome:
    raised: list[Raised] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)
    events: int = 0
    dead_letters: int = 0
    plan: Plan = field(default_factory=Plan)
    scale: float = 1.0

    def keys(self) -> list[tuple[str, str]]:
        return [(r.rule_id, r.scope_key) for r in self.raised]


def _data(name: str) -> Path:
    with as_file(files("blo") / "data" / name) as path:
        return Path(path)


def default_rules(windows: WindowConfig) -> RuleSet:
    return load_rules(_data("rules.yaml"), [w.name for w in windows.windows])


def model_history(stations: Mapping[str, StationRecord], scale: float, seed: int
                  ) -> BaselineProvider:
    """A baseline provider for refused crossings per post and hour (station scope, 1 h
    windows): for each past week, a Poisson draw around the refusals the rate model expects
    in that hour of the week (stable per seed, post and hour). Other statistics: no history
    (no judgement)."""

    def history(rule: BaselineRule, key: str, start: int) -> Sequence[float]:
        st = stations.get(key)
        if (st is None or rule.statistic != "refused" or rule.scope != "station"
                or rule.window != "1h"):
            return []
        out = []
        for past in history_starts(start, rule.weeks):
            lam = expected_refusals(st, datetime.fromtimestamp(past, UTC), scale)
            out.append(float(poisson(random.Random(f"{seed}:{key}:{past}"), lam)))
        return out

    return history


def run(hours: float, *, stations: int = DEMO_STATIONS, rate: float = DEMO_RATE,
        seed: int = 7, start: datetime | None = None, scenario: str | None = None,
        scenario_at: timedelta = timedelta(hours=1), tick_s: float = 15.0,
        rules: RuleSet | None = None) -> Outcome:
    """Simulate ``hours`` from ``start`` (default: Monday 2026-03-02 04:00 UTC, 09:00 in
    Tashkent) and return the alerts raised. ``scenario``: a name of
    :data:`blo.sim.scenarios.SCENARIOS`, started ``scenario_at`` after ``start``."""
    start = start or datetime(2026, 3, 2, 4, tzinfo=UTC)
    posts = simulation_stations(stations)
    by_id = {p.station_id: p for p in posts}
    windows = load_window_config(_data("windows.yaml"))
    ruleset = rules or default_rules(windows)
    probe = TrafficGenerator(posts, rate, seed=seed, start=start)
    plan = Plan()
    if scenario is not None:
        plan = SCENARIOS[scenario].plan(by_id, start + scenario_at, probe.scale)
    gen = TrafficGenerator(posts, scale=probe.scale, seed=seed, start=start, plan=plan)
    registry = Registry(posts)
    ingest = IngestProcessor(registry, IngestPolicy.from_settings(IngestSettings.model_validate({})))
    state = WindowState(windows)
    engine = AlertEngine(ruleset, pairs=registry_pairs(registry),
                         baseline=model_history(by_id, gen.scale, seed))
    types = paired_types(ruleset)
    out = Outcome(plan=plan, scale=gen.scale)
    end = start + timedelta(hours=hours)
    now = start
    offset = 0
    while now < end:
        now = min(now + timedelta(seconds=tick_s), end)
        events = list(gen.until(now))
        records = []
        for i in range(0, len(events), RECORD_EVENTS):
            chunk = events[i:i + RECORD_EVENTS]
            for e in chunk:  # the SDK fills event_id from (station, seq)
                e["event_id"] = str(derive_event_id(e["station_id"], e["source_seq"]))
            records.append(RawRecord(orjson.dumps(chunk), SourcePos("raw", 0, offset)))
            offset += 1
        done = ingest.finish(ingest.prepare(records, now), {})
        out.events += len(events)
        out.dead_letters += len(done.dead_letters)
        for row in done.new_rows:
            state.add(row, 0)
        now_s = now.timestamp()
        updates: list[AlertUpdate] = []
        progress = station_progress_record(done.event_rows, types)
        if progress is not None:
            got = decode(progress[1], window_row_width=WINDOW_ROW_WIDTH)
            assert isinstance(got, StationsProgress)
            updates += _progress(engine, got)
        emission = state.tick(now_s, {0})
        for _, value in window_input_records(emission.rows):
            got = decode(value, window_row_width=WINDOW_ROW_WIDTH)
            assert isinstance(got, WindowRows)
            updates += engine.on_window_rows(got.rows)
        updates += engine.tick(now_s, True)
        engine.drain()
        for u in updates:
            a = u.alert
            if u.transition == "fired":
                out.raised.append(Raised(a.rule_id, a.scope_key, a.severity, now,
                                         a.window_start, a.window_end, a.value))
            elif u.transition == "resolved":
                out.resolved.append((a.rule_id, a.scope_key))
    return out


def _progress(engine: AlertEngine, d: StationsProgress) -> list[AlertUpdate]:
    """What the alert runtime does with an ``s`` record (streams.alert_runtime)."""
    got: list[AlertUpdate] = []
    for st in d.stations:
        got += engine.on_station_seen(st.station_id, st.last_event_s, country=st.country,
                                      border=st.border, processed_at_s=d.at_s)
        for seq, t in st.seqs:
            got += engine.on_sequence(st.station_id, seq, t, processed_at_s=d.at_s)
        for et, t, eid in st.events:
            got += engine.on_event(st.station_id, et, t, eid, processed_at_s=d.at_s)
    return got


def summary(out: Outcome) -> list[dict[str, Any]]:
    """The raised alerts as plain dicts (for printing)."""
    return [{"rule": r.rule_id, "scope": r.scope_key, "severity": r.severity,
             "seen_at": r.seen_at.isoformat(), "value": r.value} for r in out.raised]
