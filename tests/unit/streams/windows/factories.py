"""``events`` rows for window tests: ``event_row(occurred_at=..., event_type=..., **columns)``.

Independent of the window code: plain defaults per column, by name.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sinks.tables import EVENTS

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
_seq = itertools.count(1)

STATION_DEFAULTS = {
    "station_id": "TJ-PYANJ", "country": "TJ", "border": "AF-TJ", "station_tz": "Asia/Dushanbe",
}


def event_row(**overrides: Any) -> tuple[Any, ...]:
    """One events row; every column has a neutral default (NULL numerics, '' strings)."""
    unknown = set(overrides) - set(EVENTS.column_names)
    assert not unknown, unknown
    n = next(_seq)
    values: dict[str, Any] = {}
    for name, ch_type in EVENTS.columns:
        if ch_type.startswith("Nullable("):
            values[name] = None
        elif ch_type == "UUID":
            values[name] = uuid.uuid5(uuid.NAMESPACE_URL, f"window-test-{n}")
        elif ch_type.startswith("DateTime"):
            values[name] = T0
        elif ch_type == "String":
            values[name] = ""
        else:
            values[name] = 0
    values.update(event_type="crossing", source_seq=n, **STATION_DEFAULTS)
    values.update(overrides)
    return tuple(values[name] for name in EVENTS.column_names)


def at(seconds: float) -> datetime:
    """T0 + seconds."""
    return T0 + timedelta(seconds=seconds)


def crossing(t: datetime, **kw: Any) -> tuple[Any, ...]:
    kw.setdefault("direction", "inbound")
    kw.setdefault("outcome", "passed")
    kw.setdefault("persons", 2)
    kw.setdefault("vehicles", 1)
    return event_row(event_type="crossing", occurred_at=t, **kw)


def seizure(t: datetime, kg: float, drug: str = "heroin", **kw: Any) -> tuple[Any, ...]:
    kw.setdefault("arrests", 1)
    return event_row(event_type="seizure", occurred_at=t, drug=drug, quantity_kg=kg,
                     quantity=kg, quantity_unit="kg", **kw)
