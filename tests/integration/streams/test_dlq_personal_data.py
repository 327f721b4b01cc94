"""Dead letters keep no personal data: a real worker on the session's broker and ClickHouse
18.16 server refuses events carrying a person's name (a single event, elements of a batched
record, a nested field, a schema version it does not know) and the name is then nowhere in
ClickHouse (every row of every table of the test's database) nor on the dead-letter topic,
while the reasons and field names are."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAME = "Ivan Petrovich Sidorov"
SURNAME = "Sidorov"


def _detention(seq: int, **extra: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    e = {"event_id": str(uuid.uuid4()), "schema_version": 1, "event_type": "detention",
         "station_id": "KZ-T1", "occurred_at": at.isoformat(), "reported_at": at.isoformat(),
         "source_seq": seq, "persons": 2,
         "nationalities": [{"country": "KZ", "count": 1}, {"country": "KG", "count": 1}],
         "offence": "drug_trafficking"}
    e.update(extra)
    return e


def test_a_name_in_a_refused_event_is_nowhere_in_clickhouse_nor_on_the_dlq_topic(
        pipeline: Any) -> None:
    p, db = pipeline
    d = db.database
    good = [crossing("KZ-T1", 1), crossing("KZ-T1", 2), _detention(3)]
    nested = _detention(5, nationalities=[{"country": "KZ", "count": 1, "name": NAME},
                                          {"country": "KG", "count": 1}])
    records = [
        (b"KZ-T1", json.dumps(_detention(4, detainee_name=NAME)).encode()),  # one event
        (b"KZ-T1", json.dumps([good[0], nested, good[1],  # a batch: two named elements
                               _detention(6, detainees=[{"name": NAME, "age": 31}])]).encode()),
        (b"KZ-T1", json.dumps(_detention(7, schema_version=2, names=[NAME])).encode()),
        (b"KZ-T1", json.dumps(good[2]).encode()),
    ]
    w = p.worker()
    w.wait_ready()
    p.produce(records)

    def dlq_rows() -> int:
        return int(db.query(f"SELECT count() FROM {d}.dlq")[0][0])

    wait_for(lambda: dlq_rows() >= 4 and final_count(db) >= len(good), 120,
             "four dead letters and the valid events")
    time.sleep(1.0)  # anything more (a second copy) would show now

    # -- reasons and field names are kept; the values are not ----------------------------
    rows = db.query(f"SELECT reason, element_index, details, payload, payload_size, "
                    f"payload_sha256 FROM {d}.dlq ORDER BY kafka_offset, element_index")
    assert [(r[0], r[1]) for r in rows] == [("invalid", 0), ("invalid", 1), ("invalid", 3),
                                            ("unknown_schema_version", 0)]
    assert "detainee_name: unknown field" in rows[0][2]
    assert "nationalities.0.name: unknown field" in rows[1][2]
    assert "detainees: unknown field" in rows[2][2]
    for r in rows[:3]:
        assert "send it again" in r[2]
    stored = [json.loads(r[3]) for r in rows]
    assert stored[0]["detainee_name"].startswith("[redacted")
    assert stored[1]["nationalities"][0]["name"].startswith("[redacted")
    assert stored[2]["detainees"].startswith("[redacted")
    assert stored[3]["names"].startswith("[redacted") and stored[3]["schema_version"] == 2
    for r in rows:
        assert r[4] == len(r[3].encode())  # size of what is stored, not of what was sent
    assert final_count(db) == len(good)

    # -- the name is nowhere in ClickHouse: every row of every table ----------------------
    tables = [t for (t,) in db.query(f"SELECT name FROM system.tables WHERE database = '{d}'")]
    assert "dlq" in tables and "events" in tables
    for table in tables:
        text = repr(db.query(f"SELECT * FROM {d}.{table}"))
        assert SURNAME not in text, table

    # -- nor on the dead-letter topic ------------------------------------------------------
    on_topic = p.read_dlq_topic(4)
    assert len(on_topic) == 4
    assert SURNAME not in json.dumps(on_topic, ensure_ascii=False)
    assert sorted(m["payload_sha256"] for m in on_topic) == sorted(r[5] for r in rows)
    # a replay cannot bring them back (their values are gone): it says why, and sends none
    out = p.blo("dlq", "replay", "--all")
    assert out.returncode == 0, out.stderr
    assert "re-published 0 dead letter(s)" in out.stdout
    assert "not replayable: 4 (personal data redacted: the station must send it again" \
        in out.stdout
    assert w.alive()
