"""Scripted scenarios: events injected into the ordinary traffic at a chosen time, and the
alerts the default rules (blo/data/rules.yaml) must raise for them — and no others. Pure.

A scenario builds a :class:`Plan` for a start time ``at``: events to add (:class:`Injected`),
posts that fall silent (:class:`Silence`), and the alerts it expects (:class:`Expected`,
each with the moment it becomes decidable: the alert must follow within seconds). The
generator (:class:`blo.simulate.TrafficGenerator`) merges the plan into its traffic;
:mod:`blo.sim.harness` checks the expectations (tests/unit/blo/test_sim_harness.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from blo.sim.rates import profile, rates_of
from schemas.station import StationRecord


@dataclass(frozen=True, slots=True)
class Injected:
    """One event to add: its time, post, type and payload fields (the envelope — ids,
    ``source_seq``, times — is the generator's)."""

    at: datetime
    station_id: str
    event_type: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Silence:
    """The post sends nothing (not even its hourly count report) in [start, end)."""

    station_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Expected:
    """An alert the scenario must raise: rule, scope key, and when it becomes decidable —
    ``closes_window``: at the end of the window that holds the evidence (the alert follows
    the window's final row); otherwise at ``ready_at`` itself (a provisional row, the
    second event of a pair, the silence reaching its limit)."""

    rule_id: str
    scope_key: str
    ready_at: datetime
    closes_window: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    events: tuple[Injected, ...] = ()
    silences: tuple[Silence, ...] = ()
    expected: tuple[Expected, ...] = ()
    done_by: datetime | None = None
    """By then every expected alert is decidable (run the traffic at least this long)."""
    notes: tuple[str, ...] = field(default=())


class ScenarioError(ValueError):
    """The scenario cannot run with these posts (one it needs is not simulated)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    posts: tuple[str, ...]
    build: Callable[[Mapping[str, StationRecord], datetime, float], Plan]

    def plan(self, stations: Mapping[str, StationRecord], at: datetime, scale: float) -> Plan:
        missing = [p for p in self.posts if p not in stations]
        if missing:
            raise ScenarioError(
                f"scenario {self.name!r} needs the seed post(s) {', '.join(missing)}: "
                "simulate all 16 seed posts (--stations 16, the default of blo demo)")
        return self.build(stations, at, scale)


def _seizure(kg: float, *, departure: str, arrested: int) -> dict[str, Any]:
    return {"drug": "heroin", "quantity": kg, "unit": "kg", "concealment": "built_compartment",
            "detection_method": "xray", "producing_country": "AF",
            "departure_country": departure, "transit_countries": [],
            "destination_country": None, "persons_arrested": arrested}


def _heroin_run(stations: Mapping[str, StationRecord], at: datetime, scale: float) -> Plan:
    """A heroin consignment split across the Nizhniy Pyanj bridge: 40 kg found on the
    Afghan side, then 75 kg (one large seizure) on the Tajik side 30 minutes later."""
    af, tj = "AF-SHER-KHAN-BANDAR", "TJ-NIZHNIY-PYANJ"
    second = at + timedelta(minutes=30)
    hour_end = second.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    events = (
        Injected(at, af, "seizure", _seizure(40.0, departure="AF", arrested=1)),
        Injected(second, tj, "seizure", _seizure(75.0, departure="AF", arrested=2)),
        Injected(second + timedelta(minutes=1), tj, "detention", {
            "persons": 2, "nationalities": [{"country": "AF", "count": 1},
                                            {"country": "TJ", "count": 1}],
            "sex": {"male": 2, "female": 0, "unknown": 0}, "age_bands": {"25_34": 2},
            "offence": "drug_trafficking"}),
    )
    return Plan(
        events=events,
        expected=(
            # both posts of the pair within 6 h
            Expected("paired-seizure-incident-6h", f"{af}+{tj}", second),
            # 40 + 75 = 115 kg of opiates on the AF-TJ border in one local day (provisional)
            Expected("opiates-kg-border-day", "AF-TJ", second),
            # 75 kg at one post in one clock hour: fires with the hour's final row
            Expected("seizure-kg-station-1h", tj, hour_end, closes_window=True),
        ),
        done_by=hour_end + timedelta(minutes=5),
        notes=(("Both seizures must fall on one local day at both posts for the border "
               "total (start it before 23:00 local time)."),),
    )


def _silent_post(stations: Mapping[str, StationRecord], at: datetime, scale: float) -> Plan:
    """A busy road post (Ak-Jol, KG) loses its link for 45 minutes, then sends again."""
    post = "KG-AK-JOL"
    end = at + timedelta(minutes=45)
    return Plan(
        silences=(Silence(post, at, end),),
        expected=(Expected("station-silence-30m", post, at + timedelta(minutes=30)),),
        done_by=end + timedelta(minutes=5),
    )


def expected_refusals(station: StationRecord, hour_start: datetime, scale: float) -> float:
    """Refused crossings the ordinary traffic of ``station`` has in the hour from
    ``hour_start`` on average (the Poisson mean at this ``scale``)."""
    r = rates_of(station)
    local = hour_start.astimezone(ZoneInfo(station.tz))
    return r.crossings / 24 * profile(r.tier, local) * scale * r.refused_share


def _refusal_surge(stations: Mapping[str, StationRecord], at: datetime, scale: float
                   ) -> Plan:
    """Kordai (KZ) refuses four times its usual number of crossings for one clock hour (the
    first whole hour from ``at``): a document fraud ring, a changed rule on the other side."""
    post = "KZ-KORDAI"
    st = stations[post]
    hour = at.replace(minute=0, second=0, microsecond=0)
    if hour < at:
        hour += timedelta(hours=1)
    extra = max(40, math.ceil(3 * expected_refusals(st, hour, scale)))
    step = 3600 / extra
    events = tuple(
        Injected(hour + timedelta(seconds=(i + 0.5) * step), post, "crossing", {
            "direction": "inbound", "subject": "person", "mode": "pedestrian", "persons": 1,
            "vehicles": 0, "vehicle_class": "none", "document_check": "refused"})
        for i in range(extra))
    end = hour + timedelta(hours=1)
    return Plan(
        events=events,
        expected=(Expected("refused-crossings-baseline-1h", post, end, closes_window=True),),
        done_by=end + timedelta(minutes=5),
        notes=(("The baseline rule needs the post's history (the same hour in at least 4 "
               "of the last 8 weeks) in window_stats: a fresh demo has none, so live it fires only "
               "where weeks of history exist; the harness models that history."),),
    )


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("heroin-run", "a large heroin run across the TJ-AF border: seizures at both "
             "posts of the Nizhniy Pyanj pair 30 min apart, 40 kg and 75 kg",
             ("AF-SHER-KHAN-BANDAR", "TJ-NIZHNIY-PYANJ"), _heroin_run),
    Scenario("silent-post", "KG-AK-JOL sends nothing for 45 min, then resumes",
             ("KG-AK-JOL",), _silent_post),
    Scenario("refusal-surge", "KZ-KORDAI refuses 3x its usual crossings on top of its "
             "ordinary traffic for one clock hour", ("KZ-KORDAI",), _refusal_surge),
)}
