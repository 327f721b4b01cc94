"""The alert message: one JSON object per ``alerts`` row, for the topic and the webhook.

Same fields as the table, with JSON types: times are RFC 3339 strings in UTC (``…Z``) or
``null`` where the table holds epoch 0 (not applicable / not yet), ``provisional`` and
``acked`` are booleans, ``labels`` an object. ``schema_version`` (1) names this layout.
Receivers de-duplicate on ``(alert_id, version)``: a delivery may repeat, never with a new
id; the highest version of an id is its current state. :func:`alert_json_schema` is the
published JSON Schema (draft 2020-12) that every message satisfies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from streams.alerts.rows import Alert, rfc3339, utc
from streams.alerts.rules import KINDS

SCHEMA_VERSION = 1
SCHEMA_ID = "urn:blo-stream:alert:1"


def alert_document(alert: Alert) -> dict[str, object]:
    """The message of one alert version, as a JSON-ready dict."""

    def time(t: int) -> str | None:
        return rfc3339(t) or None

    def always(t: int) -> str:
        return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "schema_version": SCHEMA_VERSION,
        "alert_id": str(alert.alert_id), "version": alert.version, "rule_id": alert.rule_id,
        "rule_name": alert.rule_name, "kind": alert.kind, "severity": alert.severity,
        "state": alert.state, "scope": alert.scope, "scope_key": alert.scope_key,
        "station_id": alert.station_id, "window_kind": alert.window_kind,
        "window_start": time(alert.window_start), "window_end": time(alert.window_end),
        "value": alert.value, "threshold": alert.threshold, "provisional": alert.provisional,
        "message": alert.message, "messages": alert.messages_by_language,
        "labels": dict(label.split("=", 1) for label in alert.labels),
        "fired_at": always(alert.fired_at), "resolved_at": time(alert.resolved_at),
        "acked": alert.acked, "acked_by": alert.acked_by, "acked_at": time(alert.acked_at),
        "ack_comment": alert.ack_comment, "updated_at": always(alert.updated_at),
    }


def alert_message(row: Sequence[Any]) -> bytes:
    """The JSON bytes (keys sorted, UTF-8) of an ``alerts`` row: the topic record's value and
    the webhook's body."""
    return orjson.dumps(alert_document(Alert.from_row(row)), option=orjson.OPT_SORT_KEYS)


def alert_json_schema() -> dict[str, Any]:
    """JSON Schema of :func:`alert_message`'s object."""
    time: dict[str, Any] = {"type": "string", "format": "date-time",
                            "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
    time_or_null: dict[str, Any] = {"anyOf": [time, {"type": "null"}]}
    text: dict[str, Any] = {"type": "string"}
    props: dict[str, Any] = {
        "schema_version": {"const": SCHEMA_VERSION},
        "alert_id": {"type": "string", "format": "uuid",
                     "description": "uuid5 of (rule, key, opening instant): stable on replay"},
        "version": {"type": "integer", "minimum": 1,
                    "description": "1, 2, 3… per alert_id; the highest is current"},
        "rule_id": text, "rule_name": text,
        "kind": {"enum": list(KINDS)},
        "severity": {"enum": ["info", "warning", "critical"]},
        "state": {"enum": ["firing", "resolved"]},
        "scope": {"enum": ["station", "country", "border", "all", "pair"]},
        "scope_key": text,
        "station_id": {"type": "string", "description": "'' unless about one station"},
        "window_kind": {"type": "string", "description": "'' for rules not over windows"},
        "window_start": time_or_null, "window_end": time_or_null,
        "value": {"type": "number"}, "threshold": {"type": "number"},
        "provisional": {"type": "boolean",
                        "description": "judged on provisional windows (early warning)"},
        "message": text,
        "messages": {"type": "object", "additionalProperties": {"type": "string"},
                     "required": ["en"],
                     "description": "the message per language of the rules file: en, ru"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "fired_at": time, "resolved_at": time_or_null,
        "acked": {"type": "boolean"}, "acked_by": text, "acked_at": time_or_null,
        "ack_comment": text, "updated_at": time,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "BLO alert",
        "description": "One version of an alert (one row of the ClickHouse alerts table). "
                       "De-duplicate on (alert_id, version).",
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
