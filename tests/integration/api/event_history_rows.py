"""Stored histories for the event-history tests (API and CLI), written straight into
``events`` and ``event_revisions`` as the ingest step writes them (no worker): the payload
and body hash of each revision from the schema's own canonical JSON, rows in the table
specs' column order, history rows projected by ``streams.stages.rows.revision_row``.

Four events (station → what happened):

* ``voided`` (KZ-KORDAI): a seizure, corrected (laboratory weight), then voided — no live
  row left (every live row withdrawn);
* ``plain`` (KZ-KARASU): a crossing never corrected — only its ``events`` row;
* ``corrected`` (TJ-PYANJ): an inspection corrected once (outcome);
* ``moved`` (KZ-KORDAI): a crossing whose revision moved it to the next month (a withdrawn
  copy in the old month, the revision in the new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from schemas.identity import canonical_json_and_hash, derive_event_id
from schemas.parse import parse_event
from sinks.base import Database, Row
from sinks.tables import EVENT_REVISIONS, EVENTS, STATIONS
from streams.stages.rows import revision_row, withdrawn_row

T0 = datetime(2024, 2, 14, 11, 20, tzinfo=UTC)
# station → (country, agency, border, paired BLO)
POSTS = {
    "KZ-KORDAI": ("KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
    "KZ-KARASU": ("KZ", "customs", "KG-KZ", ""),
    "KG-AK-JOL": ("KG", "customs", "KG-KZ", "KZ-KORDAI"),
    "TJ-PYANJ": ("TJ", "joint", "AF-TJ", ""),
}


def _default(ch_type: str) -> Any:
    if ch_type.startswith("Nullable"):
        return None
    if ch_type.startswith("DateTime"):
        return datetime(1970, 1, 1, tzinfo=UTC)
    if ch_type == "String":
        return ""
    return 0.0 if ch_type.startswith("Float") else 0


def _station_row(sid: str) -> Row:
    country, agency, border, paired = POSTS[sid]
    v = {"station_id": sid, "valid_from": datetime(2018, 1, 1, tzinfo=UTC), "name": sid,
         "country": country, "agency": agency, "crossing_point": sid, "border": border,
         "paired_blo": paired, "lat": 40.0, "lon": 70.0, "tz": "Asia/Almaty",
         "coord_source": "test", "coord_approximate": 1, "active": 1, "updated_at": T0}
    return tuple(v.get(c, _default(t)) for c, t in STATIONS.columns)


def event_row(event: dict[str, Any], ingested_at: datetime, offset: int) -> Row:
    """The ``events`` row of ``event`` (a JSON-shaped dict), validated by the schema."""
    ev = parse_event(orjson.loads(orjson.dumps(event)), now=datetime.now(UTC),
                     max_future_skew=timedelta(minutes=5))
    payload, body_hash = canonical_json_and_hash(ev)
    country, agency, border, paired = POSTS[ev.station_id]
    v = {"event_id": ev.event_id, "event_type": ev.event_type, "schema_version": 1,
         "station_id": ev.station_id, "source_seq": ev.source_seq,
         "occurred_at": ev.occurred_at, "reported_at": ev.reported_at,
         "ingested_at": ingested_at, "country": country, "agency": agency,
         "border": border, "paired_blo": paired, "station_tz": "Asia/Almaty",
         "body_hash": body_hash, "payload": payload, "kafka_topic": "blo.events.raw",
         "kafka_offset": offset, "revision": ev.revision or 0,
         "voided": 1 if ev.event_type == "void" else 0,
         "correction_reason": ev.correction_reason or "",
         # the one typed column the docs' query reads (the rest stay defaults)
         "persons": getattr(ev, "persons", None)}
    return tuple(v.get(c, _default(t)) for c, t in EVENTS.columns)


def _base(station: str, seq: int, event_type: str, occurred: datetime,
          reported: datetime, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(derive_event_id(station, seq)), "schema_version": 1,
            "event_type": event_type, "station_id": station, "source_seq": seq,
            "occurred_at": occurred.isoformat(), "reported_at": reported.isoformat(),
            **fields}


@dataclass
class Stored:
    ids: dict[str, str]  # name → event id
    events: list[Row]
    revisions: list[Row]


def build() -> Stored:
    """The rows of the four events (see the module docstring)."""
    events: list[Row] = []
    revisions: list[Row] = []
    ids: dict[str, str] = {}
    h = timedelta(hours=1)

    # voided: original, revision 1 (same month: replaces it), void 2 (withdraws rev 1)
    seizure = _base("KZ-KORDAI", 40877, "seizure", T0, T0, drug="heroin", quantity=700.0,
                    unit="kg", concealment="mixed_in_cargo", detection_method="xray")
    r0 = event_row(seizure, T0 + h, 1)
    r1 = event_row({**seizure, "quantity": 770.5, "reported_at": (T0 + 24 * h).isoformat(),
                    "revision": 1, "correction_reason": "laboratory weight"}, T0 + 25 * h, 2)
    void = {k: seizure[k] for k in ("event_id", "schema_version", "station_id",
                                    "occurred_at", "source_seq")}
    r2 = event_row({**void, "event_type": "void", "reported_at": (T0 + 48 * h).isoformat(),
                    "revision": 2, "correction_reason": "entered twice"}, T0 + 49 * h, 3)
    events += [r0, r1, withdrawn_row(r1, revision=2, reason="entered twice",
                                     ingested_at=T0 + 49 * h)]
    revisions += [revision_row(r) for r in (r0, r1, r2)]
    ids["voided"] = seizure["event_id"]

    # plain: one events row, no history rows
    crossing = _base("KZ-KARASU", 5, "crossing", T0, T0, direction="inbound",
                     subject="vehicle", mode="road", persons=2, vehicles=1,
                     document_check="passed")
    events.append(event_row(crossing, T0 + h, 4))
    ids["plain"] = crossing["event_id"]

    # corrected: an inspection's outcome corrected once
    insp = _base("TJ-PYANJ", 9, "inspection", T0, T0, target="cargo", reason="canine",
                 outcome="nothing_found")
    i0 = event_row(insp, T0 + h, 5)
    i1 = event_row({**insp, "outcome": "find", "duration_min": 29.0, "revision": 1,
                    "correction_reason": "laboratory result"}, T0 + 30 * h, 6)
    events += [i0, i1]
    revisions += [revision_row(i0), revision_row(i1)]
    ids["corrected"] = insp["event_id"]

    # moved: revision 1 moves the crossing into March (the old month keeps a withdrawn copy)
    moved = _base("KZ-KORDAI", 41000, "crossing", datetime(2024, 2, 29, 23, 0, tzinfo=UTC),
                  T0, direction="outbound", subject="person", mode="pedestrian", persons=1,
                  vehicles=0, document_check="passed")
    m0 = event_row(moved, T0 + h, 7)
    m1 = event_row({**moved, "occurred_at": "2024-03-01T01:00:00+00:00", "revision": 1,
                    "correction_reason": "local day was wrong"}, T0 + 400 * h, 8)
    events += [m0, withdrawn_row(m0, revision=1, reason="local day was wrong",
                                 ingested_at=T0 + 400 * h), m1]
    revisions += [revision_row(m0), revision_row(m1)]
    ids["moved"] = moved["event_id"]
    return Stored(ids, events, revisions)


def store(db: Database) -> Stored:
    """Write the stations and the four events' rows into ``db`` (each revision's rows in
    its own insert, as separate batches would be)."""
    s = build()
    db.insert("stations", STATIONS.column_names, [_station_row(sid) for sid in POSTS])
    for r in s.events:
        db.insert("events", EVENTS.column_names, [r])
    db.insert("event_revisions", EVENT_REVISIONS.column_names, s.revisions)
    return s


def never_stored() -> str:
    return str(UUID(int=0x1234))
