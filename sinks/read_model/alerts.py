"""Queries on ``alerts``: the state an alert engine restores."""

from __future__ import annotations

from sinks.read_model import Query, latest
from sinks.tables import ALERTS


def current_alerts(database: str, resolved_since_s: int) -> Query:
    """The current version (readers' view) of every firing alert and of those resolved at or
    after ``resolved_since_s``, in :data:`sinks.tables.ALERTS` column order."""
    cols = ", ".join(ALERTS.column_names)
    return Query(
        f"SELECT {cols} FROM {latest(database, ALERTS)} "
        "WHERE state = 'firing' OR resolved_at >= toDateTime(%(h)s)",
        {"h": max(0, resolved_since_s)})
