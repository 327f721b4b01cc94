"""Synthetic BLO traffic that looks like the real thing. Pure generator (no I/O).

Every post records events as Poisson processes in event time, at its own rates
(:mod:`blo.sim.rates`: busy, medium, remote or rail; the Afghan border sees more drugs),
shaped by the hour of its local day and the day of the week: crossings dominate, about 4 %
of them are inspected and 1 % refused; seizures, detentions and incidents are rare (a busy
post seizes something every few days); paired posts exchange liaison messages; every post
sends a count report of its crossings every 15 minutes (``occurred_at`` = the end of the
period), which is also its heartbeat.

``scale`` multiplies the routine traffic (crossings, inspections, liaison messages) only —
the demo's explicit multiplier; ``rate`` (events per second at all posts, on a weekly
average) is another way to give it. Rare events keep their real rates unless
``rare_scale`` says otherwise. A :class:`blo.sim.scenarios.Plan` adds scripted events and
silences.

``source_seq`` starts from the generator's start time (milliseconds << 10) so that two runs
never reuse a sequence number (event ids derive from (station, source_seq)).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import schemas.tz  # noqa: F401 - zone rules from the pinned tzdata package
from blo.sim.rates import DAY_S, PostRates, profile, rates_of, routine_per_day
from blo.sim.scenarios import Plan
from schemas.station import StationRecord
from schemas.vocab import Agency

DEMO_STATIONS = 16
DEMO_RATE = 5.0
"""What ``blo demo`` simulates by default (its --stations and --rate): the 16 seed posts at
about 5 events/s on a weekly average, i.e. routine traffic about 5 times the real one
(rare events at their real rates)."""

AFGHAN_ROUTE_DRUGS = ("heroin", "opium", "hashish", "methamphetamine")
AFGHAN_WEIGHTS = (0.35, 0.2, 0.3, 0.15)
OTHER_DRUGS = ("hashish", "cannabis_herb", "pharmaceuticals", "acetic_anhydride", "amphetamine")
UNIT_FOR = {"heroin": "kg", "opium": "kg", "hashish": "kg", "methamphetamine": "g",
            "cannabis_herb": "kg", "pharmaceuticals": "tablet", "acetic_anhydride": "l",
            "amphetamine": "g"}
SLICE_MS = 60_000
REPORT_S = 900
"""Every post sends its crossings count every 15 minutes (``occurred_at`` = the end of the
period): statistics, and a heartbeat — a healthy post is never silent for 30 minutes, even
at night when nobody crosses a mountain pass (the default silence rule is 30 minutes)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth below 30, a rounded normal above)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


@dataclass
class _StationState:
    station: StationRecord
    rates: PostRates
    seq: int
    tz: ZoneInfo
    peers: list[str] = field(default_factory=list)
    crossings_in_period: int = 0


