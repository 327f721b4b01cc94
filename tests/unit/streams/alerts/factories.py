"""Inputs and readers for the alert tests, independent of the alert code.

``wrow(...)``: a ``window_stats`` row built by column name; ``alerts(rows)``: ``alerts`` rows
as dicts by column name; ``engine(yaml)``: an engine over a rules text; ``feed(engine,
rows)``: what the engine emits for window rows; ``History``: a baseline provider.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sinks.base import Row
from sinks.tables import ALERTS, WINDOW_STATS
from streams.alerts import AlertEngine, RuleSet, parse_rules

T0 = 1_714_557_600  # 2024-05-01T10:00:00Z, an hour boundary
H = 3600
M = 60

STATIONS = {
    "TJ-PYANJ": ("TJ", "AF-TJ"),
    "TJ-ISHKASHIM": ("TJ", "AF-TJ"),
    "AF-SHERKHAN": ("AF", "AF-TJ"),
    "KZ-KORDAI": ("KZ", "KG-KZ"),
    "KG-AK-JOL": ("KG", "KG-KZ"),
    "TJ-DUSHANBE-AIRPORT": ("TJ", ""),  # an interior post: on no border
}

SEIZURE_1H = """
    statistic: seizure_kg
    window: 1h
    scope: station
    filters: {event_type: seizure}
    op: ">="
    raise: 50
"""
"""A threshold rule's body (for :func:`rule_yaml`): 50 kg seized at a post in an hour."""

CROSSINGS_LOW = """
    statistic: events
    window: 1h
    filters: {event_type: crossing}
    op: "<="
    raise: 2
    clear: 5
    settle_s: 0
"""
"""A low condition's body: at most 2 crossings in an hour, cleared at 5."""

_versions = itertools.count(1)


def dt(t: float) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)


def wrow(start: int, size: int = H, *, kind: str = "1h", station: str = "TJ-PYANJ",
         event_type: str = "seizure", dimension: str = "heroin", measure: str = "",
         status: str = "final", version: int | None = None, label: str = "",
         last_event_at: int | None = None, **stats: float) -> Row:
    """One window_stats row; statistics default to 0, ``events`` to 1."""
    country, border = STATIONS[station]
    values: dict[str, Any] = {name: 0 for name in WINDOW_STATS.column_names}
    values.update(
        window_kind=kind, window_start=dt(start), window_end=dt(start + size),
        window_label=label, station_id=station, country=country, border=border,
        station_tz="Asia/Dushanbe", event_type=event_type, measure=measure,
        dimension=dimension, events=1, first_event_at=dt(start),
        last_event_at=dt(start + size - 1 if last_event_at is None else last_event_at),
        status=status, version=next(_versions) if version is None else version,
        updated_at=dt(start + size),
    )
    unknown = set(stats) - set(WINDOW_STATS.column_names)
    assert not unknown, unknown
    values.update(stats)
    return tuple(values[name] for name in WINDOW_STATS.column_names)


def rules(text: str) -> RuleSet:
    return parse_rules(textwrap.dedent(text))


def engine(text: str, pairs: Mapping[str, str] | None = None,
           baseline: Callable[..., Sequence[float]] | None = None) -> AlertEngine:
    return AlertEngine(rules(text), pairs or {}, baseline)


def feed(e: AlertEngine, rows: Iterable[Row]) -> list[Row]:
    """The ``alerts`` rows ``e`` emits for ``rows``, fed one at a time, drained after each."""
    out: list[Row] = []
    for r in rows:
        e.on_window_row(r)
        out.extend(e.drain())
    return out


class History:
    """A BaselineProvider answering ``values`` whatever it is asked, recording its calls."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self.calls: list[tuple[str, str, int]] = []

    def __call__(self, rule: Any, key: str, window_start: int) -> list[float]:
        self.calls.append((rule.id, key, window_start))
        return self.values


def alerts(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """``alerts`` rows as dicts by column name."""
    out = []
    for row in rows:
        assert len(row) == len(ALERTS.columns)
        out.append(dict(zip(ALERTS.column_names, row, strict=True)))
    return out


def states(rows: Iterable[Row]) -> list[tuple[str, str, int]]:
    """(scope_key, state, version) of each row, in order."""
    return [(a["scope_key"], a["state"], a["version"]) for a in alerts(rows)]


def rule_yaml(body: str, *, kind: str = "threshold", rid: str = "r1",
              message: str = "{scope_key} {value}") -> str:
    """A one-rule file; ``body`` is the kind's fields, one flat field per line."""
    fields = "\n".join("    " + ln.strip() for ln in body.splitlines() if ln.strip())
    return (
        "version: 1\nrules:\n"
        f"  - id: {rid}\n    name: Rule {rid}\n    severity: warning\n"
        f"    message: \"{message}\"\n    labels: {{team: drugs, area: south}}\n"
        f"    kind: {kind}\n{fields}\n"
    )
