"""Simulated traffic for bulletin tests: the simulator's events through the pipeline's pure
cores (ingest: validate, enrich; the ``month`` windows), written to the session's real
ClickHouse server as the worker writes them (``events``, ``window_stats``, ``stations``),
and an independent computation of every bulletin figure from the event rows alone."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from blo.settings import IngestSettings
from blo.simulate import TrafficGenerator, simulation_stations
from schemas.identity import derive_event_id
from schemas.station import Registry, StationRecord
from sinks.base import Database
from sinks.tables import EVENTS, STATIONS, WINDOW_STATS
from streams.ingest import IngestPolicy, IngestProcessor, RawRecord
from streams.registry_reader import station_row
from streams.stages.decode import SourcePos
from streams.windows import WindowState
from streams.windows.config import WindowConfig, WindowSpec

C = {c: i for i, c in enumerate(EVENTS.column_names)}
MONTH_ONLY = WindowConfig(windows=(WindowSpec(name="month", kind="calendar_month"),))


@dataclass
class Loaded:
    posts: list[StationRecord]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Every events row written (live, revision 0)."""


def simulate(db: Database, start: datetime, end: datetime, *, rate: float = 0.01,
             rare_scale: float = 4.0, seed: int = 11, stations: int = 16) -> Loaded:
    """Simulate [start, end) of ``stations`` posts and write events, month windows and the
    registry to ``db``; the windows are ticked past ``end`` so they are final."""
    posts = simulation_stations(stations)
    registry = Registry(posts)
    gen = TrafficGenerator(posts, rate, rare_scale=rare_scale, seed=seed, start=start)
    ingest = IngestProcessor(registry, IngestPolicy.from_settings(
        IngestSettings.model_validate({"max_future_skew_s": 10**9})))
    state = WindowState(MONTH_ONLY)
    out = Loaded(posts)
    windows: list[tuple[Any, ...]] = []
    offset, now = 0, start
    while now < end:
        now = min(now + timedelta(hours=6), end)
        events = list(gen.until(now))
        for e in events:
            e["event_id"] = str(derive_event_id(e["station_id"], e["source_seq"]))
        records = [RawRecord(orjson.dumps(events[i:i + 500]), SourcePos("raw", 0, offset + i))
                   for i in range(0, len(events), 500)]
        offset += len(events)
        done = ingest.finish(ingest.prepare(records, now), {})
        assert not done.dead_letters, done.dead_letters[:3]
        for row in done.new_rows:
            state.add(row, 0)
        out.rows += done.new_rows
        windows += state.tick(now.timestamp(), {0}).rows
    windows += state.tick((end + timedelta(days=40)).timestamp(), {0}).rows
    db.insert("stations", STATIONS.column_names, [station_row(p, start) for p in posts])
    db.insert("events", EVENTS.column_names, out.rows)
    db.insert("window_stats", WINDOW_STATS.column_names, windows)
    return out


def local_month(row: tuple[Any, ...]) -> str:
    t = row[C["occurred_at"]]
    t = t if isinstance(t, datetime) else datetime.fromtimestamp(t, UTC)
    return t.astimezone(ZoneInfo(row[C["station_tz"]])).strftime("%Y-%m")


def micro(v: float | None) -> int:
    return 0 if v is None else round(v * 1_000_000)


def oracle(rows: list[tuple[Any, ...]], months: tuple[str, ...], stations: set[str]
           ) -> dict[str, Any]:
    """Every bulletin figure of ``months`` and ``stations``, from event rows alone (each
    event's local month from its own time zone; kilograms in integer micro-kg; route flows
    from the payloads as sent: (producing, departure, transit, destination, drug) →
    [micro-kg, cases])."""
    tot: Counter[str] = Counter()
    drug_cases: Counter[str] = Counter()
    drug_ukg: Counter[str] = Counter()
    post: dict[str, Counter[str]] = defaultdict(Counter)
    flows: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        sid = r[C["station_id"]]
        if sid not in stations or local_month(r) not in months:
            continue
        et, p = r[C["event_type"]], post[sid]
        if et == "seizure":
            ukg = micro(r[C["quantity_kg"]])
            for c in (tot, p):
                c["seizure_cases"] += 1
                c["seizure_ukg"] += ukg
                c["arrests"] += r[C["arrests"]] or 0
            drug_cases[r[C["drug"]]] += 1
            drug_ukg[r[C["drug"]]] += ukg
            body = json.loads(r[C["payload"]])
            route = (body.get("producing_country") or "", body.get("departure_country") or "",
                     tuple(body.get("transit_countries") or ()),
                     body.get("destination_country") or "", r[C["drug"]])
            flows[route][0] += ukg
            flows[route][1] += 1
        elif et == "crossing":
            for c in (tot, p):
                c["crossings"] += 1
                c["persons"] += r[C["persons"]] or 0
                c["vehicles"] += r[C["vehicles"]] or 0
                c["refused"] += r[C["outcome"]] == "refused"
        elif et == "detention":
            for c in (tot, p):
                c["detentions"] += 1
                c["detained"] += r[C["persons"]] or 0
        elif et == "incident":
            for c in (tot, p):
                c["incidents"] += 1
    return {"totals": tot, "drug_cases": drug_cases, "drug_ukg": drug_ukg, "post": post,
            "flows": dict(flows)}
