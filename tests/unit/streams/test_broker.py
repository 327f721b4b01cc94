"""The broker state, the retrying produce and the client-log tamer (streams/broker.py), without
a broker: a produce that fails the way aiokafka's does while the broker is away."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import MessageSizeTooLargeError, NodeNotReadyError, RequestTimedOutError

from streams.broker import BrokerState, ClientLogTamer, is_retriable, retrying


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Capture:
    root = logging.getLogger()
    handler = Capture()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_state_logs_one_line_per_change_not_per_failure(captured: Capture) -> None:
    state = BrokerState("127.0.0.1:1")
    for _ in range(50):
        state.down("connection refused")
    state.up()
    state.up()
    lines = [r.getMessage() for r in captured.records if r.name == "blo.broker"]
    assert len(lines) == 2, lines
    assert "Kafka broker unreachable at BLO_KAFKA_BOOTSTRAP=127.0.0.1:1: connection refused" \
        in lines[0]
    assert lines[1].startswith("Kafka broker reachable again after")
    assert state.connected and state.outage == 1


def test_retrying_waits_out_retriable_errors_and_raises_others(captured: Capture) -> None:
    state = BrokerState("b:9092")
    calls = []

    async def produce(topic: str, key: bytes, value: bytes) -> str:
        calls.append(topic)
        if len(calls) <= 3:
            raise [NodeNotReadyError, RequestTimedOutError, NodeNotReadyError][len(calls) - 1]()
        return "delivered"

    send = retrying(produce, state, lambda: False, drives_state=True)
    assert asyncio.run(send("dlq", b"k", b"v")) == "delivered"
    assert len(calls) == 4
    lines = [r.getMessage() for r in captured.records if r.name == "blo.broker"]
    assert len(lines) == 2 and "producing to dlq failed" in lines[0], lines

    async def too_large(topic: str, key: bytes, value: bytes) -> str:
        raise MessageSizeTooLargeError()

    with pytest.raises(MessageSizeTooLargeError):
        asyncio.run(retrying(too_large, state, lambda: False)("dlq", b"k", b"v"))
    assert is_retriable(TimeoutError()) and not is_retriable(ValueError())


def test_retrying_gives_up_once_the_worker_stops() -> None:
    stopping = [False]

    async def produce(topic: str, key: bytes, value: bytes) -> None:
        stopping[0] = True  # the shutdown begins during the first attempt
        raise NodeNotReadyError()

    with pytest.raises(NodeNotReadyError):
        asyncio.run(retrying(produce, BrokerState("b:1"), lambda: stopping[0])("t", b"", b""))


def _client_error(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_tamer_lets_the_first_of_each_kind_through_then_holds_repeats_back(
        captured: Capture) -> None:
    state = BrokerState("h:1")
    tamer = ClientLogTamer(state)
    unable = "Unable connect to node with id %s: [Errno 111] Connect call failed ('h', %d)"
    # before the outage is known: the first of each kind passes, repeats (numbers aside) not
    assert tamer.filter(_client_error("aiokafka", unable, 111, 1))
    assert not tamer.filter(_client_error("aiokafka", unable, 112, 2))
    assert tamer.filter(_client_error("aiokafka.consumer.fetcher", "Failed fetch messages"))
    # during the outage: one client line of it, nothing more, whatever the kind
    state.down("connection refused")
    assert tamer.filter(_client_error("kafka.net.manager", "Bootstrap failed"))
    assert not tamer.filter(_client_error("aiokafka.producer.sender", "Got error produce"))
    assert not tamer.filter(_client_error("faust.transport.drivers.aiokafka", "slow"))
    # not a Kafka client, or a CRITICAL: always shown
    assert tamer.filter(_client_error("blo.ingest", "Got error produce"))
    crit = _client_error("aiokafka", "x")
    crit.levelno = logging.CRITICAL
    assert tamer.filter(crit)
    assert tamer.held_back == 3 and state.held_back == 2
    state.up()
    assert "(2 repeated Kafka client messages held back at DEBUG)" in \
        captured.records[-1].getMessage()
