"""Seizure events with routes, as ``events`` rows written the way the ingest step writes
them (canonical payload, revisions, withdrawn copies), and the readers' view of them
computed here in plain Python: what the route tests check the flows against."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import SeizureEvent
from schemas.identity import canonical_json
from sinks.base import Database, Row
from sinks.tables import EVENTS
from tests.integration.sinks.factories import event_row

# station → (country, zone)
POSTS = {"KZ-KORDAI": ("KZ", "Asia/Almaty"), "KZ-KARASU": ("KZ", "Asia/Almaty"),
         "TJ-PYANJ": ("TJ", "Asia/Dushanbe"), "KG-AK-JOL": ("KG", "Asia/Bishkek")}
INGESTED = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass(frozen=True)
class Sent:
    """One version of a seizure as sent: ``revision`` 0 the original; ``void`` a
    withdrawal."""

    station: str
    seq: int
    at: datetime
    drug: str
    kg: float
    route: dict[str, Any]
    revision: int = 0
    void: bool = False


def _event(s: Sent) -> SeizureEvent:
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{s.station}:{s.seq}")),
        "schema_version": 1, "event_type": "seizure", "station_id": s.station,
        "occurred_at": s.at.isoformat(), "reported_at": s.at.isoformat(),
        "source_seq": s.seq, "drug": s.drug, "quantity": s.kg, "unit": "kg",
        "concealment": "luggage", "detection_method": "xray", **s.route}
    if s.revision:
        body |= {"revision": s.revision, "correction_reason": "laboratory weight"}
    return SeizureEvent.model_validate(body)


def _row(s: Sent, i: int, *, voided: bool, revision: int) -> Row:
    ev = _event(s)
    country, tz = POSTS[s.station]
    return event_row(i, event_id=ev.event_id, event_type="seizure", station_id=s.station,
                     source_seq=s.seq, occurred_at=s.at, reported_at=s.at,
                     ingested_at=INGESTED + timedelta(seconds=i), country=country,
                     station_tz=tz, drug=s.drug, quantity=s.kg, quantity_unit="kg",
                     quantity_kg=s.kg, payload=canonical_json(ev), revision=revision,
                     voided=1 if voided else 0)


def write(db: Database, sent: list[Sent]) -> None:
    """The rows the ingest step writes for ``sent`` (in order): each version in its
    month; a version that moves the event to another month, or voids it, also withdraws
    the previous version from its month (``voided`` 1 at the new revision)."""
    rows: list[Row] = []
    last: dict[tuple[str, int], Sent] = {}
    for i, s in enumerate(sent):
        prev = last.get((s.station, s.seq))
        if s.void:
            assert prev is not None
            rows.append(_row(prev, i, voided=True, revision=s.revision))
        else:
            if prev is not None and (prev.at.year, prev.at.month) != (s.at.year, s.at.month):
                rows.append(_row(prev, i, voided=True, revision=s.revision))
            rows.append(_row(s, i, voided=False, revision=s.revision))
        last[(s.station, s.seq)] = s
    db.insert("events", EVENTS.column_names, rows)


def readers_view(sent: list[Sent]) -> list[Sent]:
    """The latest version of each seizure, voided ones left out."""
    last: dict[tuple[str, int], Sent] = {}
    for s in sorted(sent, key=lambda s: s.revision):
        last[(s.station, s.seq)] = s
    return [s for s in last.values() if not s.void]


def expected_flows(sent: list[Sent], stations: set[str], t0: datetime, t1: datetime,
                   drug: str | None = None) -> dict[tuple[Any, ...], tuple[float, int]]:
    """(producing, departure, transit, destination, drug) → (kg, cases), unknown ''."""
    out: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0])
    for s in readers_view(sent):
        if s.station not in stations or not t0 <= s.at < t1 or drug not in (None, s.drug):
            continue
        r = s.route
        key = (r.get("producing_country", ""), r.get("departure_country", ""),
               tuple(r.get("transit_countries", ())), r.get("destination_country", ""),
               s.drug)
        out[key][0] += s.kg
        out[key][1] += 1
    return {k: (round(v[0], 6), int(v[1])) for k, v in out.items()}


AF_RU = {"producing_country": "AF", "departure_country": "AF",
         "transit_countries": ["TJ", "UZ", "KZ"], "destination_country": "RU"}
AF_KZ = {"producing_country": "AF", "departure_country": "TJ", "destination_country": "KZ"}
UNKNOWN = {"departure_country": "KG"}  # producing, transit and destination unknown
T = datetime(2026, 10, 10, 8, tzinfo=UTC)

SENT = [
    Sent("TJ-PYANJ", 1, T, "heroin", 12.5, AF_RU),
    Sent("TJ-PYANJ", 2, T + timedelta(hours=1), "heroin", 7.25, AF_RU),
    Sent("KZ-KORDAI", 1, T + timedelta(days=1), "heroin", 3.0, AF_RU),
    Sent("KZ-KORDAI", 2, T + timedelta(days=2), "hashish", 40.0, UNKNOWN),
    Sent("KZ-KARASU", 1, T + timedelta(days=3), "opium", 9.0, AF_KZ),
    Sent("KZ-KARASU", 2, T + timedelta(days=4), "heroin", 2.0, {}),  # no route at all
    Sent("KG-AK-JOL", 1, T + timedelta(days=4), "hashish", 15.0, UNKNOWN),
    # revised: the laboratory weight and another destination
    Sent("KZ-KORDAI", 3, T + timedelta(days=5), "heroin", 30.0, AF_RU),
    Sent("KZ-KORDAI", 3, T + timedelta(days=5), "heroin", 27.5, AF_KZ, revision=1),
    # voided
    Sent("KZ-KARASU", 3, T + timedelta(days=6), "opium", 500.0, AF_KZ),
    Sent("KZ-KARASU", 3, T + timedelta(days=6), "opium", 500.0, AF_KZ, revision=1,
         void=True),
    # revised into the next month (September → October): withdrawn from September
    Sent("TJ-PYANJ", 3, T - timedelta(days=20), "opium", 4.0, AF_KZ),
    Sent("TJ-PYANJ", 3, T + timedelta(days=7), "opium", 4.5, AF_KZ, revision=1),
    # another month
    Sent("KZ-KORDAI", 4, datetime(2026, 11, 3, tzinfo=UTC), "heroin", 1.0, AF_RU),
]


def flow_key(f: dict[str, Any]) -> tuple[Any, ...]:
    return (f["producing"], f["departure"], tuple(f["transit"]), f["destination"], f["drug"])


def transit_json(route: dict[str, Any]) -> str:
    return json.dumps(route.get("transit_countries", []))


PAIRED = {"KZ-KORDAI": "KG-AK-JOL", "KG-AK-JOL": "KZ-KORDAI"}
BORDERS = {"KZ-KORDAI": "KG-KZ", "KZ-KARASU": "KG-KZ", "TJ-PYANJ": "AF-TJ",
           "KG-AK-JOL": "KG-KZ"}


def registry_rows() -> list[Row]:
    """The ``stations`` rows of :data:`POSTS` (KZ-KORDAI paired with KG-AK-JOL)."""
    rows: list[Row] = []
    for sid, (country, tz) in POSTS.items():
        border = BORDERS[sid]
        rows.append((sid, datetime(2018, 1, 1, tzinfo=UTC), sid.title(), country,
                     "border_guard", sid, border.replace(country, "").strip("-"), border,
                     PAIRED.get(sid, ""), 40.0, 70.0, tz, "test", 1, 1, INGESTED))
    return rows
