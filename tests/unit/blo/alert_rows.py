"""Alerts stored in embedded chDB for the CLI's and the API's alert tests: ``make_alert(**
overrides)`` (one version of an alert), ``insert_alerts(db, ...)``, and ``run(db, *args)``,
``blo alerts ARGS`` against that directory (no worker there: the CLI reads it directly)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from click.testing import CliRunner, Result

from blo.cli import main
from blo.localservices.tansu import free_port
from sinks.base import Database
from sinks.chdb import ChdbDatabase
from sinks.tables import ALERTS
from streams.alerts.rows import Alert

T0 = int(datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp())


def make_alert(**overrides: Any) -> Alert:
    """One version of an alert (an ``alerts`` row); a firing threshold alert by default."""
    fields: dict[str, Any] = {
        "alert_id": uuid.uuid4(), "version": 1, "rule_id": "seizure-kg-station-1h",
        "rule_name": "Large seizure at a post", "kind": "threshold", "severity": "critical",
        "state": "firing", "scope": "station", "scope_key": "TJ-PYANJ",
        "station_id": "TJ-PYANJ", "window_kind": "1h", "window_start": T0,
        "window_end": T0 + 3600, "value": 60.0, "threshold": 50.0, "provisional": False,
        "message": "TJ-PYANJ: 60.0 kg", "labels": ("team=drugs",), "fired_at": T0 + 3600,
        "resolved_at": 0, "acked": False, "acked_by": "", "acked_at": 0, "ack_comment": "",
        "updated_at": T0 + 3600}
    fields.update(overrides)
    return Alert(**fields)


def insert_alerts(db: Database, *alerts: Alert) -> None:
    db.insert("alerts", ALERTS.column_names, [a.row() for a in alerts])


def run(db: ChdbDatabase, *args: str) -> Result:
    """``blo alerts ARGS`` against ``db`` (the worker's port free: no worker answers)."""
    env = {"BLO_CLICKHOUSE_URL": f"chdb://{db.path}?database={db.database}",
           "BLO_WEB_PORT": str(free_port())}
    return CliRunner().invoke(main, ["alerts", *args], env=env)
