"""The record of an import run (blo/importer/runs.py): pieces small enough for the admin
door, every rejected row kept, the run written last; rows in the tables' column order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from blo.door import MAX_BODY_BYTES
from blo.importer.runs import (
    MESSAGE_LIMIT,
    ImportRun,
    RejectedRow,
    insert_record,
    new_run_id,
    record_bodies,
)
from sinks.memory import MemoryDatabase
from sinks.tables import IMPORT_REJECTIONS, IMPORT_RUNS

T0 = datetime(2026, 12, 6, 20, 0, 0, 123456, tzinfo=UTC)


def make_run(**kw: object) -> ImportRun:
    return ImportRun.model_validate({
        "run_id": new_run_id(), "started_at": T0, "finished_at": T0 + timedelta(seconds=5),
        "file_name": "/data/ports.csv", "file_sha256": "a" * 64, "file_bytes": 1234,
        "mapping": "bts_border_crossing (bundled)", "mapping_sha256": "b" * 64,
        "mapping_text": "version: 1\n", "dry_run": False, "outcome": "published",
        "rows_read": 10, "events_published": 8, "rows_rejected": 2, "stations_registered": 1,
        **kw})


def test_a_large_record_goes_in_pieces_under_the_door_limit_with_the_run_last() -> None:
    run = make_run()
    rejected = [RejectedRow(line_no=n, reason="bad_number", message="é\"\\" * 400)
                for n in range(2, 9002)]
    bodies = list(record_bodies(run, rejected))
    assert len(bodies) > 1
    for b in bodies:
        assert len(json.dumps(b.model_dump(mode="json")).encode()) < MAX_BODY_BYTES
    assert [b.run is not None for b in bodies] == [False] * (len(bodies) - 1) + [True]
    lines = [r.line_no for b in bodies for r in b.rejections]
    assert lines == list(range(2, 9002))
    assert all(len(r.message) == MESSAGE_LIMIT for b in bodies for r in b.rejections)


def test_insert_record_writes_rows_in_the_tables_column_order() -> None:
    db = MemoryDatabase()
    run = make_run(outcome="refused", dry_run=False)
    rejected = [RejectedRow(line_no=5, reason="invalid_station_record", message="x")]
    for body in record_bodies(run, rejected):
        insert_record(db, body.model_dump(mode="json"))  # as it crosses the door
    [row] = db.rows(IMPORT_RUNS.name)
    got = dict(zip(IMPORT_RUNS.column_names, row, strict=True))
    assert got["run_id"] == run.run_id and got["outcome"] == "refused"
    assert got["started_at"] == T0.replace(microsecond=0)  # DateTime: whole seconds, UTC
    assert (got["rows_read"], got["events_published"], got["rows_rejected"],
            got["stations_registered"], got["dry_run"]) == (10, 8, 2, 1, 0)
    [rej] = db.rows(IMPORT_REJECTIONS.name)
    assert dict(zip(IMPORT_REJECTIONS.column_names, rej, strict=True))["reason"] == \
        "invalid_station_record"


@pytest.mark.parametrize("doc", [
    {"run_id": "nothex"},
    {"run_id": "0123456789abcdef", "rejections": [{"line_no": -1, "reason": "x",
                                                    "message": ""}]},
    {"run_id": "0123456789abcdef", "extra": 1},
])
def test_a_malformed_body_is_refused_and_writes_nothing(doc: dict[str, object]) -> None:
    db = MemoryDatabase()
    with pytest.raises(ValidationError):
        insert_record(db, doc)
    assert db.inserts == []


def test_a_run_under_another_id_is_refused() -> None:
    db = MemoryDatabase()
    run = make_run()
    with pytest.raises(ValueError, match="differs"):
        insert_record(db, {"run_id": "0123456789abcdef", "run": run.model_dump(mode="json")})
    assert db.inserts == []


def test_the_admin_door_stores_a_piece_with_the_key_and_refuses_a_malformed_one() -> None:
    import asyncio

    from blo.door import Door

    db = MemoryDatabase()
    audited: list[object] = []

    async def audit(rows: object) -> None:
        audited.append(rows)

    door = Door(db, "k" * 43, audit, lambda _db, _doc: None, insert_record)
    run = make_run()
    [body] = record_bodies(run, [RejectedRow(line_no=3, reason="bad_number", message="x")])
    raw = json.dumps(body.model_dump(mode="json")).encode()

    async def post(key: str, data: bytes) -> tuple[int, object]:
        return await door.handle("imports", key, data, "127.0.0.1")

    assert asyncio.run(post("wrong", raw))[0] == 401
    assert db.inserts == []
    status, answer = asyncio.run(post("k" * 43, raw))
    assert status == 200 and answer == {"run_id": run.run_id, "rejections": 1, "run": True}
    assert len(db.rows(IMPORT_RUNS.name)) == 1 and len(db.rows(IMPORT_REJECTIONS.name)) == 1
    status, _ = asyncio.run(post("k" * 43, b'{"run_id": "x"}'))
    assert status == 400
    assert len(db.inserts) == 2 and len(audited) == 3
