"""Row factories by column name: ``event_row(event_type="crossing", persons=None)``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sinks.base import Row
from sinks.tables import DLQ, EVENTS, STATIONS, TableSpec

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
AWKWARD = "it's a \"quote\", a back\\slash, a\nnewline, a\ttab, ünïcödé, 中文, 😀"


def _default(name: str, ch_type: str, i: int) -> Any:
    if name in ("revision", "voided"):  # an event as first sent, live
        return 0
    nullable = ch_type.startswith("Nullable(")
    base = ch_type[len("Nullable(") : -1] if nullable else ch_type
    if base == "UUID":
        return uuid.uuid5(uuid.NAMESPACE_URL, f"row-{i}")
    if base.startswith("DateTime"):
        return T0
    if base == "String":
        return f"{name}-{i}"
    if base == "Array(String)":
        return [f"{name}-{i}", AWKWARD]
    if base.startswith(("UInt", "Int")):
        return i % 100
    if base == "Float64":
        return i + 0.25
    raise AssertionError(f"no default for {ch_type}")


def make_row(spec: TableSpec, i: int = 0, **overrides: Any) -> Row:
    unknown = set(overrides) - set(spec.column_names)
    assert not unknown, f"not columns of {spec.name}: {unknown}"
    return tuple(
        overrides[n] if n in overrides else _default(n, t, i) for n, t in spec.columns
    )


def event_row(i: int = 0, **overrides: Any) -> Row:
    return make_row(EVENTS, i, **overrides)


def dlq_row(i: int = 0, **overrides: Any) -> Row:
    return make_row(DLQ, i, **overrides)


def station_row(i: int = 0, **overrides: Any) -> Row:
    return make_row(STATIONS, i, **overrides)


def all_nulls(spec: TableSpec) -> dict[str, None]:
    return {n: None for n, t in spec.columns if t.startswith("Nullable(")}
