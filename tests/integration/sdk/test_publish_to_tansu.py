"""The station SDK against the real broker (Tansu): delivery, order, outages, restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from blo.localservices.tansu import TansuBroker
from blo.sdk import StationPublisher
from blo.settings import KafkaSettings
from schemas.parse import parse_event
from tests.fixtures_kafka import consume_records, unique_topic_name
from tests.unit.schemas.factories import DROP, make_event

pytestmark = pytest.mark.integration

STATIONS = ("KZ-KORDAI", "KG-TORUGART", "TJ-NIZHNIY-PYANJ")


def station_event(station: str, seq: int) -> dict[str, Any]:
    """A valid crossing event as a station writes it: no event_id, schema_version or
    reported_at -- the SDK fills them."""
    return make_event(
        "crossing", station_id=station, source_seq=seq,
        event_id=DROP, schema_version=DROP, reported_at=DROP,
    )


def events_for(n: int) -> list[dict[str, Any]]:
    return [station_event(STATIONS[i % 3], i // 3) for i in range(n)]


def unpack(records: list[Any]) -> list[dict[str, Any]]:
    """Every event of every record (object or array), in log order per partition."""
    out: list[dict[str, Any]] = []
    for record in records:
        value = orjson.loads(record.value)
        items = value if isinstance(value, list) else [value]
        for item in items:
            assert item["station_id"] == record.key.decode()  # key = station id
        out.extend(items)
    return out


def events_in(record: Any) -> int:
    value = orjson.loads(record.value)
    return len(value) if isinstance(value, list) else 1


def read_events(bootstrap: str, topic: str, n: int) -> tuple[list[Any], list[dict[str, Any]]]:
    records = consume_records(bootstrap, topic, n, timeout_s=120, weight=events_in)
    return records, unpack(records)


def assert_exactly_once_in_order(got: list[dict[str, Any]], ids: list[str]) -> None:
    assert len(got) == len(ids), f"{len(got)} events arrived, {len(ids)} published"
    assert sorted(e["event_id"] for e in got) == sorted(ids)
    per_station: dict[str, list[int]] = defaultdict(list)
    for e in got:
        per_station[e["station_id"]].append(e["source_seq"])
    for station, seqs in per_station.items():
        assert seqs == sorted(seqs), f"{station} out of order"


def test_published_events_arrive_exactly_once_in_order_and_valid(
    kafka_settings: KafkaSettings, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = fresh_topic(4)
    n = 3000
    with StationPublisher(kafka_settings, topic, tmp_path / "outbox.db") as pub:
        ids = pub.publish_many(events_for(n // 2))
        ids += [pub.publish(e) for e in events_for(n)[n // 2:]]
        pub.flush(timeout=120)
        assert pub.pending() == 0 and pub.sent_events == n
    records, got = read_events(kafka_settings.bootstrap or "", topic, n)
    assert_exactly_once_in_order(got, ids)
    assert len(records) < n / 10  # batched: arrays of events, not one record each
    # what the SDK filled in is valid for the pipeline's parser
    now = datetime.now(UTC)
    for event in got[:: max(1, n // 50)]:
        parsed = parse_event(event, now=now, max_future_skew=timedelta(minutes=5))
        assert str(parsed.event_id) == event["event_id"]


_PUBLISH_WHILE_DOWN = """
import sys
from pathlib import Path
from blo.sdk import StationPublisher
from blo.settings import KafkaSettings
from tests.integration.sdk.test_publish_to_tansu import events_for

bootstrap, topic, buffer, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
pub = StationPublisher(KafkaSettings(bootstrap=bootstrap), topic, buffer,
                       connect_timeout_s=0.5, retry_initial_s=0.1, retry_max_s=0.5)
ids = [pub.publish(e) for e in events_for(n)]
pub.close(timeout=1.0)
print(pub.pending(), len(set(ids)), pub.sent_events)
"""


def test_bad_link_events_published_while_the_broker_is_down_arrive_after_a_restart(
    tmp_path: Path,
) -> None:
    """The station publishes while its link is down, the process exits; later the broker
    is up and a new publisher on the same buffer delivers everything, once, in order."""
    broker = TansuBroker(workdir=tmp_path / "tansu")  # port reserved, nothing listening
    settings = KafkaSettings(bootstrap=broker.bootstrap)
    topic, buffer, n = unique_topic_name("bad-link"), tmp_path / "station" / "outbox.db", 900

    proc = subprocess.run(
        [sys.executable, "-c", _PUBLISH_WHILE_DOWN, broker.bootstrap, topic, str(buffer),
         str(n)],
        check=False, capture_output=True, text=True, timeout=180,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr
    pending, distinct_ids, sent = map(int, proc.stdout.split())
    assert (pending, distinct_ids, sent) == (n, n, 0)
    assert "unreachable" in proc.stderr  # it said so in its log

    with broker:
        broker.create_topics([topic], partitions=3)
        with StationPublisher(settings, topic, buffer) as pub:
            assert pub.pending() == n
            pub.flush(timeout=120)
        _, got = read_events(broker.bootstrap, topic, n)
    expected = [str(e) for e in _derived_ids(events_for(n))]
    assert_exactly_once_in_order(got, expected)


def _derived_ids(events: list[dict[str, Any]]) -> list[object]:
    from schemas.identity import derive_event_id

    return [derive_event_id(e["station_id"], e["source_seq"]) for e in events]


def test_an_outage_while_running_is_bridged_by_the_buffer(
    restartable_broker: TansuBroker, tmp_path: Path
) -> None:
    broker = restartable_broker
    settings = KafkaSettings(bootstrap=broker.bootstrap)
    topic = unique_topic_name("outage")
    broker.create_topics([topic], 2)
    with StationPublisher(
        settings, topic, tmp_path / "outbox.db", retry_initial_s=0.1, retry_max_s=1.0,
        connect_timeout_s=1.0,
    ) as pub:
        before = pub.publish_many(events_for(300))
        pub.flush(timeout=60)
        assert len(read_events(broker.bootstrap, topic, 300)[1]) == 300

        broker.stop()  # memory storage: what was delivered is gone with it
        during = pub.publish_many(events_for(600)[300:])
        time.sleep(1.0)
        assert pub.pending() == 300  # nothing acknowledged, nothing lost

        broker.start()
        broker.create_topics([topic], 2)
        pub.flush(timeout=120)
        assert pub.pending() == 0
    _, got = read_events(broker.bootstrap, topic, 300)
    assert_exactly_once_in_order(got, during)
    assert not set(before) & {e["event_id"] for e in got}
