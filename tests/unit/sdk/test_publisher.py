"""The publisher and its sender thread against a fake producer (no network)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.errors import MessageSizeTooLargeError, NotLeaderForPartitionError

from blo.sdk import (
    BufferFull,
    EventTooLarge,
    FlushTimeout,
    PublisherClosed,
    StationPublisher,
)
from blo.settings import KafkaSettings
from schemas.identity import derive_event_id
from tests.unit.sdk.fakes import FakeBroker, SentRecord

KAFKA = KafkaSettings(bootstrap="127.0.0.1:9", security_protocol="PLAINTEXT")


def event(station: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "crossing",
        "station_id": station,
        "source_seq": seq,
        "occurred_at": "2024-05-01T08:30:00+05:00",
        **extra,
    }


def unpack(records: list[SentRecord]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in records:
        obj = orjson.loads(r.value)
        items = obj if isinstance(obj, list) else [obj]
        assert {e["station_id"] for e in items} == {r.key.decode()}
        out.extend(items)
    return out


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def make_publisher(
    tmp_path: Path, broker: FakeBroker
) -> Iterator[Callable[..., StationPublisher]]:
    made: list[StationPublisher] = []

    def make(**kwargs: Any) -> StationPublisher:
        kw: dict[str, Any] = {
            "linger_s": 0.0,
            "retry_initial_s": 0.01,
            "retry_max_s": 0.05,
            "producer_factory": broker.factory,
            **kwargs,
        }
        kafka = kw.pop("kafka", KAFKA)
        path = kw.pop("buffer_path", tmp_path / "outbox.db")
        pub = StationPublisher(kafka, "raw", path, **kw)
        made.append(pub)
        return pub

    yield make
    for pub in made:
        pub.close(timeout=1.0)


def test_everything_published_arrives_in_order(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    pub = make_publisher()
    ids = [pub.publish(event("A" if i % 3 else "B", i)) for i in range(300)]
    pub.flush(timeout=10)
    got = unpack(broker.log)
    assert [e["event_id"] for e in got if e["station_id"] == "A"] == [
        i for i, n in zip(ids, range(300), strict=True) if n % 3
    ]
    assert sorted(e["event_id"] for e in got) == sorted(ids)
    assert pub.pending() == 0 and pub.sent_events == 300
    assert ids[5] == str(derive_event_id("A", 5))
    assert {r.topic for r in broker.log} == {"raw"}


def test_one_station_is_packed_into_bounded_records(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    pub = make_publisher(batch_max_events=100, linger_s=0.2)
    broker.up = False  # let the whole backlog gather first
    pub.publish_many([event("A", i) for i in range(1000)])
    broker.up = True
    pub.flush(timeout=10)
    sizes = [len(orjson.loads(r.value)) for r in broker.log]
    assert sizes == [100] * 10
    assert [e["source_seq"] for e in unpack(broker.log)] == list(range(1000))


def test_records_respect_batch_max_bytes(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    pub = make_publisher(batch_max_bytes=4096)
    broker.up = False
    pub.publish_many([event("A", i, note="x" * 300) for i in range(100)])
    broker.up = True
    pub.flush(timeout=10)
    assert all(len(r.value) <= 4096 for r in broker.log)
    assert len(broker.log) < 20  # still batched
    assert [e["source_seq"] for e in unpack(broker.log)] == list(range(100))


def test_rows_leave_the_buffer_only_after_the_broker_acknowledged(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    broker.hold = True
    pub = make_publisher()
    pub.publish_many([event("A", i) for i in range(20)])
    wait_until(lambda: len(broker.attempts) > 0)
    time.sleep(0.2)
    assert pub.pending() == 20 and broker.log == []
    with pytest.raises(FlushTimeout) as info:
        pub.flush(timeout=0.2)
    assert info.value.pending == 20
    broker.hold = False
    pub.flush(timeout=10)
    assert pub.pending() == 0 and len(unpack(broker.log)) == 20


def test_failed_sends_are_retried_without_loss_or_reordering(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker, caplog: Any
) -> None:
    failures = iter(range(3))

    def flaky(record: SentRecord) -> BaseException | None:
        if next(failures, None) is not None:
            return NotLeaderForPartitionError("leader moved")
        return None

    broker.verdict = flaky
    pub = make_publisher(batch_max_events=5)
    with caplog.at_level(logging.INFO, logger="blo.sdk"):
        pub.publish_many([event("AB"[i % 2], i) for i in range(40)])
        pub.flush(timeout=10)
    got = unpack(broker.log)
    assert {e["source_seq"] for e in got} == set(range(40))
    for station in "AB":  # first deliveries per station are in order
        seen: list[int] = []
        for e in got:
            if e["station_id"] == station and e["source_seq"] not in seen:
                seen.append(e["source_seq"])
        assert seen == sorted(seen)
    assert "unreachable" in caplog.text and "reachable again" in caplog.text


def test_broker_down_at_start_buffers_then_resumes_by_itself(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    broker.up = False
    pub = make_publisher()
    pub.publish_many([event("A", i) for i in range(50)])
    wait_until(lambda: broker.connect_failures >= 3)
    assert pub.pending() == 50 and not pub.connected
    assert pub.last_error is not None and "bootstrap" in pub.last_error
    broker.up = True
    pub.flush(timeout=10)
    assert [e["source_seq"] for e in unpack(broker.log)] == list(range(50))
    assert pub.connected and pub.last_error is None


def test_a_new_publisher_sends_what_the_old_one_left_first(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    broker.up = False
    old = make_publisher()
    old.publish_many([event("A", i) for i in range(30)])
    old.close(timeout=0.1)
    assert old.pending() == 30
    broker.up = True
    new = make_publisher()
    assert new.pending() == 30
    new.publish_many([event("A", i) for i in range(30, 40)])
    new.flush(timeout=10)
    assert [e["source_seq"] for e in unpack(broker.log)] == list(range(40))


def test_a_refused_batch_is_split_and_a_refused_event_set_aside(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    def refuse_poison(record: SentRecord) -> BaseException | None:
        return MessageSizeTooLargeError("too big") if b"poison" in record.value else None

    broker.verdict = refuse_poison
    broker.up = False
    pub = make_publisher()
    pub.publish_many(
        [event("A", i, note="poison" if i == 7 else "") for i in range(20)]
    )
    broker.up = True
    pub.flush(timeout=10)
    delivered = [e["source_seq"] for e in unpack(broker.log)]
    assert delivered == [i for i in range(20) if i != 7]
    [(row, reason)] = pub.rejected()
    assert orjson.loads(row.payload)["source_seq"] == 7 and "MessageSizeTooLarge" in reason


def test_an_event_above_the_broker_limit_is_refused_at_publish(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    small = KafkaSettings(bootstrap="127.0.0.1:9", max_request_bytes=4096)
    pub = make_publisher(kafka=small)
    pub.publish(event("A", 1, note="x" * 3000))
    with pytest.raises(EventTooLarge, match="at most 3968"):
        pub.publish(event("A", 2, note="x" * 5000))
    # the refused event never entered the outbox: only the first one is sent (the sender
    # thread may have sent it already; pending() right here would race with it)
    pub.flush(timeout=10)
    assert [e["source_seq"] for e in unpack(broker.log)] == [1]
    assert pub.pending() == 0 and not pub.rejected()
    assert pub.batch_max_bytes <= small.max_request_bytes


def test_buffer_full_when_the_outage_lasts(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    broker.up = False
    pub = make_publisher(max_buffer_bytes=20_000)
    n = 0
    with pytest.raises(BufferFull):
        while True:
            pub.publish(event("A", n, note="x" * 500))
            n += 1
    assert 10 < n < 40 and pub.pending() == n
    broker.up = True
    pub.flush(timeout=10)
    pub.publish(event("A", n))  # room again
    pub.flush(timeout=10)
    assert len(unpack(broker.log)) == n + 1


def test_publish_many_is_all_or_nothing(
    make_publisher: Callable[..., StationPublisher],
) -> None:
    pub = make_publisher()
    with pytest.raises(Exception, match="no station_id"):
        pub.publish_many([event("A", 1), {"source_seq": 2}])
    assert pub.pending() == 0 and pub.sent_events == 0


def test_publish_after_close_is_refused(
    make_publisher: Callable[..., StationPublisher], broker: FakeBroker
) -> None:
    pub = make_publisher()
    pub.publish(event("A", 1))
    pub.close()
    assert len(broker.log) == 1  # close() delivered what it could
    with pytest.raises(PublisherClosed):
        pub.publish(event("A", 2))
    pub.close()  # idempotent


def test_bad_security_settings_fail_before_anything_is_opened(tmp_path: Path) -> None:
    from blo.settings import SettingsError

    bad = KafkaSettings(bootstrap="127.0.0.1:9", security_protocol="SASL_SSL")
    with pytest.raises(SettingsError, match="BLO_KAFKA_SASL_MECHANISM"):
        StationPublisher(bad, "raw", tmp_path / "outbox.db")
    assert not (tmp_path / "outbox.db").exists()
