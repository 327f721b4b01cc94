"""The history of an event (blo.event_history): revisions from stored rows, what each
changed, the JSON document and the CLI's table, and the queries' shape."""

from __future__ import annotations

import json
import re
from typing import Any

from blo.event_history import (
    Change,
    changes,
    histories,
    history_queries,
    rfc3339,
    table_lines,
)
from sinks.sql import render

EID = "7208a34c-af5b-59a9-b06b-3f71cfc234ed"
T = 1707909600  # 2024-02-14T11:20:00Z


def payload(**fields: Any) -> str:
    base = {"event_id": EID, "schema_version": 1, "event_type": "seizure",
            "station_id": "KZ-KONYSBAEV", "occurred_at": "2024-02-14T11:20:00Z",
            "reported_at": "2024-02-14T11:25:00Z", "source_seq": 40877, "drug": "heroin",
            "quantity": 700.0, "unit": "kg", "concealment": "mixed_in_cargo",
            "detection_method": "xray"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}, sort_keys=True)


def row(revision: int, *, voided: int = 0, reason: str = "", event_type: str = "seizure",
        station: str = "KZ-KONYSBAEV", occurred: int = T, ingested: int = T + 600,
        body: str | None = None, **fields: Any) -> list[Any]:
    """A row as history_queries selects it."""
    return [EID, station, revision, voided, reason, event_type, occurred, occurred + 300,
            ingested, f"hash{revision}", body if body is not None else payload(**fields)]


def test_changes_name_each_differing_field_old_and_new() -> None:
    old = {"quantity": 700.0, "unit": "kg", "purity_pct": 40.0, "drug": "heroin",
           "reported_at": "a", "revision": 1, "correction_reason": "x"}
    new = {"quantity": 770.5, "unit": "kg", "drug": "opium", "conveyance": "truck",
           "reported_at": "b", "revision": 2, "correction_reason": "y"}
    assert changes(old, new) == (Change("conveyance", None, "truck"),
                                 Change("drug", "heroin", "opium"),
                                 Change("purity_pct", 40.0, None),
                                 Change("quantity", 700.0, 770.5))
    assert changes(old, old) == ()


def test_nested_objects_are_compared_field_by_field_lists_whole() -> None:
    old = {"sex": {"male": 2, "female": 1}, "nationalities": [{"country": "AF", "count": 3}]}
    new = {"sex": {"male": 3, "female": 0}, "nationalities": [{"country": "AF", "count": 3}]}
    assert changes(old, new) == (Change("sex.female", 1, 0), Change("sex.male", 2, 3))
    new2 = {**old, "nationalities": [{"country": "TJ", "count": 3}]}
    assert changes(old, new2) == (Change("nationalities", [{"country": "AF", "count": 3}],
                                         [{"country": "TJ", "count": 3}]),)


def test_a_corrected_then_voided_event() -> None:
    rows = [row(0), row(1, reason="laboratory weight", quantity=770.5, ingested=T + 7200),
            row(2, voided=1, reason="entered twice", event_type="void", ingested=T + 9000,
                body=json.dumps({"event_id": EID, "event_type": "void", "revision": 2}))]
    [h] = histories(rows, [])
    assert (h.event_id, h.station_id, h.source) == (EID, "KZ-KONYSBAEV", "event_revisions")
    assert [(r.revision, r.kind, r.reason) for r in h.revisions] == [
        (0, "original", ""), (1, "revision", "laboratory weight"), (2, "void", "entered twice")]
    assert h.revisions[0].changes == ()
    assert h.revisions[1].changes == (Change("quantity", 700.0, 770.5),)
    assert h.revisions[2].changes == ()  # a void has no fields to compare
    assert h.voided and h.current.revision == 2
    doc = h.document()
    assert (doc["current_revision"], doc["voided"]) == (2, True)
    assert doc["revisions"][1] == {
        "revision": 1, "kind": "revision", "reason": "laboratory weight",
        "event_type": "seizure", "occurred_at": "2024-02-14T11:20:00Z",
        "reported_at": "2024-02-14T11:25:00Z", "ingested_at": "2024-02-14T13:20:00Z",
        "body_hash": "hash1",
        "changes": [{"field": "quantity", "old": 700.0, "new": 770.5}],
        "event": json.loads(payload(quantity=770.5))}


def test_a_revision_after_a_void_is_compared_with_the_last_revision_before_it() -> None:
    rows = [row(0), row(1, voided=1, event_type="void", reason="oops", body="{}"),
            row(2, reason="not a mistake after all", quantity=650.0)]
    [h] = histories(rows, [])
    assert h.revisions[2].changes == (Change("quantity", 700.0, 650.0),)
    assert not h.voided and h.current.kind == "revision"


