"""WebhookNotifier against real aiohttp.web receivers on 127.0.0.1: delivery, order, retries,
permanent failures, hanging receivers, the bounded queue, close, and secrets in logs."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import pytest
from aiohttp import web

from sinks.webhook import (
    OUTCOMES,
    WebhookNotifier,
    WebhookStats,
    parse_retry_after,
    redact_url,
)

pytestmark = pytest.mark.timeout(60)

FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0}


def make(url: str, **kw: Any) -> WebhookNotifier:
    """A notifier with short backoffs (and the given overrides)."""
    return WebhookNotifier(url, **{**FAST, **kw})


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def body(alert_id: str, version: int) -> bytes:
    return orjson.dumps({"alert_id": alert_id, "version": version, "state": "firing"})


@dataclass
class Hit:
    alert_id: str
    version: int
    headers: dict[str, str]
    body: bytes
    path: str
    at: float


Respond = Callable[["Receiver", Hit], Awaitable[web.StreamResponse]]


async def ok(_r: Receiver, _hit: Hit) -> web.StreamResponse:
    return web.Response(text="ok")


@dataclass
class Receiver:
    """A real HTTP server on a free loopback port; every request is recorded in ``hits``
    (at arrival), then answered by ``respond``. ``hang`` never answers until the server
    stops."""

    respond: Respond = ok
    hits: list[Hit] = field(default_factory=list)
    answered: list[Hit] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def hang(self) -> web.StreamResponse:
        await self.stopping.wait()
        return web.Response(status=500)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        hit = Hit(
            alert_id=request.headers.get("X-BLO-Alert-Id", ""),
            version=int(request.headers.get("X-BLO-Alert-Version", "-1")),
            headers=dict(request.headers),
            body=await request.read(),
            path=request.path_qs,
            at=time.monotonic(),
        )
        self.hits.append(hit)
        response = await self.respond(self, hit)
        if response.status < 300:
            self.answered.append(hit)
        return response

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        # no access log: its lines would hold the URL's token
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.stopping.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def pairs(self) -> list[tuple[str, int]]:
        return [(h.alert_id, h.version) for h in self.answered]


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- delivery and order ------------------------------------------------------------------------


def test_notify_is_synchronous() -> None:
    assert not inspect.iscoroutinefunction(WebhookNotifier.notify)


def test_every_version_once_in_version_order_with_headers() -> None:
    async def jittery(_r: Receiver, hit: Hit) -> web.StreamResponse:
        await asyncio.sleep(0.001 * (hash(hit.alert_id) % 4))  # ids finish out of step
        return web.Response(text="ok")

    async def main() -> None:
        outcomes: list[str] = []
        async with Receiver(jittery) as rx:
            n = make(rx.url(), concurrency=4, headers={"Authorization": "Bearer x"},
                     on_outcome=outcomes.append)
            n.start()
            ids = [f"alert-{i:02d}" for i in range(20)]
            for version in range(1, 5):
                for alert_id in ids:
                    assert n.notify(alert_id, version, body(alert_id, version))
            await until(lambda: n.stats.delivered == 80, "80 deliveries")
            report = await n.close(5)

        assert report.drained
        assert n.stats == WebhookStats(delivered=80)
        assert outcomes == ["delivered"] * 80
        pairs = rx.pairs()
        assert len(pairs) == len(set(pairs)) == 80 == len(rx.hits)
        for alert_id in ids:
            assert [v for i, v in pairs if i == alert_id] == [1, 2, 3, 4]
        for hit in rx.hits:
            assert hit.body == body(hit.alert_id, hit.version)
            doc = orjson.loads(hit.body)
            assert (doc["alert_id"], doc["version"]) == (hit.alert_id, hit.version)
            assert hit.headers["Content-Type"] == "application/json"
            assert hit.headers["Idempotency-Key"] == f"{hit.alert_id}:{hit.version}"
            assert hit.headers["Authorization"] == "Bearer x"
            assert hit.path == "/hook"

    run(main())


def test_versions_notified_out_of_order_go_in_order_and_repeats_once() -> None:
    async def main() -> None:
        async with Receiver() as rx:
            n = make(rx.url())
            for version in (3, 1, 2, 2, 1):
                assert n.notify("a", version, body("a", version))
            assert n.stats.in_queue == 3
            n.start()
            await until(lambda: n.stats.delivered == 3, "3 deliveries")
            await n.close(5)
        assert rx.pairs() == [("a", 1), ("a", 2), ("a", 3)]

    run(main())


def test_bad_alert_id_is_refused() -> None:
    n = WebhookNotifier("http://127.0.0.1:9/hook")
    with pytest.raises(ValueError):
        n.notify("a\r\nX-Evil: 1", 1, b"{}")
    with pytest.raises(ValueError):
        WebhookNotifier("ftp://127.0.0.1/hook")


# -- retries and failures ----------------------------------------------------------------------


def test_503_twice_then_200_is_delivered_on_the_third_attempt_after_retry_after() -> None:
    async def flaky(r: Receiver, _hit: Hit) -> web.StreamResponse:
        if len(r.hits) == 1:
            return web.Response(status=503, headers={"Retry-After": "1"})
        if len(r.hits) == 2:
            return web.Response(status=503)
        return web.Response(status=200)

    async def main() -> None:
        outcomes: list[str] = []
        async with Receiver(flaky) as rx:
            # backoff alone would retry within 0.05 s: the 1 s gap is the Retry-After
            n = WebhookNotifier(rx.url(), max_attempts=6, backoff_initial_s=0.01,
                                backoff_max_s=5.0, on_outcome=outcomes.append)
            n.start()
            n.notify("a", 1, body("a", 1))
            await until(lambda: n.stats.delivered == 1, "delivery")
            await n.close(5)

        assert len(rx.hits) == 3
        assert {h.headers["Idempotency-Key"] for h in rx.hits} == {"a:1"}
        assert rx.hits[1].at - rx.hits[0].at >= 0.95
        assert n.stats == WebhookStats(delivered=1, retried=2)
        assert outcomes == ["retried", "retried", "delivered"]

    run(main())


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
def test_non_retryable_status_is_a_permanent_failure(status: int) -> None:
    async def refuse(_r: Receiver, _hit: Hit) -> web.StreamResponse:
        headers = {"Location": "http://127.0.0.1:9/elsewhere"} if status == 301 else {}
        return web.Response(status=status, headers=headers)

    async def main() -> None:
        async with Receiver(refuse) as rx:
            n = make(rx.url())
            n.start()
            n.notify("a", 1, body("a", 1))
            await until(lambda: n.stats.failed_permanent == 1, "permanent failure")
            await asyncio.sleep(0.2)  # a retry would have happened by now
            await n.close(1)
        assert len(rx.hits) == 1
        assert n.stats == WebhookStats(failed_permanent=1)

    run(main())


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_retryable_status_is_retried_until_attempts_are_exhausted(status: int) -> None:
    async def busy(_r: Receiver, _hit: Hit) -> web.StreamResponse:
        return web.Response(status=status)

    async def main() -> None:
        async with Receiver(busy) as rx:
            n = make(rx.url(), max_attempts=3)
            n.start()
            n.notify("a", 1, body("a", 1))
            await until(lambda: n.stats.failed_exhausted == 1, "exhaustion")
            await n.close(1)
        assert len(rx.hits) == 3
        assert n.stats == WebhookStats(retried=2, failed_exhausted=1)

    run(main())


def test_connection_refused_is_retried_then_exhausted() -> None:
    async def main() -> None:
        n = make(f"http://127.0.0.1:{closed_port()}/hook", max_attempts=3)
        n.start()
        n.notify("a", 1, b"{}")
        await until(lambda: n.stats.failed_exhausted == 1, "exhaustion")
        await n.close(1)
        assert n.stats == WebhookStats(retried=2, failed_exhausted=1)

    run(main())


# -- hanging receivers -------------------------------------------------------------------------


def test_hanging_receiver_never_blocks_notify_nor_another_receiver() -> None:
    async def hang(r: Receiver, _hit: Hit) -> web.StreamResponse:
        return await r.hang()

    async def main() -> None:
        async with Receiver(hang) as stuck_rx, Receiver() as good_rx:
            stuck = WebhookNotifier(stuck_rx.url(), concurrency=2, timeout_s=0.2,
                                    max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02)
            good = make(good_rx.url())
            stuck.start()
            good.start()
            for i in range(2):
                stuck.notify(f"first-{i}", 1, b"{}")
            await until(lambda: len(stuck_rx.hits) == 2, "both senders waiting on the receiver")

            budget_s, started, done = 2.0, time.monotonic(), 0
            for i in range(1000):
                accepted = stuck.notify(f"hung-{i}", 1, b"{}")
                if time.monotonic() - started > budget_s:
                    break
                done += accepted
            assert done == 1000

            for i in range(50):
                good.notify(f"ok-{i}", 1, body(f"ok-{i}", 1))
            await until(lambda: good.stats.delivered == 50, "the healthy receiver's alerts")
            assert stuck.stats.delivered == 0
            # each attempt is cut at timeout_s; a due retry goes before newer alerts
            await until(lambda: stuck.stats.failed_exhausted >= 2, "attempts exhausted")
            assert stuck.stats.retried >= 2

            good_report = await good.close(5)
            report = await stuck.close(0.1)

        assert good_report.drained and good_rx.pairs() == [(f"ok-{i}", 1) for i in range(50)]
        s = stuck.stats
        assert len(report.left) == s.abandoned == 1002 - s.failed_exhausted
        assert s.in_queue == 0

    run(main())


def test_one_hanging_alert_does_not_hold_up_the_others() -> None:
    async def hang_one(r: Receiver, hit: Hit) -> web.StreamResponse:
        if hit.alert_id == "stuck":
            return await r.hang()
        return web.Response(text="ok")

    async def main() -> None:
        async with Receiver(hang_one) as rx:
            n = make(rx.url(), concurrency=2)
            n.start()
            n.notify("stuck", 1, b"{}")
            await until(lambda: len(rx.hits) == 1, "the stuck request")
            for i in range(20):
                n.notify(f"a-{i}", 1, b"{}")
            n.notify("stuck", 2, b"{}")  # waits behind version 1, in order
            await until(lambda: n.stats.delivered == 20, "the other alerts")
            assert n.stats.in_queue == 2
            report = await n.close(0.1)
        assert report.left == (("stuck", 1), ("stuck", 2))
        assert n.stats.abandoned == 2

    run(main())


# -- queue bound and close ---------------------------------------------------------------------


def test_full_queue_drops_the_new_notification() -> None:
    async def main() -> None:
        outcomes: list[str] = []
        async with Receiver() as rx:
            n = make(rx.url(), queue_max=3, on_outcome=outcomes.append)
            assert [n.notify(f"a-{i}", 1, b"{}") for i in range(4)] == [True] * 3 + [False]
            assert n.stats == WebhookStats(dropped=1, in_queue=3)
            n.start()
            await until(lambda: n.stats.delivered == 3, "the queued three")
            assert n.notify("a-3", 1, b"{}")  # room again
            await until(lambda: n.stats.delivered == 4, "the fourth")
            await n.close(5)
            assert not n.notify("late", 1, b"{}")  # closed
        assert rx.pairs() == [(f"a-{i}", 1) for i in range(4)]
        assert n.stats == WebhookStats(delivered=4, dropped=2)
        assert outcomes.count("dropped") == 2

    run(main())


def test_close_drains_within_its_timeout() -> None:
    async def slow(_r: Receiver, _hit: Hit) -> web.StreamResponse:
        await asyncio.sleep(0.02)
        return web.Response(text="ok")

    async def main() -> None:
        async with Receiver(slow) as rx:
            n = make(rx.url(), concurrency=2)
            n.start()
            for i in range(30):
                n.notify(f"a-{i % 10}", i // 10 + 1, b"{}")
            report = await n.close(10)
        assert report.drained
        assert n.stats == WebhookStats(delivered=30)
        assert sorted(rx.pairs()) == sorted((f"a-{i % 10}", i // 10 + 1) for i in range(30))

    run(main())


def test_close_gives_up_at_its_timeout_and_reports_the_leftovers() -> None:
    async def hang(r: Receiver, _hit: Hit) -> web.StreamResponse:
        return await r.hang()

    async def main() -> None:
        outcomes: list[str] = []
        async with Receiver(hang) as rx:
            n = WebhookNotifier(rx.url(), concurrency=2, timeout_s=30,
                                on_outcome=outcomes.append)
            n.start()
            for i in range(5):
                n.notify("a", i + 1, b"{}")
                n.notify("b", i + 1, b"{}")
            started = time.monotonic()
            report = await n.close(0.3)
            assert time.monotonic() - started < 5  # not the 30 s request timeout
        assert set(report.left) == {(k, v) for k in "ab" for v in range(1, 6)}
        assert n.stats == WebhookStats(abandoned=10)
        assert outcomes == ["abandoned"] * 10
        assert len(rx.hits) == 2  # one request per id: the later versions wait their turn

    run(main())


def test_close_before_start_reports_everything() -> None:
    async def main() -> None:
        n = WebhookNotifier("http://127.0.0.1:9/hook")
        n.notify("a", 1, b"{}")
        report = await n.close(0.1)
        assert report.left == (("a", 1),)

    run(main())


# -- secrets -----------------------------------------------------------------------------------

SECRETS = ("PASS-1", "TOKEN-2", "TOKEN-3", "TOKEN-4")


def test_the_urls_token_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def mixed(r: Receiver, hit: Hit) -> web.StreamResponse:
        if hit.alert_id == "retry" and [h.alert_id for h in r.hits].count("retry") == 1:
            return web.Response(status=503, headers={"Retry-After": "0"})
        if hit.alert_id == "refused":
            return web.Response(status=400)
        if hit.alert_id == "hang":
            return await r.hang()
        return web.Response(text="ok")

    async def main() -> None:
        async with Receiver(mixed) as rx:
            url = f"http://127.0.0.1:{rx.port}/hook/TOKEN-2?key=TOKEN-3"
            n = WebhookNotifier(url, timeout_s=0.2, max_attempts=2, backoff_initial_s=0.01,
                                backoff_max_s=0.02, headers={"Authorization": "Bearer TOKEN-4"})
            assert "TOKEN" not in repr(n) and "PASS" not in repr(n)
            n.start()
            for alert_id in ("retry", "refused", "hang"):
                n.notify(alert_id, 1, b"{}")
            await until(lambda: n.stats.delivered == 1 and n.stats.failed_permanent == 1
                        and n.stats.failed_exhausted == 1, "every outcome")
            n.notify("hang", 2, b"{}")
            await n.close(0.05)
            assert rx.hits[0].path == "/hook/TOKEN-2?key=TOKEN-3"  # the URL is used as given

            with pytest.raises(ValueError) as both:  # aiohttp would refuse every request
                WebhookNotifier(f"http://user:PASS-1@127.0.0.1:{rx.port}/TOKEN-2",
                                headers={"authorization": "Bearer TOKEN-4"})
            assert not any(s in str(both.value) for s in SECRETS)
            refused = make(f"https://user:PASS-1@127.0.0.1:{closed_port()}/TOKEN-2",
                           max_attempts=2)
            refused.start()
            refused.notify("x", 1, b"{}")
            await until(lambda: refused.stats.failed_exhausted == 1, "connection failures")
            await refused.close(1)

        with pytest.raises(ValueError) as bad:
            WebhookNotifier("ftp://user:PASS-1@example.org/TOKEN-2")
        assert not any(s in str(bad.value) for s in SECRETS)

    run(main())
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the scenario logs its failures"
    assert not [s for s in SECRETS if s in text]
    assert "127.0.0.1" in text


# -- helpers of the module ---------------------------------------------------------------------


def test_redact_url_and_retry_after() -> None:
    assert redact_url("https://u:p@hooks.example.org/t/SECRET?k=S") == (
        "https://hooks.example.org:443/…")
    assert redact_url("http://[::1]:8080/x") == "http://[::1]:8080/…"
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    for bad in (None, "", "-1", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT"):
        assert parse_retry_after(bad) is None
    assert set(OUTCOMES) | {"in_queue"} == set(WebhookStats.__dataclass_fields__)
