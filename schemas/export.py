"""JSON Schema (draft 2020-12) files for station developers and other languages' SDKs.

:func:`export_json_schemas` writes one file per event type (``crossing.schema.json``, ...),
the union of all events (``event.schema.json``), a batched Kafka record (``batch.schema.json``:
an array of events) and the station registry record (``station.schema.json``). Descriptions
come from the model and field docstrings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.events import EVENT_MODELS, SCHEMA_VERSION, Event
from schemas.station import StationRecord

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = f"urn:blo-stream:schema:v{SCHEMA_VERSION}:"


def _one_line_descriptions(node: Any) -> Any:
    """Docstrings wrap; JSON Schema descriptions read better on one line."""
    if isinstance(node, dict):
        return {
            k: " ".join(v.split()) if k == "description" and isinstance(v, str)
            else _one_line_descriptions(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_one_line_descriptions(v) for v in node]
    return node


def _revision_rules(node: Any) -> Any:
    """The models' rule on corrections, in JSON Schema terms, on every event object schema
    (the union's ``$defs`` included): ``revision`` 0 is the original (as if absent), a
    ``revision`` of 1 or more needs a ``correction_reason``, and a reason needs a revision.
    A ``void`` (both required) is left as it is."""
    if isinstance(node, list):
        return [_revision_rules(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _revision_rules(v) for k, v in node.items()}
    props = out.get("properties")
    if isinstance(props, dict) and "revision" in props and "correction_reason" in props \
            and "revision" not in out.get("required", ()):
        props["revision"] = {**props["revision"], "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}, {"type": "null"}]}
        out["dependentRequired"] = {"correction_reason": ["revision"]}
        out["if"] = {"required": ["revision"],
                     "properties": {"revision": {"type": "integer", "minimum": 1}}}
        out["then"] = {"required": ["correction_reason"]}
        out["else"] = {"not": {"required": ["correction_reason"]}}
    return out


def _document(name: str, title: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    head = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": SCHEMA_ID_PREFIX + name,
        "title": title,
        "description": description,
    }
    body = {k: v for k, v in schema.items() if k not in head}
    return {**head, **_revision_rules(_one_line_descriptions(body))}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every schema document, keyed by file name (without ``.schema.json``)."""
    docs: dict[str, dict[str, Any]] = {}
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_json_schema()
        docs[event_type] = _document(
            event_type,
            f"BLO {event_type} event, schema_version {SCHEMA_VERSION}",
            (model.__doc__ or "").strip(),
            schema,
        )
    docs["event"] = _document(
        "event",
        f"BLO event, schema_version {SCHEMA_VERSION}",
        "Any event; `event_type` selects the model. One Kafka record value is one event "
        "object or an array of them (see batch).",
        TypeAdapter(Event).json_schema(),
    )
    docs["batch"] = _document(
        "batch",
        f"Batch of BLO events, schema_version {SCHEMA_VERSION}",
        "A batched Kafka record: a JSON array of events of one station. Each element is "
        "validated, and dead-lettered, on its own.",
        TypeAdapter(list[Event]).json_schema(),
    )
    docs["station"] = _document(
        "station",
        "BLO station registry record",
        (StationRecord.__doc__ or "").strip(),
        StationRecord.model_json_schema(),
    )
    return docs


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write every schema document into ``out_dir`` (created if needed); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in json_schemas().items():
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
