"""Takes follow the sink (``BLO_BATCH_TAKE_FOLLOWS_SINK_S``), on the real broker and the real
ClickHouse server, in both ingest modes: a steady trickle of single-event records is taken
in about one take per insert of ``events`` (the rows of several takes would wait for that
insert anyway), instead of one take per fetch; and with the setting at 0, takes go at once
again. Every event is stored either way."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import TEST_STATIONS, Pipeline, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

N_EVENTS = 120
EVERY_S = 0.025  # 40 records a second: several fetches per sink interval (0.2 s)


def _trickle(p: Pipeline, first: int, n: int) -> None:
    """``n`` records, one every EVERY_S, each sent at once (no producer linger)."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    producer = KafkaProducer(bootstrap_servers=p.bootstrap, acks=1, linger_ms=0)
    try:
        for i in range(first, first + n):
            e = crossing(TEST_STATIONS[i % len(TEST_STATIONS)]["station_id"], i,
                         at=base + timedelta(seconds=i))
            producer.send(p.topic_raw, key=e["station_id"].encode(), value=json.dumps(e).encode())
            producer.flush()
            time.sleep(EVERY_S)
    finally:
        producer.close()


def _takes_and_inserts(p: Pipeline, **env: str) -> tuple[float, float, float]:
    w = p.worker(**env)
    w.wait_ready()
    _trickle(p, 0, 1)  # the raw partitions are assigned once this one is written
    wait_for(lambda: w.metric("blo_sink_rows_written_total", table="events") >= 1, 60,
             "the first row written")
    takes0 = w.metric("blo_ingest_take_records_count")
    inserts0 = w.metric("blo_sink_flushes_total", table="events")
    _trickle(p, 1, N_EVENTS)
    wait_for(lambda: w.metric("blo_records_consumed_total") >= N_EVENTS + 1, 60,
             "every record taken")
    wait_for(lambda: w.metric("blo_sink_rows_written_total", table="events") >= N_EVENTS + 1,
             60, "every row written")
    takes = w.metric("blo_ingest_take_records_count") - takes0
    inserts = w.metric("blo_sink_flushes_total", table="events") - inserts0
    records = w.metric("blo_ingest_take_records_sum")
    assert w.terminate() == 0
    return takes, inserts, records


@pytest.mark.parametrize("mode", ["inline", "separate"])
def test_a_trickle_is_taken_about_once_per_insert(pipeline, mode: str) -> None:
    p, db = pipeline
    takes, inserts, records = _takes_and_inserts(p, BLO_INGEST_PROCESS=mode)
    assert final_count(db) == N_EVENTS + 1
    assert records == N_EVENTS + 1  # the histogram counts every record once
    assert inserts >= 3  # the trickle lasted several sink intervals
    # one take per insert, give or take the first and the last
    assert takes <= inserts + 2, (takes, inserts)


def test_with_the_setting_at_zero_takes_go_at_once(pipeline) -> None:
    p, db = pipeline
    takes, inserts, _ = _takes_and_inserts(p, BLO_INGEST_PROCESS="inline",
                                           BLO_BATCH_TAKE_FOLLOWS_SINK_S="0")
    assert final_count(db) == N_EVENTS + 1
    # what a fetch brings is taken at once: more takes than inserts (the rows of several
    # takes gather behind the sink's interval)
    assert takes > inserts + 2, (takes, inserts)
