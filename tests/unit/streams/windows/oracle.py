"""Independent oracles for the window tests: plain Python, zoneinfo and pandas only.

Nothing here imports :mod:`streams.windows`. Events are :class:`Ev` (turned into ``events``
rows by :meth:`Ev.row`); :func:`expected` computes every window row's statistics the slow,
obvious way; :func:`readers_view` is what ``SELECT … FINAL`` / argMax(version) returns.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from sinks.tables import WINDOW_STATS
from tests.unit.streams.windows.factories import event_row

COLS = WINDOW_STATS.column_names
KEY_COLS = ("window_kind", "window_start", "station_id", "event_type", "measure", "dimension")
STAT_COLS = COLS[COLS.index("events"): COLS.index("last_event_at") + 1]

# (name, kind, size_s, hop_s): the default configuration, restated
DEFAULT_SPECS = (
    ("1m", "tumbling", 60, None),
    ("1h", "tumbling", 3600, None),
    ("1h/5m", "hopping", 3600, 300),
    ("day", "calendar_day", None, None),
    ("month", "calendar_month", None, None),
)

STATIONS = {
    "TJ-PYANJ": ("TJ", "AF-TJ", "Asia/Dushanbe"),
    "KZ-KORDAI": ("KZ", "KG-KZ", "Asia/Almaty"),
    "UZ-AYRITOM": ("UZ", "AF-UZ", "Asia/Tashkent"),
    "KG-AK-JOL": ("KG", "KG-KZ", "Asia/Bishkek"),
    "TM-SERHETABAT": ("TM", "AF-TM", "Asia/Ashgabat"),
}


_SERIAL = itertools.count(1)


def utc(t: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)


def epoch(text: str) -> int:
    """'2024-05-01T12:00:00+06:00' → epoch seconds."""
    return int(datetime.fromisoformat(text).timestamp())


@dataclass
class Ev:
    t: int
    station: str = "TJ-PYANJ"
    event_type: str = "crossing"
    persons: int | None = None
    vehicles: int | None = None
    direction: str = ""
    outcome: str = ""
    drug: str = ""
    kg: float | None = None
    arrests: int | None = None
    measure: str = ""
    dimension: str = ""
    value: float | None = None
    period: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    serial: int = field(default_factory=lambda: next(_SERIAL))

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"oracle-event-{self.serial}")

    @property
    def attrs(self) -> tuple[str, str, str]:
        return STATIONS[self.station]

    def row(self) -> tuple[Any, ...]:
        country, border, tz = self.attrs
        cols: dict[str, Any] = {
            "event_type": self.event_type, "station_id": self.station, "occurred_at": utc(self.t),
            "country": country, "border": border, "station_tz": tz, "persons": self.persons,
            "vehicles": self.vehicles, "direction": self.direction, "outcome": self.outcome,
            "drug": self.drug, "quantity_kg": self.kg, "arrests": self.arrests,
            "measure": self.measure, "dimension": self.dimension, "value": self.value,
            "event_id": self.event_id,
        }
        if self.period is not None:
            cols.update(period_start=utc(self.period[0]), period_end=utc(self.period[1]))
        cols.update(self.extra)
        return event_row(**cols)


# -- window bounds, computed independently ----------------------------------------------

def local_day(tz: str, t: int) -> tuple[int, int, str]:
    local = pd.Timestamp(t, unit="s", tz="UTC").tz_convert(tz)
    d = local.date()
    start = pd.Timestamp(d).tz_localize(tz)
    end = pd.Timestamp(d + timedelta(days=1)).tz_localize(tz)
    return int(start.timestamp()), int(end.timestamp()), d.isoformat()


def local_month(tz: str, t: int) -> tuple[int, int, str]:
    local = pd.Timestamp(t, unit="s", tz="UTC").tz_convert(tz)
    first = pd.Timestamp(year=local.year, month=local.month, day=1)
    nxt = first + pd.offsets.MonthBegin(1)
    return (int(first.tz_localize(tz).timestamp()), int(nxt.tz_localize(tz).timestamp()),
            f"{local.year:04d}-{local.month:02d}")


def bounds_of(spec: tuple[str, str, int | None, int | None], tz: str,
              t: int) -> list[tuple[int, int, str]]:
    _, kind, size, hop = spec
    if kind == "tumbling":
        assert size is not None
        start = int(pd.Timestamp(t, unit="s").floor(f"{size}s").timestamp())
        return [(start, start + size, "")]
    if kind == "hopping":
        assert size is not None and hop is not None
        # every whole minute near t that is a multiple of hop and whose window holds t
        return [(s, s + size, "") for s in range((t - size - hop) // 60 * 60, t + 1, 60)
                if s % hop == 0 and s <= t < s + size]
    if kind == "calendar_day":
        return [local_day(tz, t)]
    return [local_month(tz, t)]


# -- statistics, computed independently ---------------------------------------------------

def _stats(evs: list[Ev]) -> tuple[Any, ...]:
    kg = [e.kg for e in evs if e.event_type == "seizure" and e.kg is not None]
    values = [e.value for e in evs if e.event_type == "count_report" and e.value is not None]
    return (
        len(evs),
        sum(e.persons or 0 for e in evs),
        sum(e.vehicles or 0 for e in evs),
        sum(1 for e in evs if e.event_type == "crossing" and e.outcome == "refused"),
        sum(1 for e in evs if e.event_type == "crossing" and e.direction == "inbound"),
        sum(1 for e in evs if e.event_type == "crossing" and e.direction == "outbound"),
        float(sum((Decimal(str(q)) for q in kg), Decimal(0))),
        max(kg, default=0.0),
        sum(e.arrests or 0 for e in evs),
        sum(1 for e in evs if e.event_type == "inspection" and e.outcome == "find"),
        float(sum((Decimal(str(v)) for v in values), Decimal(0))),
        utc(min(e.t for e in evs)),
        utc(max(e.t for e in evs)),
    )


def expected(events: Iterable[Ev], specs: Iterable[tuple[str, str, int | None, int | None]]
             = DEFAULT_SPECS) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every window key's row (key → {column: value}, without status/version/updated_at)."""
    groups: dict[tuple[Any, ...], list[Ev]] = defaultdict(list)
    ends: dict[tuple[Any, ...], tuple[int, str]] = {}
    for e in events:
        tz = e.attrs[2]
        for spec in specs:
            if e.event_type == "count_report":
                if spec[1] not in ("calendar_day", "calendar_month"):
                    continue
                assert e.period is not None
                (s, end, label), = bounds_of(spec, tz, e.period[0])
                if e.period[1] > end:
                    continue
                bounds = [(s, end, label)]
                key = (spec[0], utc(s), e.station, e.event_type, e.measure, e.dimension)
            else:
                bounds = bounds_of(spec, tz, e.t)
            for s, end, label in bounds:
                dim = e.dimension if e.event_type == "count_report" else e.drug
                key = (spec[0], utc(s), e.station, e.event_type, e.measure, dim)
                groups[key].append(e)
                ends[key] = (end, label)
    out = {}
    for key, evs in groups.items():
        latest = max(evs, key=lambda e: e.t)
        country, border, tz = latest.attrs
        end, label = ends[key]
        row = dict(zip(KEY_COLS, key, strict=True))
        row.update(window_end=utc(end), window_label=label, country=country, border=border,
                   station_tz=tz)
        row.update(zip(STAT_COLS, _stats(evs), strict=True))
        out[key] = row
    return out