def _ms(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds() * 1000)


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


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
    """Events of ``stations`` in event-time order from ``start`` (default: now).

    ``rate``: events per second at all posts on a weekly average (sets ``scale``);
    ``scale``: routine traffic relative to the real rates (default 1, or from ``rate``);
    ``rare_scale``: seizures, detentions and incidents relative to the real rates.
    """

    def __init__(self, stations: list[StationRecord], rate: float | None = None, *,
                 scale: float | None = None, rare_scale: float = 1.0, seed: int = 7,
                 start: datetime | None = None, plan: Plan | None = None) -> None:
        if not stations:
            raise ValueError("no stations to simulate")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        if scale is not None and scale <= 0:
            raise ValueError("scale must be positive")
        self.rng = random.Random(seed)
        if scale is None:
            scale = 1.0 if rate is None else rate * DAY_S / routine_per_day(stations)
        self.scale = scale
        self.rare_scale = rare_scale
        self.start = start or datetime.now(UTC)
        self._slice_ms = self._start_ms = _ms(self.start)
        base = self._slice_ms << 10
        ids = {s.station_id for s in stations}
        self.states = {
            s.station_id: _StationState(s, rates_of(s), base, ZoneInfo(s.tz),
                                        [s.paired_blo] if s.paired_blo in ids else [])
            for s in stations
        }
        self.plan = plan or Plan()
        self._injected = sorted(((_ms(e.at), i) for i, e in enumerate(self.plan.events)),
                                reverse=True)
        self._silences = [(s.station_id, _ms(s.start), _ms(s.end)) for s in self.plan.silences]
        self._pending: list[tuple[int, int, dict[str, Any]]] = []  # (ms, n, event) heap
        self._n = 0

    @property
    def rate(self) -> float:
        """Routine events per second at all posts on a weekly average (at ``scale``)."""
        return self.scale * routine_per_day([s.station for s in self.states.values()]) / DAY_S

    # -- reading ------------------------------------------------------------------------
    def events(self, count: int | None = None) -> Iterator[dict[str, Any]]:
        """The next ``count`` events (all of them, forever, with None)."""
        produced = 0
        while count is None or produced < count:
            while not self._pending:
                self._fill()
            yield heapq.heappop(self._pending)[2]
            produced += 1

    def until(self, t: datetime) -> Iterator[dict[str, Any]]:
        """The events that occurred at or before ``t`` and were not read yet."""
        end = _ms(t)
        while True:
            while self._pending and self._pending[0][0] <= end:
                yield heapq.heappop(self._pending)[2]
            if self._pending or self._slice_ms > end:
                return
            self._fill()

    # -- generation ---------------------------------------------------------------------
    def _silent(self, station_id: str, ms: int) -> bool:
        return any(s == station_id and a <= ms < b for s, a, b in self._silences)

    def _fill(self) -> None:
        """Generate the next minute of event time (all posts), in time order."""
        a = self._slice_ms
        b = a + SLICE_MS
        self._slice_ms = b
        rng = self.rng
        items: list[tuple[int, int, str, _StationState, Any]] = []
        period = REPORT_S * 1000
        boundary = -(-a // period) * period  # the first report time at or after a
        report = self._start_ms < boundary < b or boundary == a != self._start_ms
        for st in self.states.values():
            if report:
                items.append((boundary, 0, "count_report", st, None))
            r = st.rates
            f = profile(r.tier, _at(a + SLICE_MS // 2).astimezone(st.tz))
            per_min = f / 1440
            routine = per_min * self.scale
            rare = per_min * self.rare_scale
            n_cross = poisson(rng, r.crossings * routine)
            kinds = (
                ("crossing", n_cross),
                ("inspection", poisson(rng, r.crossings * r.inspection_share * routine)),
                ("liaison_message", poisson(rng, r.liaison * routine) if st.peers else 0),
                ("seizure", poisson(rng, r.seizures * rare)),
                ("detention", poisson(rng, r.detentions * rare)),
                ("incident", poisson(rng, r.incidents * rare)),
            )
            for kind, n in kinds:
                for _ in range(n):
                    items.append((a + rng.randrange(SLICE_MS), 1, kind, st, None))
        while self._injected and self._injected[-1][0] < b:
            ms, i = self._injected.pop()
            inj = self.plan.events[i]
            st_inj = self.states.get(inj.station_id)
            if st_inj is not None:
                items.append((max(ms, a), 1, inj.event_type, st_inj, inj.fields))
        items.sort(key=lambda x: (x[0], x[1]))
        for ms, _, kind, st, fields in items:
            sid = st.station.station_id
            if self._silent(sid, ms):
                if kind == "count_report":
                    st.crossings_in_period = 0
                continue
            at = _at(ms)
            if fields is not None:
                e = self._envelope(st, kind, at)
                e.update(fields)
                if kind == "crossing":
                    st.crossings_in_period += 1
            else:
                e = getattr(self, "_" + kind)(st, at)
            self._n += 1
            heapq.heappush(self._pending, (ms, self._n, e))

    def _envelope(self, st: _StationState, event_type: str, at: datetime) -> dict[str, Any]:
        st.seq += 1
        return {"schema_version": 1, "event_type": event_type,
                "station_id": st.station.station_id, "occurred_at": at.isoformat(),
                "reported_at": at.isoformat(), "source_seq": st.seq}

    def _crossing(self, st: _StationState, at: datetime) -> dict[str, Any]:
        st.crossings_in_period += 1
        rail = st.rates.tier == "rail"
        rng = self.rng
        subject = rng.choices(("person", "vehicle", "cargo"), (0.55, 0.35, 0.10))[0]
        if rail:
            mode, vclass = "rail", rng.choice(("train", "rail_container_loaded", "rail_container_empty"))
        elif subject == "person":
            mode, vclass = "pedestrian", "none"
        else:
            mode, vclass = "road", rng.choices(("personal_vehicle", "bus", "truck"), (0.6, 0.1, 0.3))[0]
        persons = 1 if subject == "person" else rng.randint(1, 45 if vclass == "bus" else 4)
        refused = st.rates.refused_share
        e = self._envelope(st, "crossing", at)
        e.update(direction=rng.choice(("inbound", "outbound")), subject=subject, mode=mode,
                 persons=persons, vehicles=0 if subject == "person" else 1, vehicle_class=vclass,
                 document_check=rng.choices(("passed", "referred", "refused"),
                                            (0.98 - refused, 0.02, refused))[0])
        return e

    def _inspection(self, st: _StationState, at: datetime) -> dict[str, Any]:
        rng = self.rng
        e = self._envelope(st, "inspection", at)
        e.update(target=rng.choice(("person", "luggage", "vehicle", "cargo", "container")),
                 reason=rng.choice(("risk_profile", "random", "intelligence", "canine", "xray")),
                 outcome=rng.choices(("nothing_found", "find", "referred"), (0.93, 0.03, 0.04))[0],
                 duration_min=round(rng.uniform(3, 90), 1))
        return e

    def _seizure(self, st: _StationState, at: datetime) -> dict[str, Any]:
        rng = self.rng
        afghan = st.station.neighbour_country == "AF" or st.station.country == "AF"
        drug = (rng.choices(AFGHAN_ROUTE_DRUGS, AFGHAN_WEIGHTS)[0] if afghan
                else rng.choice(OTHER_DRUGS))
        unit = UNIT_FOR[drug]
        # most seizures are small (median ~2 kg); about 1 in 150 reaches 50 kg
        qty = {"kg": rng.lognormvariate(0.7, 1.3), "g": rng.lognormvariate(5.0, 1.2),
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
                 impact=rng.choices(("low", "medium"), (0.75, 0.25))[0],
                 confidence=rng.choice(("medium", "high")))
        return e

    def _liaison_message(self, st: _StationState, at: datetime) -> dict[str, Any]:
        peer = st.peers[0]
        e = self._envelope(st, "liaison_message", at)
        e.update(from_blo=st.station.station_id, to_blo=peer,
                 kind=self.rng.choice(("alert", "request", "response")),
                 priority=self.rng.choice(("routine", "priority")), refs=[])
        return e

    def _count_report(self, st: _StationState, end: datetime) -> dict[str, Any]:
        start = end - timedelta(seconds=REPORT_S)
        e = self._envelope(st, "count_report", end)
        n, st.crossings_in_period = st.crossings_in_period, 0
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
