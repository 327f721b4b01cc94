"""``blo api``'s ClickHouse calls (:class:`blo.api.serve.BoundedCalls`) with real threads that
block the way a driver blocks on a paused server: each caller is answered within the timeout,
blocked threads never outnumber the slots, and the API recovers by itself."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from blo.api.serve import BoundedCalls
from sinks.base import SinkTimeout, SinkUnavailable

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 0.3


class Server:
    """A stand-in for a ClickHouse that can be paused: calls block while it is."""

    def __init__(self) -> None:
        self.awake = threading.Event()
        self.awake.set()
        self.running = 0
        self.most_running = 0
        self.calls = 0
        self._lock = threading.Lock()

    def query(self, answer: int) -> int:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            if not self.awake.wait(30):
                raise SinkTimeout("the driver's own timeout")
            return answer
        finally:
            with self._lock:
                self.running -= 1


def test_a_paused_server_answers_within_the_timeout_and_recovers_by_itself() -> None:
    server = Server()
    executor = ThreadPoolExecutor(8)

    async def main() -> None:
        calls = BoundedCalls(executor, slots=2, timeout_s=TIMEOUT)
        assert await calls.run(server.query, 1) == 1
        server.awake.clear()  # SIGSTOP
        started = time.monotonic()
        with pytest.raises(SinkTimeout, match="no answer within 0.3 s"):
            await calls.run(server.query, 2)
        assert time.monotonic() - started < 10 * TIMEOUT  # answered, not hung
        assert calls.down and server.running == 1  # its thread is still blocked
        # while that call is out, others do not queue behind it: they answer at once
        asked = server.calls
        for _ in range(20):
            with pytest.raises(SinkTimeout):
                await calls.run(server.query, 3)
        assert server.calls == asked and server.most_running == 1
        server.awake.set()  # SIGCONT: the blocked thread returns
        for _ in range(200):
            if server.running == 0:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert await calls.run(server.query, 4) == 4  # probes, answers, and the API is back
        assert not calls.down

    try:
        asyncio.run(main())
    finally:
        executor.shutdown(wait=True)


def test_blocked_threads_never_outnumber_the_slots() -> None:
    server = Server()
    executor = ThreadPoolExecutor(8)

    async def main() -> None:
        calls = BoundedCalls(executor, slots=2, timeout_s=TIMEOUT)
        server.awake.clear()
        # many callers at once, before any has timed out (so none is refused early)
        got = await asyncio.gather(*(calls.run(server.query, i) for i in range(12)),
                                   return_exceptions=True)
        assert all(isinstance(g, SinkTimeout) for g in got), got
        assert server.most_running <= 2  # the other ten never reached a thread
        server.awake.set()

    try:
        asyncio.run(main())
    finally:
        executor.shutdown(wait=True)
    assert server.calls <= 2


def test_a_connection_error_answers_without_naming_the_server() -> None:
    executor = ThreadPoolExecutor(2)

    def refused() -> None:
        raise SinkUnavailable("query: ClickHouse unreachable (Connection refused 10.1.2.3:9000)")

    async def main() -> None:
        calls = BoundedCalls(executor, slots=2, timeout_s=TIMEOUT)
        with pytest.raises(SinkUnavailable) as info:
            await calls.run(refused)
        assert "10.1.2.3" not in str(info.value)
        assert calls.down

    try:
        asyncio.run(main())
    finally:
        executor.shutdown(wait=True)
