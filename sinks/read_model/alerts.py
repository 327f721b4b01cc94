"""Queries on ``alerts`` and ``alert_mutes``: the state an alert engine restores."""

from __future__ import annotations

from sinks.read_model import Query, latest
from sinks.tables import ALERT_MUTES, ALERTS


def current_alerts(database: str, resolved_since_s: int) -> Query:
    """The current version (readers' view) of every firing alert and of those resolved at or
    after ``resolved_since_s``, in :data:`sinks.tables.ALERTS` column order."""
    cols = ", ".join(ALERTS.column_names)
    return Query(
        f"SELECT {cols} FROM {latest(database, ALERTS)} "
        "WHERE state = 'firing' OR resolved_at >= toDateTime(%(h)s)",
        {"h": max(0, resolved_since_s)})


def current_mutes(database: str) -> Query:
    """The current version (readers' view) of every alert mute, active or expired, in
    :data:`sinks.tables.ALERT_MUTES` column order (a small table: mutes are few)."""
    cols = ", ".join(ALERT_MUTES.column_names)
    return Query(f"SELECT {cols} FROM {latest(database, ALERT_MUTES)}", {})
