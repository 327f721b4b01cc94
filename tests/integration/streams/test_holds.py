"""A record held for a not-yet-registered station survives a worker restart: nothing after
it on its partition is committed while it waits, so it is redelivered, not skipped."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import crossing, station, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_held_record_is_not_committed_past_and_survives_a_restart(pipeline, tmp_path) -> None:
    p, db = pipeline
    ghost = crossing("UZ-GHOST", 1)
    known = [crossing("KZ-T1", i) for i in range(30)]
    prod = KafkaProducer(bootstrap_servers=p.bootstrap, acks="all")
    for e in [ghost, *known]:  # all on partition 0, the held record first
        prod.send(p.topic_raw, key=e["station_id"].encode(), value=json.dumps(e).encode(),
                  partition=0)
    prod.flush()
    prod.close()

    w = p.worker(BLO_INGEST_HOLD_UNKNOWN_STATION_S="120", BLO_KAFKA_COMMIT_INTERVAL_S="0.5")
    w.wait_ready()
    wait_for(lambda: final_count(db) >= 30, 60, "the known station's events")
    wait_for(lambda: w.metric("blo_events_held") == 1, 30, "one held event")
    time.sleep(3)  # several commit intervals pass while the record is held

    def committed() -> int:
        c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=p.raw_group_id,
                          enable_auto_commit=False)
        try:
            return c.committed(TopicPartition(p.topic_raw, 0)) or 0
        finally:
            c.close()

    assert committed() == 0  # nothing past the held record at offset 0
    assert w.terminate() == 0  # a rolling restart while the record is held
    assert committed() == 0

    f = tmp_path / "ghost.json"
    f.write_text(json.dumps([station("UZ-GHOST", "UZ", "TJ", "Asia/Tashkent")]))
    assert p.blo("stations", "load", str(f)).returncode == 0
    w2 = p.worker()
    w2.wait_ready()
    wait_for(lambda: final_count(db, "station_id = 'UZ-GHOST'") == 1, 60, "the held event")
    assert final_count(db) == 31
    assert w2.terminate() == 0
    assert committed() == 31
