"""Independent oracle of window statistics: plain Python and zoneinfo, nothing of streams/.

The rules restated from docs/windows.md: tumbling windows aligned to the UTC epoch; hopping
windows of ``size`` every ``hop`` (each instant in size/hop of them); calendar day and month
from local midnight in the station's zone; key (window kind, start, station, event type,
measure, dimension = drug for seizures); statistics summed per key.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

STAT_NAMES = ("events", "persons", "vehicles", "refused", "inbound", "outbound", "seizure_kg",
              "arrests", "inspections_with_finds")

DEFAULT_KINDS = ("1m", "1h", "1h/5m", "day", "month")


def window_starts(kind: str, t: int, tz: str) -> list[tuple[int, int]]:
    """(start, end) epoch seconds of every window of ``kind`` holding instant ``t``."""
    if kind == "1m":
        s = t - t % 60
        return [(s, s + 60)]
    if kind == "1h":
        s = t - t % 3600
        return [(s, s + 3600)]
    if kind == "1h/5m":
        last = t - t % 300
        return [(s, s + 3600) for s in range(last - 3600 + 300, last + 1, 300)]
    local = datetime.fromtimestamp(t, ZoneInfo(tz))
    z = ZoneInfo(tz)
    if kind == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=z)
        nxt = start.date() + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z)
    elif kind == "month":
        start = datetime(local.year, local.month, 1, tzinfo=z)
        end = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=z)
    else:
        raise ValueError(kind)
    return [(int(start.timestamp()), int(end.timestamp()))]


def oracle(events: list[dict[str, Any]], tz_of: dict[str, str],
           kinds: tuple[str, ...] = DEFAULT_KINDS) -> dict[tuple[Any, ...], dict[str, float]]:
    """(kind, start, station, event_type, measure, dimension) → statistics, for live events
    (crossings, seizures, inspections...) given as the JSON objects that were published."""
    out: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: dict.fromkeys(STAT_NAMES, 0))
    for e in events:
        t = int(datetime.fromisoformat(e["occurred_at"]).timestamp())
        et = e["event_type"]
        dim = e.get("drug", "") if et == "seizure" else ""
        for kind in kinds:
            for start, end in window_starts(kind, t, tz_of[e["station_id"]]):
                s = out[(kind, start, end, e["station_id"], et, "", dim)]
                s["events"] += 1
                s["persons"] += e.get("persons", 0) or 0
                s["vehicles"] += e.get("vehicles", 0) or 0
                if et == "crossing":
                    s["refused"] += e["document_check"] == "refused"
                    s["inbound"] += e["direction"] == "inbound"
                    s["outbound"] += e["direction"] == "outbound"
                if et == "seizure":
                    assert e["unit"] == "kg"
                    s["seizure_kg"] += e["quantity"]
                    s["arrests"] += e.get("persons_arrested", 0)
    return dict(out)


def seizure(station_id: str, seq: int, *, at: datetime, drug: str, kg: float,
            arrests: int, event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "schema_version": 1, "event_type": "seizure",
            "station_id": station_id, "occurred_at": at.isoformat(),
            "reported_at": at.isoformat(), "source_seq": seq, "drug": drug, "quantity": kg,
            "unit": "kg", "concealment": "built_compartment", "detection_method": "xray",
            "persons_arrested": arrests}
