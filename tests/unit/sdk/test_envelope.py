from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from pydantic import BaseModel

from blo.sdk.envelope import complete_event, encode_event
from blo.sdk.errors import InvalidEvent
from schemas.identity import EVENT_NAMESPACE, derive_event_id

NOW = dt.datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=dt.UTC)


def raw(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_type": "crossing",
        "station_id": "KZ-KORDAI",
        "source_seq": 17,
        "occurred_at": "2024-05-01T08:30:00+05:00",
        "persons": 2,
    }
    return {**base, **overrides}


def test_event_id_is_derived_when_absent() -> None:
    out = complete_event(raw(), now=NOW)
    assert out["event_id"] == str(uuid.uuid5(EVENT_NAMESPACE, "KZ-KORDAI:17"))
    assert out["event_id"] == str(derive_event_id("KZ-KORDAI", 17))
    assert complete_event(raw(event_id=None), now=NOW)["event_id"] == out["event_id"]
    # deterministic: a resend gets the same id
    assert complete_event(raw())["event_id"] == out["event_id"]


def test_a_given_event_id_is_kept() -> None:
    given = "0d6f1d44-8a5e-4f0c-9a43-5a1b8f0d0c11"
    assert complete_event(raw(event_id=given))["event_id"] == given
    as_uuid = uuid.UUID(given)
    encoded = encode_event(raw(event_id=as_uuid))
    assert encoded.event_id == given and orjson.loads(encoded.payload)["event_id"] == given
    # no source_seq needed when the id is given
    assert complete_event({"station_id": "X", "event_id": given})["event_id"] == given


def test_schema_version_and_reported_at_filled_only_when_absent() -> None:
    out = complete_event(raw(), now=NOW)
    assert out["schema_version"] == 1
    assert out["reported_at"] == "2025-03-04T05:06:07.890+00:00"
    kept = complete_event(raw(schema_version=2, reported_at="2024-05-01T08:30:05+05:00"))
    assert kept["schema_version"] == 2 and kept["reported_at"] == "2024-05-01T08:30:05+05:00"
    parsed = dt.datetime.fromisoformat(str(complete_event(raw())["reported_at"]))
    assert parsed.utcoffset() == dt.timedelta(0)


def test_the_input_is_not_modified() -> None:
    event = raw()
    complete_event(event)
    assert "event_id" not in event and "reported_at" not in event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"source_seq": 1}, "no station_id"),
        ({"station_id": "", "source_seq": 1}, "no station_id"),
        ({"station_id": 7, "source_seq": 1}, "no station_id"),
        ({"station_id": "A"}, "source_seq=None"),
        ({"station_id": "A", "source_seq": -1}, "source_seq=-1"),
        ({"station_id": "A", "source_seq": "3"}, "source_seq='3'"),
        ({"station_id": "A", "source_seq": True}, "source_seq=True"),
    ],
)
def test_what_the_sdk_cannot_key_or_identify_is_refused(
    event: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidEvent, match=message):
        encode_event(event)


def test_datetimes_are_written_rfc3339_and_naive_ones_refused() -> None:
    aware = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    payload = orjson.loads(encode_event(raw(occurred_at=aware)).payload)
    assert payload["occurred_at"] == "2024-05-01T08:30:00+05:00"
    with pytest.raises(InvalidEvent, match="naive datetime"):
        encode_event(raw(occurred_at=dt.datetime(2024, 5, 1, 8, 30)))
    with pytest.raises(InvalidEvent, match="not JSON serialisable"):
        encode_event(raw(extra=object()))


class Crossing(BaseModel):
    event_type: str = "crossing"
    station_id: str
    source_seq: int
    occurred_at: dt.datetime
    event_id: uuid.UUID | None = None


def test_pydantic_models_are_accepted() -> None:
    model = Crossing(
        station_id="KG-TORUGART", source_seq=3,
        occurred_at=dt.datetime(2024, 5, 1, 3, 30, tzinfo=dt.UTC),
    )
    encoded = encode_event(model, now=NOW)
    body = orjson.loads(encoded.payload)
    assert encoded.station_id == "KG-TORUGART"
    assert body["event_id"] == str(derive_event_id("KG-TORUGART", 3)) == encoded.event_id
    assert body["occurred_at"].startswith("2024-05-01T03:30:00")
    assert body["schema_version"] == 1
