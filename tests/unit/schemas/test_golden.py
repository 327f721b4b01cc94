"""Golden payloads (tests/data/events) and the examples in docs/schemas.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from schemas.identity import body_hash
from schemas.parse import EVENT_TYPES
from tests.unit.schemas.factories import parse, rejection

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "data" / "events"
DOC = ROOT / "docs" / "schemas.md"

INVALID = {
    "detention_with_name": ("invalid", "name"),
    "crossing_naive_time": ("invalid", "occurred_at"),
    "crossing_schema_version_2": ("unknown_schema_version", "schema_version"),
    "unknown_type": ("unknown_event_type", "event_type"),
    "count_report_backwards_period": ("invalid", "period_end"),
    "revision_without_reason": ("invalid", "correction_reason"),
}

# Pinned: a change here means stored body hashes change, and every redelivered event
# would become an id_conflict. Only ever update together with a schema version.
PINNED_HASHES = {
    "crossing": "127711f9d4fac7689638736003e31652",
    "seizure": "12851150a1c74c376cabb237458cb948",
    "detention": "e5f5933792d9ab3fd72363d15f514929",
}


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_golden_event_parses(event_type: str) -> None:
    event = parse(_load(GOLDEN / f"{event_type}.json"))
    assert event.event_type == event_type


def test_golden_batch_parses_element_by_element() -> None:
    batch = _load(GOLDEN / "batch.json")
    assert isinstance(batch, list) and len(batch) > 1
    events = [parse(e) for e in batch]
    assert len({e.event_id for e in events}) == len(events)
    assert len({e.station_id for e in events}) == 1


@pytest.mark.parametrize("name", sorted(INVALID))
def test_golden_invalid(name: str) -> None:
    rej = rejection(_load(GOLDEN / "invalid" / f"{name}.json"))
    assert (rej.reasons[0].code, rej.reasons[0].field) == INVALID[name]


def test_every_invalid_file_has_an_expectation() -> None:
    assert {p.stem for p in (GOLDEN / "invalid").glob("*.json")} == set(INVALID)


@pytest.mark.parametrize("event_type", sorted(PINNED_HASHES))
def test_pinned_body_hashes(event_type: str) -> None:
    event = parse(_load(GOLDEN / f"{event_type}.json"))
    assert body_hash(event) == PINNED_HASHES[event_type]


def test_doc_examples_are_valid() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= len(EVENT_TYPES)
    seen = set()
    for block in blocks:
        value = json.loads(block)
        for obj in value if isinstance(value, list) else [value]:
            seen.add(parse(obj).event_type)
    assert seen == EVENT_TYPES