def test_an_event_never_corrected_is_its_live_row() -> None:
    [h] = histories([], [row(0)])
    assert h.source == "events" and len(h.revisions) == 1
    assert h.revisions[0].kind == "original" and not h.voided
    assert "1 revision stored, current: revision 0" in h.summary()


def test_revisions_win_over_the_live_row_and_rows_are_sorted_by_number() -> None:
    rows = [row(2, reason="b", quantity=3.0), row(0), row(1, reason="a", quantity=2.0)]
    [h] = histories(rows, [row(2, reason="b", quantity=3.0)])
    assert h.source == "event_revisions" and [r.revision for r in h.revisions] == [0, 1, 2]
    assert [c.new for r in h.revisions for c in r.changes] == [2.0, 3.0]


def test_copies_of_one_revision_count_once_the_latest_wins() -> None:
    [h] = histories([row(0), row(0, ingested=T + 999, quantity=1.0)], [])
    assert len(h.revisions) == 1 and h.revisions[0].ingested_at == T + 999


def test_no_rows_no_history_and_two_stations_two_histories() -> None:
    assert histories([], []) == []
    hs = histories([row(0, station="B"), row(1, station="B", reason="r")], [row(0, station="A")])
    assert [(h.station_id, h.source, len(h.revisions)) for h in hs] == [
        ("A", "events", 1), ("B", "event_revisions", 2)]


def test_an_unreadable_payload_is_an_empty_event() -> None:
    [h] = histories([row(0, body="not json"), row(1, reason="r")], [])
    assert h.revisions[0].event == {}
    assert Change("quantity", None, 700.0) in h.revisions[1].changes


def test_the_table_shows_every_revision_and_its_changes() -> None:
    rows = [row(0), row(1, reason="laboratory\nweight", quantity=770.5, purity_pct=None),
            row(2, voided=1, event_type="void", reason="entered twice", body="{}")]
    lines = table_lines(histories(rows, [])[0])
    assert lines[0] == (f"event {EID} of station KZ-KONYSBAEV: 3 revisions stored, voided "
                        "at revision 2")
    assert lines[1].split() == ["revision", "kind", "occurred_at", "(UTC)", "reported_at",
                                "(UTC)", "ingested_at", "(UTC)", "body_hash", "reason"]
    assert set(lines[2]) <= {"-", " "}
    assert lines[3].split()[:2] == ["0", "original"]
    assert lines[4].split()[:2] == ["1", "revision"] and lines[4].endswith("laboratory weight")
    assert "2024-02-14 11:20:00" in lines[4] and "2024-02-14 11:25:00" in lines[4]
    assert lines[5] == "    quantity: 700.0 → 770.5"
    assert lines[6].split()[:2] == ["2", "void"] and lines[6].endswith("entered twice")
    assert len(lines) == 7


def test_absent_values_read_as_absent_in_the_table() -> None:
    assert Change("purity_pct", 40.0, None).text() == "purity_pct: 40.0 → (absent)"
    assert Change("transit_countries", None, ["UZ", "KZ"]).text() == \
        'transit_countries: (absent) → ["UZ","KZ"]'
    assert rfc3339(0) is None


def _inner_where(sql: str) -> list[str]:
    return re.findall(r"WHERE (.*?) GROUP BY", sql)


def test_the_queries_filter_only_the_key_before_collapsing() -> None:
    rev, live = history_queries("blo", EID, ("KZ-KONYSBAEV",))
    for q in (rev, live):
        assert q.params == {"event_id": EID, "stations": ("KZ-KONYSBAEV",)}
        [inner] = _inner_where(q.sql)
        assert inner == "event_id = toUUID(%(event_id)s) AND station_id IN %(stations)s"
    assert "FROM blo.event_revisions" in rev.sql and "FROM blo.events" in live.sql
    # the live row: the readers' view leaves a voided key out (latest() with is_deleted)
    assert "tupleElement(_latest" in live.sql and "= 0" in live.sql
    unscoped, _ = history_queries("blo", EID)
    assert unscoped.params == {"event_id": EID}
    assert f"toUUID('{EID}')" in render(*unscoped)


def test_the_command_refuses_an_id_that_is_not_a_uuid_before_reading_anything() -> None:
    from click.testing import CliRunner

    from blo.cli import main

    res = CliRunner().invoke(main, ["events", "history", "40877"])
    assert res.exit_code == 2 and "'40877' is not an event id (a UUID)" in res.output
