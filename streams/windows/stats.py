"""Additive statistics of a window key. Pure.

An accumulator is a plain ``list`` (fast to update in the hot loop) with the slots below.
Every statistic is a count, a sum, a min or a max, so accumulators *fold*: folding a
pre-aggregated partial equals adding its events one by one, in any order and grouping.
Sums of kilograms and report values are kept as integer **micro-units** (1e-6 kg / value
units; finer digits are rounded per event), which makes them exact and independent of the
order events arrive in: a shuffled replay, minute partials summed elsewhere and the
original run give the same bits. Event times are whole epoch seconds (``DateTime``'s
resolution).

:class:`WindowStats` is the public, row-shaped form (floats for kg and values).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from schemas.rows import EventRow, Row

# accumulator slots
EVENTS_N = 0
PERSONS = 1
VEHICLES = 2
REFUSED = 3
INBOUND = 4
OUTBOUND = 5
SEIZURE_UKG = 6  # micro-kg, int
SEIZURE_KG_MAX = 7  # float
ARRESTS = 8
FINDS = 9
VALUE_U = 10  # micro-units, int
FIRST = 11  # epoch seconds, int
LAST = 12
ATTRS = 13  # (country, border, station_tz) of the event with the latest occurred_at
N_STATS = 13
MICRO = 1_000_000

NO_FIRST = 2**62
NO_LAST = -(2**62)

# events columns, read by position in the hot loop (schemas.rows: why not by name)
_C = EventRow._fields.index
C_EVENT_ID = _C("event_id")
C_EVENT_TYPE = _C("event_type")
C_STATION = _C("station_id")
C_OCCURRED = _C("occurred_at")
C_COUNTRY = _C("country")
C_BORDER = _C("border")
C_TZ = _C("station_tz")
C_PARTITION = _C("kafka_partition")
C_DIRECTION = _C("direction")
C_OUTCOME = _C("outcome")
C_PERSONS = _C("persons")
C_VEHICLES = _C("vehicles")
C_ARRESTS = _C("arrests")
C_DRUG = _C("drug")
C_QUANTITY_KG = _C("quantity_kg")
C_PERIOD_START = _C("period_start")
C_PERIOD_END = _C("period_end")
C_MEASURE = _C("measure")
C_DIMENSION = _C("dimension")
C_VALUE = _C("value")

Attrs = tuple[str, str, str]
Acc = list[Any]


class WindowStats(NamedTuple):
    """The statistics of one window key, as they appear in a ``window_stats`` row."""

    events: int = 0
    persons: int = 0
    vehicles: int = 0
    refused: int = 0
    inbound: int = 0
    outbound: int = 0
    seizure_kg: float = 0.0
    seizure_kg_max: float = 0.0
    arrests: int = 0
    inspections_with_finds: int = 0
    value: float = 0.0
    first_event_at: int = NO_FIRST  # epoch seconds
    last_event_at: int = NO_LAST


def new_acc(attrs: Attrs = ("", "", "")) -> Acc:
    return [0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, NO_FIRST, NO_LAST, attrs]


def fold_row(acc: Acc, row: Row, t: int) -> None:
    """Add one ``events`` row (occurred at ``t``, epoch seconds) to ``acc``."""
    acc[0] += 1
    et = row[C_EVENT_TYPE]
    v = row[C_PERSONS]
    if v is not None:
        acc[1] += v
    v = row[C_VEHICLES]
    if v is not None:
        acc[2] += v
    v = row[C_ARRESTS]
    if v is not None:
        acc[8] += v
    if et == "crossing":
        if row[C_OUTCOME] == "refused":
            acc[3] += 1
        d = row[C_DIRECTION]
        if d == "inbound":
            acc[4] += 1
        elif d == "outbound":
            acc[5] += 1
    elif et == "seizure":
        q = row[C_QUANTITY_KG]
        if q is not None:
            acc[6] += round(q * MICRO)
            if q > acc[7]:  # noqa: PLR1730 - an `if` costs a third of max() in the hot loop
                acc[7] = q
    elif et == "inspection":
        if row[C_OUTCOME] == "find":
            acc[9] += 1
    elif et == "count_report":
        v = row[C_VALUE]
        if v is not None:
            acc[10] += round(v * MICRO)
    if t < acc[11]:  # noqa: PLR1730
        acc[11] = t
    if t >= acc[12]:
        acc[12] = t
        acc[13] = (row[C_COUNTRY], row[C_BORDER], row[C_TZ])


def fold(acc: Acc, other: Acc) -> None:
    """``acc`` += ``other`` (both accumulators)."""
    acc[0] += other[0]
    acc[1] += other[1]
    acc[2] += other[2]
    acc[3] += other[3]
    acc[4] += other[4]
    acc[5] += other[5]
    acc[6] += other[6]
    acc[7] = max(acc[7], other[7])
    acc[8] += other[8]
    acc[9] += other[9]
    acc[10] += other[10]
    acc[11] = min(acc[11], other[11])
    if other[12] >= acc[12]:
        acc[12] = other[12]
        acc[13] = other[13]


def comparable(acc: Acc) -> tuple[Any, ...]:
    """What decides "changed since the last emission": the exact statistics."""
    return tuple(acc[:N_STATS])


def to_acc(stats: WindowStats, attrs: Attrs = ("", "", "")) -> Acc:
    """The accumulator of ``stats`` (kg and values back to micro-units)."""
    s = stats
    return [
        int(s.events), int(s.persons), int(s.vehicles), int(s.refused), int(s.inbound),
        int(s.outbound), round(s.seizure_kg * MICRO), float(s.seizure_kg_max), int(s.arrests),
        int(s.inspections_with_finds), round(s.value * MICRO), int(s.first_event_at),
        int(s.last_event_at), attrs,
    ]
