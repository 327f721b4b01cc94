"""JSON Schema export: files, ids, descriptions, and that the schemas agree with the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.export import SCHEMA_ID_PREFIX, export_json_schemas
from schemas.parse import EVENT_TYPES

ENVELOPE = {"event_id", "schema_version", "event_type", "station_id", "occurred_at",
            "reported_at", "source_seq"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("schemas") / "nested" / "dir"
    paths = export_json_schemas(out)
    assert all(p.parent == out and p.name.endswith(".schema.json") for p in paths)
    return {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in paths}


def test_one_file_per_type_plus_union_batch_station(exported: dict[str, dict[str, Any]]) -> None:
    assert set(exported) == set(EVENT_TYPES) | {"event", "batch", "station"}


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_event_schema(exported: dict[str, dict[str, Any]], event_type: str) -> None:
    doc = exported[event_type]
    assert doc["$id"] == SCHEMA_ID_PREFIX + event_type
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["title"] and doc["description"]
    assert doc["additionalProperties"] is False
    props = doc["properties"]
    assert isinstance(props, dict) and ENVELOPE <= set(props)
    assert props["event_type"]["const"] == event_type
    assert props["schema_version"]["const"] == 1
    assert props["occurred_at"]["format"] == "date-time"
    assert ENVELOPE <= set(doc["required"])
    defs = doc.get("$defs", {})
    for name, prop in props.items():
        if "description" not in prop and "$ref" in prop:  # same text as the vocabulary's
            prop = defs[prop["$ref"].rsplit("/", 1)[-1]]
        assert prop.get("description"), f"{event_type}.{name} has no description"
        assert "\n" not in prop["description"]


def test_union_and_batch(exported: dict[str, dict[str, Any]]) -> None:
    union = exported["event"]
    assert len(union["oneOf"]) == len(EVENT_TYPES)
    assert union["discriminator"]["propertyName"] == "event_type"
    batch = exported["batch"]
    assert batch["type"] == "array" and "oneOf" in batch["items"]


def test_units_are_documented(exported: dict[str, dict[str, Any]]) -> None:
    seizure = exported["seizure"]["properties"]
    assert "percent" in seizure["purity_pct"]["description"]
    inspection = exported["inspection"]["properties"]
    assert "minutes" in inspection["duration_min"]["description"]


def test_station_schema(exported: dict[str, dict[str, Any]]) -> None:
    doc = exported["station"]
    props = doc["properties"]
    assert {"station_id", "country", "neighbour_country", "tz", "valid_from"} <= set(props)
    assert "border" not in props
    assert "neighbour_country" not in doc["required"]  # empty: an interior post


def test_station_schema_accepts_interior_posts_and_checks_given_neighbours(
        exported: dict[str, dict[str, Any]]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    v = jsonschema.Draft202012Validator(exported["station"])
    base = {"station_id": "US-CBP-CHICAGO", "name": "Chicago", "country": "US",
            "agency": "customs", "crossing_point": "Chicago", "tz": "America/Chicago",
            "valid_from": "2000-01-01T00:00:00Z"}
    for interior in ({}, {"neighbour_country": None}, {"neighbour_country": ""},
                     {"neighbour_country": "", "paired_blo": ""}):
        assert v.is_valid({**base, **interior}), interior
    assert v.is_valid({**base, "neighbour_country": "MX"})
    assert not v.is_valid({**base, "neighbour_country": "mx"})
    assert not v.is_valid({**base, "paired_blo": "bad id"})


def test_export_is_deterministic(tmp_path: Path) -> None:
    a = [p.read_bytes() for p in export_json_schemas(tmp_path / "a")]
    b = [p.read_bytes() for p in export_json_schemas(tmp_path / "b")]
    assert a == b


def _golden(name: str) -> Any:
    path = Path(__file__).resolve().parents[2] / "data" / "events" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_exported_schemas_agree_with_the_models(exported: dict[str, dict[str, Any]]) -> None:
    """Station developers validate with the JSON Schema: it must accept what the models
    accept and reject the plain violations (optional: needs the jsonschema package)."""
    jsonschema = pytest.importorskip("jsonschema")
    checker = jsonschema.FormatChecker()
    for doc in exported.values():
        jsonschema.Draft202012Validator.check_schema(doc)
    union = jsonschema.Draft202012Validator(exported["event"], format_checker=checker)
    for event_type in sorted(EVENT_TYPES):
        event = _golden(event_type)
        jsonschema.validate(event, exported[event_type], format_checker=checker)
        union.validate(event)
    jsonschema.validate(_golden("batch"), exported["batch"], format_checker=checker)
    for name in ("detention_with_name", "crossing_naive_time", "crossing_schema_version_2",
                 "unknown_type", "revision_without_reason"):
        assert not union.is_valid(_golden(f"invalid/{name}")), name
        if name.startswith("revision"):
            assert not jsonschema.Draft202012Validator(
                exported["seizure"], format_checker=checker).is_valid(
                    _golden(f"invalid/{name}")), name
    # the rule on corrections, as the models have it
    seizure = jsonschema.Draft202012Validator(exported["seizure"], format_checker=checker)
    good = _golden("seizure")
    assert seizure.is_valid({**good, "revision": 0})
    assert seizure.is_valid({**good, "revision": 2, "correction_reason": "laboratory weight"})
    assert not seizure.is_valid({**good, "correction_reason": "no revision"})
    assert not seizure.is_valid({**good, "revision": 0, "correction_reason": "an original"})
    assert union.is_valid({**good, "revision": 1, "correction_reason": "laboratory weight"})
    assert not union.is_valid({**good, "revision": 1})


def test_seed_stations_match_the_station_schema(exported: dict[str, dict[str, Any]]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")
    data = Path(__file__).resolve().parents[3] / "blo" / "data"
    for path in (data / "stations_seed.yaml", *sorted((data / "examples").glob("*.yaml"))):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["stations"]:
            jsonschema.validate(entry, exported["station"],
                                format_checker=jsonschema.FormatChecker())
