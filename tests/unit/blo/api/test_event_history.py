"""``GET /api/v1/events/{event_id}/history``, its pure parts: the path and query parameters,
which stations a token reads events of, the SQL, and the answer's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blo.api.params import HistoryParams, ParamError, parse, parse_event_id
from blo.api.queries import event_history_sql
from blo.api.scope import event_stations, visibility
from blo.api.shape import event_history_body
from blo.event_history import histories
from tests.unit.blo.api.test_scope import ALL, KZ, KZ_CUSTOMS, REGISTRY

EID = "7208a34c-af5b-59a9-b06b-3f71cfc234ed"


def test_the_event_id_is_a_uuid_normalised() -> None:
    assert parse_event_id(EID.upper()) == EID
    assert parse_event_id("{" + EID + "}") == EID
    with pytest.raises(ParamError) as e:
        parse_event_id("7208a34c' OR 1=1 --")
    assert e.value.problems == ["event_id: not a UUID: \"7208a34c' OR 1=1 --\""]


def test_the_only_parameter_is_station() -> None:
    assert parse(HistoryParams, {}).station is None
    assert parse(HistoryParams, {"station": "KZ-KORDAI"}).station == "KZ-KORDAI"
    with pytest.raises(ParamError) as e:
        parse(HistoryParams, {"limit": "3"})
    assert e.value.problems[0].startswith("limit: ")
    with pytest.raises(ParamError):
        parse(HistoryParams, {"station": ""})


def test_a_token_reads_the_events_of_its_visible_stations_never_the_paired_ones() -> None:
    kz = visibility(KZ, REGISTRY)
    assert "KG-AK-JOL" in kz.paired
    assert event_stations(kz) == ("KZ-KARASU", "KZ-KORDAI")
    assert event_stations(visibility(KZ_CUSTOMS, REGISTRY)) == ("KZ-KARASU",)
    assert event_stations(visibility(ALL, REGISTRY)) == tuple(sorted(
        s.station_id for s in REGISTRY))


def test_a_station_outside_the_scope_leaves_nothing_to_read_never_a_refusal() -> None:
    kz = visibility(KZ, REGISTRY)
    assert event_stations(kz, "KZ-KORDAI") == ("KZ-KORDAI",)
    assert event_stations(kz, "KG-AK-JOL") == ("",)  # paired: aggregates only
    assert event_stations(kz, "TJ-PYANJ") == ("",)
    assert event_stations(visibility(KZ_CUSTOMS, REGISTRY), "KZ-KORDAI") == ("",)


def test_the_sql_reads_only_the_given_stations_with_bound_values() -> None:
    (q1, p1), (q2, p2) = event_history_sql("blo", EID, ("KZ-KARASU", "KZ-KORDAI"))
    for sql, params in ((q1, p1), (q2, p2)):
        assert params == {"event_id": EID, "stations": ("KZ-KARASU", "KZ-KORDAI")}
        assert "station_id IN %(stations)s" in sql and EID not in sql
    assert "blo.event_revisions" in q1 and "blo.events " in q2


def test_the_answer_is_the_history_document_with_the_scope() -> None:
    base = {"event_id": EID, "event_type": "crossing", "persons": 2}
    rows: list[list[Any]] = [
        [EID, "KZ-KORDAI", 0, 0, "", "crossing", 100, 110, 120, "h0", json.dumps(base)],
        [EID, "KZ-KORDAI", 1, 0, "miscounted", "crossing", 100, 200, 220, "h1",
         json.dumps({**base, "persons": 3})]]
    [h] = histories(rows, [])
    body = event_history_body(KZ, h)
    assert body["scope"] == "KZ" and body["event_id"] == EID
    assert (body["station_id"], body["current_revision"], body["voided"], body["source"]) == (
        "KZ-KORDAI", 1, False, "event_revisions")
    assert [r["kind"] for r in body["revisions"]] == ["original", "revision"]
    assert body["revisions"][1]["changes"] == [{"field": "persons", "old": 2, "new": 3}]
    assert body["revisions"][1]["occurred_at"] == "1970-01-01T00:01:40Z"
    json.dumps(body)  # JSON as it is
