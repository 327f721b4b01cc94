"""A station record the registry's schema refuses becomes a dead letter, not a log line
(streams/registry_reader.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas.station import StationRecord
from sinks.tables import DLQ
from streams.dead_letters import REDACTED, WITHHELD_NOTE, dlq_row
from streams.registry_reader import INVALID_STATION_RECORD, station_dead_letter
from streams.stages.decode import SourcePos

NOW = datetime(2026, 12, 6, tzinfo=UTC)
GOOD = {"station_id": "US-9001", "name": "Dallas", "country": "US", "agency": "customs",
        "crossing_point": "Dallas", "neighbour_country": "MX", "tz": "America/Chicago",
        "valid_from": "2000-01-01T00:00:00Z"}


def letter(record: dict[str, object], offset: int = 9):
    value = json.dumps(record).encode()
    try:
        StationRecord.model_validate_json(value)
    except ValidationError as e:
        return station_dead_letter(value, b"US-9001", SourcePos("blo.stations", 0, offset), e,
                                   NOW)
    raise AssertionError("the record was accepted")


def test_the_letter_names_the_station_the_position_and_every_field() -> None:
    dl = letter({**GOOD, "neighbour_country": "US", "tz": "Mars/Base"})
    assert dl.reasons == (INVALID_STATION_RECORD,)
    assert dl.station_id == "US-9001" and dl.element_index == -1
    assert any(d.startswith("tz: ") for d in dl.details)
    row = dict(zip(DLQ.column_names, dlq_row(dl, 65536), strict=True))
    assert (row["reason"], row["kafka_topic"], row["kafka_offset"]) == (
        INVALID_STATION_RECORD, "blo.stations", 9)
    assert json.loads(row["payload"])["tz"] == "Mars/Base"  # as sent: all in the schema
    # the same position, the same letter id (a re-read topic makes no second row)
    assert letter({**GOOD, "tz": "Mars/Base"}).dlq_id == dl.dlq_id
    assert letter({**GOOD, "tz": "Mars/Base"}, offset=10).dlq_id != dl.dlq_id


def test_a_field_the_schema_does_not_have_is_withheld() -> None:
    dl = letter({**GOOD, "contact": "Jane Roe"})
    assert b"Jane Roe" not in dl.payload
    assert json.loads(dl.payload)["contact"] == REDACTED
    assert WITHHELD_NOTE in dl.details
    assert not any("Jane" in d for d in dl.details)
