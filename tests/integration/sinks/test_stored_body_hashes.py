"""``Database.stored_body_hashes`` (the id-conflict lookup) on both engines: present, absent
and mixed ids, the station filter, no ids, more ids than literals in the SQL text ever
allowed, unmerged duplicates, lookups that follow each other or run at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from sinks.base import Database, Row, SinkWriteError
from sinks.chdb import ChdbDatabase
from sinks.read_model.events import IDS_TABLE
from sinks.tables import EVENTS
from tests.integration.sinks.factories import T0, event_row

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

STATION = "TJ-PYANJ"


@pytest.fixture
def db(engine_db: Database) -> Database:
    return engine_db


def stored(i: int, station: str = STATION, **overrides: object) -> Row:
    """An events row whose body hash tells which row it is."""
    return event_row(i, station_id=station, body_hash=f"hash-{i}", **overrides)


def eid(row: Row) -> uuid.UUID:
    value = row[EVENTS.index("event_id")]
    assert isinstance(value, uuid.UUID)
    return value


def insert(db: Database, rows: list[Row]) -> None:
    db.insert("events", EVENTS.column_names, rows)


def test_present_absent_and_mixed_ids(db: Database) -> None:
    rows = [stored(i) for i in range(10)]
    insert(db, rows)
    absent = [uuid.uuid4() for _ in range(5)]

    assert db.stored_body_hashes([STATION], absent) == {}
    got = db.stored_body_hashes([STATION], [eid(r) for r in rows])
    assert got == {eid(r): f"hash-{i}" for i, r in enumerate(rows)}
    assert all(type(k) is uuid.UUID for k in got)
    mixed = [eid(rows[3]), absent[0], eid(rows[7]), absent[1]]
    assert db.stored_body_hashes([STATION], mixed) == {eid(rows[3]): "hash-3",
                                                        eid(rows[7]): "hash-7"}


def test_only_the_given_stations_ids_are_returned(db: Database) -> None:
    ours, theirs, awkward = stored(1), stored(2, "KZ-OTHER"), stored(3, "KG-it's\\odd")
    insert(db, [ours, theirs, awkward])
    ids = [eid(ours), eid(theirs), eid(awkward)]
    assert db.stored_body_hashes([STATION], ids) == {eid(ours): "hash-1"}
    assert db.stored_body_hashes(["KZ-OTHER", "KG-it's\\odd"], ids) == {
        eid(theirs): "hash-2", eid(awkward): "hash-3"}
    assert db.stored_body_hashes(["KZ-NOWHERE"], ids) == {}


def test_no_ids_or_no_stations_send_no_query(db: Database) -> None:
    insert(db, [stored(1)])
    assert db.stored_body_hashes([STATION], []) == {}
    assert db.stored_body_hashes([], [eid(stored(1))]) == {}
    db.close()  # a closed database refuses every query: these must not make one
    assert db.stored_body_hashes([STATION], []) == {}
    assert db.stored_body_hashes([], [eid(stored(1))]) == {}


def test_twenty_thousand_ids_in_one_call(db: Database) -> None:
    # 6,000 toUUID('…') literals were already over max_query_size (262,144 bytes).
    rows = [stored(i) for i in range(7000)]
    for start in range(0, len(rows), 2000):
        insert(db, rows[start:start + 2000])
    ids = [eid(r) for r in rows] + [uuid.uuid4() for _ in range(13_000)]
    got = db.stored_body_hashes([STATION], ids)
    assert len(got) == 7000
    assert got == {eid(r): f"hash-{i}" for i, r in enumerate(rows)}


def test_unmerged_duplicates_give_one_hash_per_id(db: Database) -> None:
    d = db.database
    db.command(f"SYSTEM STOP MERGES {d}.events")
    try:
        insert(db, [stored(1, ingested_at=T0), stored(2)])
        insert(db, [stored(1, ingested_at=T0 + timedelta(minutes=5))])  # a redelivery
        insert(db, [stored(1, ingested_at=T0 + timedelta(minutes=9))])
        assert db.query(f"SELECT count() FROM {d}.events") == [(4,)]
        got = db.stored_body_hashes([STATION], [eid(stored(1)), eid(stored(2))])
        assert got == {eid(stored(1)): "hash-1", eid(stored(2)): "hash-2"}
    finally:
        db.command(f"SYSTEM START MERGES {d}.events")


def test_a_lookup_sees_only_its_own_ids(db: Database) -> None:
    first, second = [stored(i) for i in range(50)], [stored(i) for i in range(50, 60)]
    insert(db, first + second)
    assert len(db.stored_body_hashes([STATION], [eid(r) for r in first])) == 50
    got = db.stored_body_hashes([STATION], [eid(r) for r in second])
    assert set(got) == {eid(r) for r in second}  # nothing left over from the first call
    assert db.query("SELECT 1") == [(1,)]  # the engine is still usable as before


def test_concurrent_lookups_from_threads(db: Database) -> None:
    rows = [stored(i) for i in range(800)]
    insert(db, rows)
    answers: dict[int, dict[uuid.UUID, str]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        mine = rows[t * 100:(t + 1) * 100]
        try:
            for _ in range(5):
                ids = [eid(r) for r in mine] + [uuid.uuid4() for _ in range(100)]
                answers[t] = db.stored_body_hashes([STATION], ids)
                assert answers[t] == {eid(r): str(r[EVENTS.index("body_hash")]) for r in mine}
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(answers) == list(range(8))


def test_chdb_handles_of_one_directory_look_up_in_their_own_database(
    make_chdb_db: Callable[..., ChdbDatabase],
) -> None:
    a, b = make_chdb_db(), make_chdb_db()  # one session, one temporary ids table
    insert(a, [stored(1)])
    insert(b, [stored(2)])
    ids = [eid(stored(1)), eid(stored(2))]
    assert a.stored_body_hashes([STATION], ids) == {eid(stored(1)): "hash-1"}
    assert b.stored_body_hashes([STATION], ids) == {eid(stored(2)): "hash-2"}
    assert a.query(f"SELECT count() FROM {IDS_TABLE}") == [(0,)]  # emptied after use


@pytest.mark.parametrize("engine", ["server", "chdb"])
def test_no_events_table_is_a_write_error_and_the_engine_stays_usable(
    request: pytest.FixtureRequest, engine: str
) -> None:
    make = request.getfixturevalue("make_clickhouse_db" if engine == "server" else "make_chdb_db")
    bare: Database = make(migrated=False)  # its database does not exist
    with pytest.raises(SinkWriteError, match="lookup of 1 event ids"):
        bare.stored_body_hashes([STATION], [uuid.uuid4()])
    db: Database = make()
    insert(db, [stored(1)])
    assert db.stored_body_hashes([STATION], [eid(stored(1))]) == {eid(stored(1)): "hash-1"}