# -- reading rows --------------------------------------------------------------------------

def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    assert len(row) == len(COLS)
    return dict(zip(COLS, row, strict=True))


def key_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in KEY_COLS)


def readers_view(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """argMax(row, version) per key — what ReplacingMergeTree(version) FINAL returns."""
    view: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in map(as_dict, rows):
        k = key_of(r)
        if k not in view or r["version"] > view[k]["version"]:
            view[k] = r
    return view


def finals(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The readers' view restricted to status != 'provisional'."""
    return {k: r for k, r in readers_view(rows).items() if r["status"] != "provisional"}


def content(row: dict[str, Any]) -> dict[str, Any]:
    """A row without status, version and updated_at."""
    return {c: v for c, v in row.items() if c not in ("status", "version", "updated_at")}


def random_events(rng: random.Random, n: int, t0: int, span_s: int,
                  stations: Iterable[str] = ("TJ-PYANJ", "KZ-KORDAI")) -> list[Ev]:
    """A mix of crossings, seizures, inspections and detentions, sorted by time."""
    stations = list(stations)
    out = []
    for _ in range(n):
        t = t0 + rng.randrange(span_s)
        st = rng.choice(stations)
        kind = rng.random()
        if kind < 0.6:
            e = Ev(t, st, "crossing", persons=rng.choice([None, 1, 2, 5]),
                   vehicles=rng.choice([None, 0, 1]), direction=rng.choice(["inbound", "outbound"]),
                   outcome=rng.choice(["passed", "passed", "refused"]))
        elif kind < 0.8:
            e = Ev(t, st, "seizure", drug=rng.choice(["heroin", "opium"]),
                   kg=rng.choice([None, round(rng.uniform(0.001, 40), 3)]),
                   arrests=rng.choice([None, 0, 1, 2]))
        elif kind < 0.95:
            e = Ev(t, st, "inspection", outcome=rng.choice(["find", "nothing_found"]))
        else:
            e = Ev(t, st, "detention", persons=rng.randint(1, 4))
        out.append(e)
    out.sort(key=lambda e: e.t)
    return out


def shuffled_within(rng: random.Random, events: list[Ev], bound_s: int) -> list[Ev]:
    """A delivery order in which no event comes after one more than ``bound_s`` younger
    than itself: sort by (t + uniform jitter in [0, bound_s))."""
    jittered = [(e.t + rng.uniform(0, bound_s), i, e) for i, e in enumerate(events)]
    jittered.sort()
    return [e for _, _, e in jittered]


def copy_ev(e: Ev, **changes: Any) -> Ev:
    return replace(e, **changes)
