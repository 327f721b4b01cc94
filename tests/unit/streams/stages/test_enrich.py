"""Stage 3, enrich: the registry entry of an event, and the liaison rule, for border and
interior posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.parse import parse_event
from schemas.station import Registry, StationRecord
from streams.stages.enrich import enrich
from streams.stages.validate import Rejected
from tests.unit.schemas.factories import make_event

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def station(station_id: str, country: str, neighbour: str | None) -> StationRecord:
    return StationRecord.model_validate({
        "station_id": station_id, "name": station_id, "country": country, "agency": "customs",
        "crossing_point": station_id, "neighbour_country": neighbour, "tz": "UTC",
        "valid_from": "2018-01-01T00:00:00Z"})


REGISTRY = Registry([
    station("KZ-ALMATY-AIRPORT", "KZ", None),  # interior
    station("KZ-ASTANA-RAIL", "KZ", None),  # interior
    station("KZ-KORDAI", "KZ", "KG"),
    station("KG-MANAS-AIRPORT", "KG", None),  # interior, a neighbouring country
    station("TJ-PYANJ", "TJ", "AF"),  # KZ and TJ share no border
])


def run(station_id: str, **overrides: Any) -> StationRecord | Rejected:
    kind = "liaison_message" if "to_blo" in overrides else "crossing"
    if kind == "liaison_message":
        overrides["from_blo"] = station_id
    obj = make_event(kind, station_id=station_id, **overrides)
    ev = parse_event(obj, now=NOW, max_future_skew=timedelta(minutes=5))
    return enrich(0, obj, ev, REGISTRY, timedelta(seconds=30))


def test_an_interior_posts_event_is_enriched_with_an_empty_border() -> None:
    st = run("KZ-ALMATY-AIRPORT")
    assert isinstance(st, StationRecord)
    assert (st.country, st.border, st.neighbour_country, st.interior) == ("KZ", "", None, True)


@pytest.mark.parametrize(("sender", "to_blo", "ok"), [
    ("KZ-ALMATY-AIRPORT", "KZ-ASTANA-RAIL", True),  # interior to interior, same country
    ("KZ-ALMATY-AIRPORT", "KZ-KORDAI", True),  # interior to a border post, same country
    ("KZ-KORDAI", "KZ-ALMATY-AIRPORT", True),
    ("KZ-ALMATY-AIRPORT", "KG-MANAS-AIRPORT", True),  # neighbouring countries
    ("KZ-ALMATY-AIRPORT", "TJ-PYANJ", False),  # no land border between KZ and TJ
    ("TJ-PYANJ", "KZ-ALMATY-AIRPORT", False),
])
def test_interior_posts_follow_the_country_rule_of_liaison(sender: str, to_blo: str,
                                                           ok: bool) -> None:
    got = run(sender, to_blo=to_blo)
    if ok:
        assert isinstance(got, StationRecord) and got.station_id == sender
    else:
        assert isinstance(got, Rejected) and got.reasons == ("rule_violation",)
        assert "same or neighbouring countries" in got.details[0]
