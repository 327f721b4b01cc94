"""How often each post records what: rates per post, by hour of its local day and by day
of the week. Pure data and arithmetic.

The figures follow ../shared/DOMAIN.md ("Volumes"): a remote BLO sees hundreds to a few
thousand crossings a day and seizures a few times a month; a busy road crossing tens of
thousands of crossings a day. Seizures, detentions and incidents are rare (a busy post: a
seizure every few days); posts on the Afghan border see more drugs and more unauthorised
crossings. These are the **real** rates (scale 1). The demo multiplies only the routine
traffic (crossings, inspections, liaison messages) by an explicit ``scale`` so that the
dashboard moves; the rare events keep their real rates (``rare_scale`` 1), so the alerts
a demo hour raises are the ones a real hour would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from schemas.station import StationRecord

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class PostRates:
    """Events per day at one post, averaged over a week (real rates)."""

    tier: str
    crossings: float
    seizures: float
    detentions: float
    incidents: float
    liaison: float
    inspection_share: float = 0.04
    """Inspections per crossing."""
    refused_share: float = 0.01
    """Crossings whose document check refuses entry or exit."""


TIERS: dict[str, PostRates] = {
    # a main road crossing: ~12,000 crossings a day, a seizure every ~3 days
    "busy": PostRates("busy", crossings=12_000, seizures=0.3, detentions=0.3, incidents=0.03,
                      liaison=12),
    # a secondary road or river bridge
    "medium": PostRates("medium", crossings=2_500, seizures=0.12, detentions=0.12,
                        incidents=0.03, liaison=8),
    # a mountain pass or a remote bridge: a few hundred a day, seizures twice a month
    "remote": PostRates("remote", crossings=400, seizures=0.07, detentions=0.06,
                        incidents=0.02, liaison=4),
    # a railway BLO: trains and containers
    "rail": PostRates("rail", crossings=600, seizures=0.1, detentions=0.08, incidents=0.01,
                      liaison=6),
}

# The seed registry's posts (blo/data/stations_seed.yaml) by what their crossing is.
SEED_TIERS = {
    "KZ-KORDAI": "busy", "KG-AK-JOL": "busy", "KZ-KONYSBAEV": "busy", "UZ-YALLAMA": "busy",
    "TJ-FOTEHOBOD": "busy", "UZ-OYBEK": "busy",
    "UZ-ALAT": "medium", "TM-FARAP": "medium", "TJ-NIZHNIY-PYANJ": "medium",
    "AF-SHER-KHAN-BANDAR": "medium",
    "TJ-ISHKASHIM": "remote", "AF-ISHKASHIM": "remote", "TJ-KYZYL-ART": "remote",
    "KG-BOR-DOBO": "remote",
    "TJ-PAKHTAOBOD": "rail", "UZ-KUDUKLI": "rail",
}

AFGHAN_SEIZURES = 2.0
"""Posts on the Afghan border (either side) seize twice as often..."""
AFGHAN_INCIDENTS = 3.0
"""...and see three times the unauthorised crossings and cross-border crime."""

# Share of the day's traffic by local hour (mean 1): road posts are busy 08-19 and nearly
# empty at night; rail runs round the clock with daytime peaks.
ROAD_HOURS = (0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 1.8, 1.9, 1.9,
              1.8, 1.8, 1.9, 1.9, 1.8, 1.6, 1.3, 1.0, 0.7, 0.5, 0.35, 0.2)
RAIL_HOURS = (0.6, 0.5, 0.5, 0.5, 0.6, 0.8, 1.0, 1.2, 1.3, 1.3, 1.3, 1.2,
              1.2, 1.2, 1.3, 1.3, 1.3, 1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.7)
# Monday .. Sunday (mean 1): Friday and Saturday busiest, Sunday quietest.
WEEKDAYS = (1.0, 0.95, 0.95, 1.0, 1.15, 1.1, 0.85)


def _mean_one(values: tuple[float, ...]) -> tuple[float, ...]:
    mean = sum(values) / len(values)
    return tuple(v / mean for v in values)


ROAD_PROFILE = _mean_one(ROAD_HOURS)
RAIL_PROFILE = _mean_one(RAIL_HOURS)
WEEK_PROFILE = _mean_one(WEEKDAYS)


def tier_of(station: StationRecord) -> str:
    """The seed posts' tiers are known; another post is rail if its crossing point says so,
    otherwise busy, medium or remote by a stable hash of its id (the same in every run)."""
    known = SEED_TIERS.get(station.station_id)
    if known is not None:
        return known
    if "rail" in station.crossing_point.lower():
        return "rail"
    h = hashlib.blake2b(station.station_id.encode(), digest_size=2).digest()[0]
    return ("busy", "medium", "medium", "remote", "remote", "remote")[h % 6]


def rates_of(station: StationRecord) -> PostRates:
    base = TIERS[tier_of(station)]
    if station.country != "AF" and station.neighbour_country != "AF":
        return base
    return PostRates(base.tier, base.crossings, base.seizures * AFGHAN_SEIZURES,
                     base.detentions * AFGHAN_SEIZURES, base.incidents * AFGHAN_INCIDENTS,
                     base.liaison, base.inspection_share, base.refused_share)


def profile(tier: str, local: datetime) -> float:
    """The share of a day's traffic in the hour of ``local`` (station-local time) relative
    to the weekly mean hour: 1.0 = an average hour."""
    hours = RAIL_PROFILE if tier == "rail" else ROAD_PROFILE
    return hours[local.hour] * WEEK_PROFILE[local.weekday()]


def routine_per_day(stations: list[StationRecord]) -> float:
    """Real routine events per day (crossings, inspections, liaison) at these posts: what
    ``rate`` (events per second, all posts) is divided by to give the demo's scale."""
    total = 0.0
    for st in stations:
        r = rates_of(st)
        total += r.crossings * (1 + r.inspection_share) + (r.liaison if st.paired_blo else 0)
    return total
