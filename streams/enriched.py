"""Enriched events for other consumers (optional, ``BLO_INGEST_PRODUCE_ENRICHED=true``). Pure.

Rows already built for ClickHouse become JSON records on ``BLO_KAFKA_TOPIC_ENRICHED``,
batched: one record per station per ingest batch (a JSON array, in event order), keyed by
station id — the same wire shape stations use, so a consumer reads both alike. The raw
``payload`` column is left out (it is the event itself; the rest is its enrichment).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from sinks.base import Row
from sinks.tables import EVENTS

_SKIP = frozenset({"payload"})
_FIELDS = [(i, name) for i, name in enumerate(EVENTS.column_names) if name not in _SKIP]
_STATION = EVENTS.index("station_id")


def _default(v: Any) -> Any:
    if isinstance(v, UUID | datetime):
        return str(v) if isinstance(v, UUID) else v.isoformat()
    raise TypeError(f"cannot encode {type(v).__name__}")


def enriched_records(rows: Sequence[Row], max_events: int = 500) -> list[tuple[bytes, bytes]]:
    """(key, value) records: events grouped per station, at most ``max_events`` each."""
    by_station: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_station.setdefault(row[_STATION], []).append({n: row[i] for i, n in _FIELDS})
    out = []
    for station_id, events in by_station.items():
        for start in range(0, len(events), max_events):
            chunk = events[start:start + max_events]
            out.append((station_id.encode(), orjson.dumps(chunk, default=_default)))
    return out
