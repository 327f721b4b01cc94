"""The worker on the real broker and the real ClickHouse 18.16 server: every event exactly
once in the readers' view, through redelivery, SIGTERM and SIGKILL."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.streams.conftest import final_count, raw_count
from tests.integration.streams.harness import TEST_STATIONS, crossing, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _events(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    out = []
    for i in range(n):
        st = rng.choice(TEST_STATIONS)["station_id"]
        out.append(crossing(st, i, at=base + timedelta(seconds=i % 3000),
                            persons=rng.randint(1, 5)))
    return out


def test_events_published_with_blo_publish_appear_exactly_once(pipeline) -> None:
    p, db = pipeline
    events = _events(3000)
    w = p.worker()
    w.wait_ready()
    res = p.blo("publish", "-", input="\n".join(json.dumps(e) for e in events) + "\n")
    assert res.returncode == 0, res.stderr
    wait_for(lambda: final_count(db) >= len(events), 120, "all events in ClickHouse")
    rows = db.query(f"SELECT toString(event_id), station_id, country, border, persons "
                    f"FROM {db.database}.events FINAL")
    assert sorted(r[0] for r in rows) == sorted(e["event_id"] for e in events)
    # enrichment from the registry, checked against the test's own station table
    countries = {s["station_id"]: s["country"] for s in TEST_STATIONS}
    by_id = {e["event_id"]: e for e in events}
    for eid, sid, country, border, persons in rows:
        assert country == countries[sid]
        assert persons == by_id[eid]["persons"]
        assert country in border.split("-")
    persons_oracle = Counter()
    for e in events:
        persons_oracle[e["station_id"]] += e["persons"]
    got = dict(db.query(f"SELECT station_id, sum(persons) FROM {db.database}.events FINAL "
                        "GROUP BY station_id"))
    assert got == dict(persons_oracle)
    assert w.terminate() == 0  # SIGTERM: flush, commit, exit 0


def test_sigterm_commits_everything_it_wrote(pipeline) -> None:
    p, db = pipeline
    events = _events(2000, seed=2)
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    # no periodic commit can happen first: only the shutdown commits
    w = p.worker(BLO_KAFKA_COMMIT_INTERVAL_S="600")
    w.wait_ready()
    wait_for(lambda: final_count(db) >= len(events), 120, "all events written")
    assert p.committed_total() == 0
    assert w.terminate() == 0
    # one event per record: committed offsets cover every record
    assert p.committed_total() == len(events)


def test_duplicates_are_physical_rows_but_one_event_for_readers(pipeline) -> None:
    p, db = pipeline
    db.command(f"SYSTEM STOP MERGES {db.database}.events")  # keep the duplicates visible
    events = _events(1500, seed=3)
    records = [(e["station_id"].encode(), json.dumps(e).encode()) for e in events]
    p.produce(records)
    w = p.worker()
    w.wait_ready()
    wait_for(lambda: raw_count(db) >= len(events), 120, "first delivery written")
    p.produce(records)  # the same events delivered a second time
    wait_for(lambda: raw_count(db) >= 2 * len(events), 120, "second delivery written")
    assert raw_count(db) > len(events)
    assert final_count(db) == len(events)
    assert w.metrics().get("blo_events_dead_lettered_total", 0) == 0  # no false conflicts
    w.terminate()


def test_sigkill_with_writes_ahead_of_commits_loses_and_doubles_nothing(pipeline) -> None:
    p, db = pipeline
    events = _events(40000, seed=4)
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    # a long commit interval widens the window where rows are written but not committed
    w = p.worker(BLO_KAFKA_COMMIT_INTERVAL_S="8", BLO_BATCH_TAKE_MAX="500")
    w.wait_ready()

    def written_ahead() -> tuple[int, int] | None:
        written, committed = raw_count(db), p.committed_total()
        return (written, committed) if written > committed + 500 and written < len(events) \
            else None

    written, committed = wait_for(written_ahead, 120, "rows written ahead of commits", 0.05)
    w.kill()
    assert written > committed  # the kill happened with uncommitted written rows
    w2 = p.worker()
    w2.wait_ready()
    wait_for(lambda: final_count(db) >= len(events), 180, "every event after restart")
    assert final_count(db) == len(events)
    ids = db.query(f"SELECT count(), uniqExact(event_id) FROM {db.database}.events FINAL")[0]
    assert ids == (len(events), len(events))
    assert raw_count(db) >= len(events)  # redelivered rows exist physically (or merged)
    w2.terminate()


def test_enriched_events_are_produced_in_batches_when_enabled(pipeline) -> None:
    from kafka import KafkaConsumer, TopicPartition

    p, db = pipeline
    topic = f"enriched-{p.uid}"
    events = _events(300, seed=5)
    p.produce((e["station_id"].encode(), json.dumps(e).encode()) for e in events)
    w = p.worker(BLO_INGEST_PRODUCE_ENRICHED="true", BLO_KAFKA_TOPIC_ENRICHED=topic)
    w.wait_ready()
    wait_for(lambda: final_count(db) >= len(events), 120, "events written")
    c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=None, consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, i) for i in range(p.partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    seen: dict[str, dict] = {}
    records = 0
    for m in c:
        records += 1
        for e in json.loads(m.value):
            assert e["station_id"] == m.key.decode()
            seen[e["event_id"]] = e
    c.close()
    assert set(seen) == {e["event_id"] for e in events}
    assert records < len(events)  # batched, not one record per event
    countries = {s["station_id"]: s["country"] for s in TEST_STATIONS}
    assert all(e["country"] == countries[e["station_id"]] for e in seen.values())
    w.terminate()
