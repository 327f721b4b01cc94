"""The raw topic's own consumer group on the real broker (streams.raw_consumer): an upgrade
starts where the worker's former group (Faust's, BLO_KAFKA_GROUP_ID) left the raw topic,
and the offsets carried over are the new group's from then on."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from tests.integration.streams.conftest import final_count
from tests.integration.streams.harness import TEST_STATIONS, Pipeline, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _committed(p: Pipeline, group: str) -> dict[int, int | None]:
    c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {i: c.committed(TopicPartition(p.topic_raw, i)) for i in range(p.partitions)}
    finally:
        c.close()


def _commit(p: Pipeline, group: str, offsets: dict[int, int]) -> None:
    """Commit as a worker of the former version left them (no group member running)."""
    c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        c.commit({TopicPartition(p.topic_raw, i): OffsetAndMetadata(off, None)
                  for i, off in offsets.items()})
    finally:
        c.close()


def test_an_upgrade_starts_where_the_former_group_left_the_raw_topic(pipeline) -> None:
    p, db = pipeline
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = [crossing(TEST_STATIONS[i % len(TEST_STATIONS)]["station_id"], i,
                       at=base + timedelta(seconds=i)) for i in range(400)]
    positions = p.produce_positions(
        (e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    per_partition = Counter(part for part, _ in positions)
    # the former version had read the first half of every partition
    former = {part: n // 2 for part, n in per_partition.items()}
    _commit(p, p.group_id, former)
    assert _committed(p, p.raw_group_id) == dict.fromkeys(range(p.partitions))

    w = p.worker()
    w.wait_ready()
    expected = {e["event_id"] for e, (part, off) in zip(events, positions, strict=True)
                if off >= former[part]}
    wait_for(lambda: final_count(db) >= len(expected), 120, "the unread half")
    stored = {str(r[0]) for r in db.query(f"SELECT event_id FROM {db.database}.events FINAL")}
    assert stored == expected  # nothing read again, nothing skipped
    # carried over at once, then moved on by the new group's own commits
    wait_for(lambda: _committed(p, p.raw_group_id) == {
        part: per_partition[part] for part in range(p.partitions) if part in per_partition}
        | {part: former.get(part) for part in range(p.partitions) if part not in per_partition},
        30, "the raw group's commits at the end of every partition")
    assert w.terminate() == 0
    # the former group is left as it was: only read, once
    assert _committed(p, p.group_id) == {
        part: former.get(part) for part in range(p.partitions)}


def test_the_raw_group_commits_its_own_offsets_and_restarts_from_them(pipeline) -> None:
    p, db = pipeline
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    first = [crossing(TEST_STATIONS[i % len(TEST_STATIONS)]["station_id"], i,
                      at=base + timedelta(seconds=i)) for i in range(300)]
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in first)
    w = p.worker(BLO_KAFKA_COMMIT_INTERVAL_S="0.5")
    w.wait_ready()
    wait_for(lambda: final_count(db) >= len(first), 120, "the first events")
    wait_for(lambda: sum(v or 0 for v in _committed(p, p.raw_group_id).values()) == len(first),
             30, "every record committed on its interval, before any shutdown")
    assert w.terminate() == 0
    # a second worker starts from the raw group's commits: one event per record, nothing
    # read twice (the physical rows, before any merge, are one per event)
    second = [crossing(TEST_STATIONS[i % len(TEST_STATIONS)]["station_id"], 1000 + i,
                       at=base + timedelta(seconds=1000 + i)) for i in range(100)]
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in second)
    w2 = p.worker()
    w2.wait_ready()
    wait_for(lambda: final_count(db) >= len(first) + len(second), 120, "the second events")
    consumed = w2.metrics().get("blo_records_consumed_total", 0)
    assert consumed == len(second)
    assert w2.terminate() == 0
    assert sum(v or 0 for v in _committed(p, p.raw_group_id).values()) == len(first) + len(
        second)


@pytest.mark.parametrize("off", ["BLO_ALERTS_ENABLED", "BLO_WINDOWS_ENABLED"])
def test_a_worker_with_alerting_off_reads_writes_and_commits(pipeline, off: str) -> None:
    """With alerting off Faust's group has no topic at all (the raw topic is the raw
    consumer's): the worker must still start its tasks, timers and pages, and commit."""
    p, db = pipeline
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = [crossing(TEST_STATIONS[i % len(TEST_STATIONS)]["station_id"], i,
                       at=base + timedelta(seconds=i)) for i in range(200)]
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    w = p.worker(**{off: "false"})
    w.wait_ready()
    wait_for(lambda: final_count(db) >= len(events), 60, "the events")
    assert w.metrics().get("blo_records_consumed_total", 0) == len(events)
    assert w.terminate() == 0
    assert p.committed_total() == len(events)
