"""Synthetic BLO traffic that looks like the real thing. Pure generator (no I/O).

Per station: crossings dominate (persons, vehicles, trucks, rail at rail posts) with a daily
cycle in the station's local time; about 4 % of crossings lead to an inspection, a few
inspections find something and become seizures (heroin/opium/hashish on the Afghan borders,
precursors and synthetics elsewhere), detentions follow some seizures, incidents are rare,
paired posts exchange liaison messages, and every post sends an hourly count report.

``source_seq`` starts from the generator's start time (milliseconds << 10) so that two runs
never reuse a sequence number (event ids derive from (station, source_seq)).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package
from schemas.station import StationRecord
from schemas.vocab import Agency

AFGHAN_ROUTE_DRUGS = ("heroin", "opium", "hashish", "methamphetamine")
OTHER_DRUGS = ("hashish", "cannabis_herb", "pharmaceuticals", "acetic_anhydride", "amphetamine")
UNIT_FOR = {"heroin": "kg", "opium": "kg", "hashish": "kg", "methamphetamine": "g",
            "cannabis_herb": "kg", "pharmaceuticals": "tablet", "acetic_anhydride": "l",
            "amphetamine": "g"}


@dataclass
class _StationState:
    station: StationRecord
    seq: int
    weight: float
    tz: ZoneInfo
    peers: list[str] = field(default_factory=list)


def synthetic_stations(n: int, valid_from: datetime) -> list[StationRecord]:
    """Extra posts when more stations are asked for than the seed registry has."""
    plan = [("KZ", "KG", "Asia/Almaty", 43.0, 74.7), ("KZ", "UZ", "Asia/Almaty", 41.3, 69.3),
            ("TJ", "AF", "Asia/Dushanbe", 37.2, 68.6), ("UZ", "TM", "Asia/Tashkent", 39.4, 63.8),
            ("KG", "TJ", "Asia/Bishkek", 39.9, 71.0), ("TM", "UZ", "Asia/Ashgabat", 39.1, 63.6)]
    out = []
    for i in range(n):
        c, nb, tz, lat, lon = plan[i % len(plan)]
        out.append(StationRecord(
            station_id=f"{c}-SIM-{i + 1:03d}", name=f"Simulated post {i + 1} ({c}-{nb})",
            country=c, agency=Agency.BORDER_GUARD, crossing_point=f"Simulated crossing {i + 1}",
            neighbour_country=nb, paired_blo=None, lat=lat + (i % 7) * 0.05,
            lon=lon + (i % 5) * 0.05, tz=tz, coord_source="synthetic (blo simulate)",
            coord_approximate=True, valid_from=valid_from, active=True,
        ))
    return out


class TrafficGenerator:
    """Yields event dicts for ``stations`` at ``rate`` events per second of event time."""

    def __init__(self, stations: list[StationRecord], rate: float, *, seed: int = 7,
                 start: datetime | None = None) -> None:
        if not stations:
            raise ValueError("no stations to simulate")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rng = random.Random(seed)
        self.rate = rate
        self.clock = start or datetime.now(UTC)
        base = int(self.clock.timestamp() * 1000) << 10
        ids = {s.station_id for s in stations}
        self.states = [
            _StationState(s, base, self.rng.uniform(0.3, 3.0), ZoneInfo(s.tz),
                          [s.paired_blo] if s.paired_blo in ids else [])
            for s in stations
        ]
        self._next_report = self.clock.replace(minute=0, second=0, microsecond=0) + timedelta(
            hours=1)
        self._hour_counts: dict[str, int] = {s.station_id: 0 for s in stations}

    def _envelope(self, st: _StationState, event_type: str, at: datetime) -> dict[str, Any]:
        st.seq += 1
        return {"schema_version": 1, "event_type": event_type,
                "station_id": st.station.station_id, "occurred_at": at.isoformat(),
                "reported_at": at.isoformat(), "source_seq": st.seq}

    def _pick_station(self, at: datetime) -> _StationState:
        # daily cycle: busier 08-20 local time
        weights = []
        for st in self.states:
            hour = at.astimezone(st.tz).hour
            weights.append(st.weight * (0.35 + 0.65 * max(0.0, math.sin((hour - 5) / 24 * 2 * math.pi))))
        return self.rng.choices(self.states, weights)[0]

    def events(self, count: int | None = None) -> Iterator[dict[str, Any]]:
        produced = 0
        step = timedelta(seconds=1.0 / self.rate)
        while count is None or produced < count:
            self.clock += step
            at = self.clock
            if at >= self._next_report:
                for st in self.states:
                    yield self._count_report(st, self._next_report)
                    produced += 1
                self._next_report += timedelta(hours=1)
                continue
            st = self._pick_station(at)
            yield self._one(st, at)
            produced += 1

    def _one(self, st: _StationState, at: datetime) -> dict[str, Any]:
        r = self.rng.random()
        if r < 0.90:
            return self._crossing(st, at)
        if r < 0.965:
            return self._inspection(st, at)
        if r < 0.975:
            return self._seizure(st, at)
        if r < 0.98:
            return self._detention(st, at)
        if r < 0.985:
            return self._incident(st, at)
        if st.peers:
            return self._liaison(st, at)
        return self._crossing(st, at)

    def _crossing(self, st: _StationState, at: datetime) -> dict[str, Any]:
        self._hour_counts[st.station.station_id] += 1
        rail = "rail" in st.station.crossing_point.lower()
        rng = self.rng
        subject = rng.choices(("person", "vehicle", "cargo"), (0.55, 0.35, 0.10))[0]
        if rail:
            mode, vclass = "rail", rng.choice(("train", "rail_container_loaded", "rail_container_empty"))
        elif subject == "person":
            mode, vclass = "pedestrian", "none"
        else:
            mode, vclass = "road", rng.choices(("personal_vehicle", "bus", "truck"), (0.6, 0.1, 0.3))[0]
        persons = 1 if subject == "person" else rng.randint(1, 45 if vclass == "bus" else 4)
        e = self._envelope(st, "crossing", at)
        e.update(direction=rng.choice(("inbound", "outbound")), subject=subject, mode=mode,
                 persons=persons, vehicles=0 if subject == "person" else 1, vehicle_class=vclass,
                 document_check=rng.choices(("passed", "referred", "refused"), (0.97, 0.02, 0.01))[0])
        return e

    def _inspection(self, st: _StationState, at: datetime) -> dict[str, Any]:
        rng = self.rng
        e = self._envelope(st, "inspection", at)
        e.update(target=rng.choice(("person", "luggage", "vehicle", "cargo", "container")),
                 reason=rng.choice(("risk_profile", "random", "intelligence", "canine", "xray")),
                 outcome=rng.choices(("nothing_found", "find", "referred"), (0.9, 0.06, 0.04))[0],
                 duration_min=round(rng.uniform(3, 90), 1))
        return e

    def _seizure(self, st: _StationState, at: datetime) -> dict[str, Any]:
        rng = self.rng
        afghan = st.station.neighbour_country == "AF" or st.station.country == "AF"
        drug = rng.choice(AFGHAN_ROUTE_DRUGS if afghan else OTHER_DRUGS)
        unit = UNIT_FOR[drug]
        qty = {"kg": rng.lognormvariate(1.0, 1.2), "g": rng.lognormvariate(4.0, 1.0),
               "l": rng.lognormvariate(3.0, 1.0), "tablet": float(rng.randint(10, 5000))}[unit]
        e = self._envelope(st, "seizure", at)
        e.update(drug=drug, quantity=round(qty, 3), unit=unit,
                 concealment=rng.choice(("body", "luggage", "natural_void", "built_compartment",
                                         "mixed_in_cargo", "container")),
                 detection_method=rng.choice(("risk_profile", "canine", "xray", "intelligence",
                                              "physical_search")),
                 producing_country="AF" if afghan else None,
                 departure_country=st.station.neighbour_country,
                 transit_countries=[], destination_country=None,
                 persons_arrested=rng.choice((0, 1, 1, 2)))
        return e

    def _detention(self, st: _StationState, at: datetime) -> dict[str, Any]:
        rng = self.rng
        n = rng.randint(1, 3)
        nat = rng.choice((st.station.country, st.station.neighbour_country or st.station.country))
        e = self._envelope(st, "detention", at)
        e.update(persons=n, nationalities=[{"country": nat, "count": n}],
                 sex={"male": n, "female": 0, "unknown": 0}, age_bands={"25_34": n},
                 offence=rng.choice(("drug_trafficking", "smuggling", "illegal_crossing")))
        return e

    def _incident(self, st: _StationState, at: datetime) -> dict[str, Any]:
        rng = self.rng
        e = self._envelope(st, "incident", at)
        e.update(incident_type=rng.choice(("unauthorised_crossing", "cross_border_crime")),
                 impact=rng.choice(("low", "medium")), confidence=rng.choice(("medium", "high")))
        return e

    def _liaison(self, st: _StationState, at: datetime) -> dict[str, Any]:
        peer = st.peers[0]
        e = self._envelope(st, "liaison_message", at)
        e.update(from_blo=st.station.station_id, to_blo=peer,
                 kind=self.rng.choice(("alert", "request", "response")),
                 priority=self.rng.choice(("routine", "priority")), refs=[])
        return e

    def _count_report(self, st: _StationState, end: datetime) -> dict[str, Any]:
        start = end - timedelta(hours=1)
        e = self._envelope(st, "count_report", start)
        n = self._hour_counts[st.station.station_id]
        self._hour_counts[st.station.station_id] = 0
        e.update(period_start=start.isoformat(), period_end=end.isoformat(),
                 measure="crossings", dimension=None, value=float(n), unit="count")
        return e


def seed_stations() -> list[StationRecord]:
    """The real BLO sites shipped with the package (coordinates approximate)."""
    from importlib.resources import as_file, files

    from schemas.station import load_station_file

    with as_file(files("blo") / "data" / "stations_seed.yaml") as path:
        return load_station_file(path)


def simulation_stations(n: int) -> list[StationRecord]:
    """The first ``n`` seed posts, topped up with synthetic ones."""
    seed = seed_stations()
    if n <= len(seed):
        return seed[:n]
    return seed + synthetic_stations(n - len(seed), min(s.valid_from for s in seed))
