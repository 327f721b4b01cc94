"""The alert webhook: :class:`WebhookNotifier` POSTs every alert version to one URL.

**Never blocks the stream.** :meth:`WebhookNotifier.notify` only enqueues (no await, no I/O)
and returns at once; ``concurrency`` sender tasks do the HTTP. A receiver that hangs costs at
most ``concurrency`` requests of ``timeout_s`` each at a time, and the stream never waits for
them. At most ``queue_max`` deliveries are pending; past that ``notify`` refuses (``False``,
counted ``dropped``).

**At least once, de-duplicable.** Each POST carries the alert's JSON (the bytes of
:func:`streams.alerts.alert_message`) with ``Content-Type: application/json``,
``X-BLO-Alert-Id``, ``X-BLO-Alert-Version`` and ``Idempotency-Key: <id>:<version>``. A
delivery may repeat (a timeout after the receiver acted, a replay after a restart):
receivers de-duplicate on (alert id, version), and an id's highest version is its state.

**Order.** One alert id's deliveries go one at a time, in version order: version 3 is not
sent before version 2 is delivered or given up (a lower version notified after a higher one
was already tried is sent after it: receivers keep the highest). Different ids go
concurrently, round robin; a retry that is due goes before alerts not yet tried.

**Outcomes.** 2xx: ``delivered``. 408, 429, 5xx, a timeout (``timeout_s`` per attempt) or a
connection error: retried (``retried`` counts each retry) after the response's
``Retry-After`` seconds, or else after an exponential backoff with jitter
(``backoff_initial_s`` doubling up to ``backoff_max_s``); ``Retry-After`` is capped at
``backoff_max_s`` so no receiver can park a delivery indefinitely. After ``max_attempts``
attempts in all: ``failed_exhausted``. Any other status — 4xx, and 3xx since redirects are
not followed (a body is not re-posted to a place nobody configured) — is
``failed_permanent``, not retried. A delivery waiting out its backoff holds no sender, so one
alert a receiver keeps refusing does not hold up the others.

**Secrets.** The URL may carry a token (user info, path or query): logs and ``repr`` show
``scheme://host:port/…`` only, and exceptions are logged by type, never by message (aiohttp
puts URLs in some messages). Extra ``headers`` (an ``Authorization``) are never logged.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from blo.backoff import delay_s

log = logging.getLogger(__name__)

OUTCOMES = ("delivered", "retried", "failed_permanent", "failed_exhausted", "dropped",
            "abandoned")
RETRYABLE_STATUSES = frozenset({408, 429})
READ_BODY_MAX = 64 * 1024  # a small answer is read so the connection can be reused
LOG_EVERY_S = 60.0  # failure warnings: the first of a streak, then one summary per interval

OnOutcome = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """Counters since the notifier was built (``in_queue``: now).

    ``delivered``: got a 2xx. ``retried``: retries scheduled after a retryable failure (a
    delivery that succeeded on its 3rd attempt adds 2). ``failed_permanent``: given up on a
    non-retryable answer. ``failed_exhausted``: given up after ``max_attempts``. ``dropped``:
    refused by ``notify`` (queue full, or notifier closed). ``abandoned``: still pending when
    ``close`` gave up. ``in_queue``: accepted, not yet finished (waiting, backing off or in
    flight).
    """

    delivered: int = 0
    retried: int = 0
    failed_permanent: int = 0
    failed_exhausted: int = 0
    dropped: int = 0
    abandoned: int = 0
    in_queue: int = 0


@dataclass(frozen=True, slots=True)
class CloseReport:
    """What :meth:`WebhookNotifier.close` could not deliver: ``(alert id, version)`` pairs."""

    left: tuple[tuple[str, int], ...]

    @property
    def drained(self) -> bool:
        return not self.left


@dataclass(slots=True)
class _Delivery:
    alert_id: str
    version: int
    body: bytes
    attempts: int = 0


def redact_url(url: str | URL) -> str:
    """``scheme://host:port/…`` of ``url``: what may be logged of a URL that holds a token."""
    try:
        u = URL(url) if isinstance(url, str) else url
        host = u.host or "?"
    except (ValueError, TypeError):
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{u.scheme}://{host}:{u.port}/…"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` delta-seconds value; ``None`` for absent, an HTTP date
    or garbage (the caller falls back to its own backoff)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


class WebhookNotifier:
    """POSTs alert versions to ``url`` in the background; see the module docstring.

    Use from one event loop: :meth:`start` (needs the running loop), :meth:`notify` as
    often as needed, then ``await`` :meth:`close`. ``on_outcome`` is called with one of
    :data:`OUTCOMES` each time the matching counter grows (e.g. a Prometheus counter with an
    ``outcome`` label); an exception it raises is logged and ignored. ``rand`` (uniform in
    [0, 1)) draws the backoff jitter.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_attempts: int = 6,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        queue_max: int = 10_000,
        concurrency: int = 4,
        headers: Mapping[str, str] | None = None,
        on_outcome: OnOutcome | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._url = URL(url)
        self._where = redact_url(self._url)
        if self._url.scheme not in ("http", "https") or not self._url.host:
            raise ValueError(f"webhook URL must be http(s)://host/…, got {self._where}")
        if self._url.user is not None and any(
                k.lower() == "authorization" for k in (headers or {})):
            raise ValueError(f"webhook {self._where}: credentials in the URL and an "
                             "Authorization header: give one of them")
        if timeout_s <= 0 or backoff_initial_s < 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("webhook: need timeout_s > 0 and 0 <= backoff_initial_s <= "
                             "backoff_max_s")
        if max_attempts < 1 or queue_max < 1 or concurrency < 1:
            raise ValueError("webhook: max_attempts, queue_max and concurrency must be >= 1")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_attempts = max_attempts
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._queue_max = queue_max
        self._concurrency = concurrency
        self._headers = dict(headers or {})
        self._on_outcome = on_outcome
        self._rand = rand
        self._counts = dict.fromkeys(OUTCOMES, 0)
        # An id with pending deliveries is in exactly one place: the ready queue, a sender,
        # or a backoff timer. Its list is in version order; the head is the one being sent.
        self._pending: dict[str, list[_Delivery]] = {}
        self._size = 0
        self._ready: deque[str] = deque()
        self._readied = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: aiohttp.ClientSession | None = None
        self._senders: list[asyncio.Task[None]] = []
        self._closed = False
        self._failing_since: float | None = None
        self._warned: dict[str, tuple[float, int]] = {}  # kind -> (last logged, suppressed)

    def __repr__(self) -> str:
        return f"WebhookNotifier({self._where})"

    @property
    def stats(self) -> WebhookStats:
        return WebhookStats(**self._counts, in_queue=self._size)

    def start(self) -> None:
        """Open the HTTP session and start the senders (call inside the running loop)."""
        if self._session is not None or self._closed:
            raise RuntimeError(f"{self!r} already started or closed")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._concurrency),
            timeout=self._timeout,
            headers={"User-Agent": "blo-stream-webhook/1"},
        )
        self._senders = [
            asyncio.get_running_loop().create_task(self._send_loop(), name=f"webhook-{i}")
            for i in range(self._concurrency)
        ]

    def notify(self, alert_id: str, version: int, body: bytes) -> bool:
        """Queue one alert version for delivery; never waits. ``True``: accepted (or that
        same id and version is already pending).

        ``False`` (counted ``dropped``) when ``queue_max`` deliveries are pending or the
        notifier is closed. The refused one is the *new* notification, not a queued one:
        the caller learns at once which alert was not sent, what is queued keeps its order
        (evicting a queued version would let a later one overtake it), and the alert itself
        is not lost — it is in the ``alerts`` table and topic; the webhook is a
        notification. Raises ``ValueError`` for an id that cannot be a header value.
        """
        if not alert_id or not alert_id.isprintable() or not alert_id.isascii() or version < 0:
            raise ValueError(f"bad alert id/version for a webhook: {alert_id!r} {version!r}")
        queued = self._pending.get(alert_id)
        if queued is not None and any(d.version == version for d in queued):
            return True
        if self._closed or self._size >= self._queue_max:
            self._count("dropped")
            return False
        delivery = _Delivery(alert_id, version, body)
        if queued is None:
            self._pending[alert_id] = [delivery]
            self._make_ready(alert_id)
        else:  # in version order, but never ahead of a head already tried or in flight
            lo = 1 if queued[0].attempts else 0
            queued.insert(bisect.bisect(queued, version, lo=lo, key=lambda d: d.version),
                          delivery)
        self._size += 1
        self._idle.clear()
        return True

    async def close(self, timeout_s: float = 10.0) -> CloseReport:
        """Refuse new notifications, deliver what is pending for up to ``timeout_s``, then
        cancel the senders. Returns (and logs) what was left undelivered, counted
        ``abandoned``; a request cancelled in flight is among them (it may have arrived)."""
        self._closed = True
        if self._senders and self._size:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout_s)
            except TimeoutError:
                pass
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders = []
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._ready.clear()
        left = tuple((d.alert_id, d.version) for ds in self._pending.values() for d in ds)
        self._pending.clear()
        self._size = 0
        self._idle.set()
        for _ in left:
            self._count("abandoned")
        if self._session is not None:
            await self._session.close()
        if left:
            log.warning("webhook %s closed with %d alert versions undelivered",
                        self._where, len(left))
        return CloseReport(left)

    # -- senders -----------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            while not self._ready:
                self._readied.clear()
                await self._readied.wait()
            alert_id = self._ready.popleft()
            retry_in = await self._attempt(self._pending[alert_id][0])
            if retry_in is None:
                self._finish(alert_id)
            else:
                self._count("retried")
                self._timers[alert_id] = asyncio.get_running_loop().call_later(
                    retry_in, self._wake, alert_id)

    def _wake(self, alert_id: str) -> None:
        # A due retry goes first: an alert's attempts end (delivered or given up) roughly in
        # arrival order instead of waiting behind every newer alert once more.
        self._timers.pop(alert_id, None)
        self._make_ready(alert_id, first=True)

    def _make_ready(self, alert_id: str, *, first: bool = False) -> None:
        if first:
            self._ready.appendleft(alert_id)
        else:
            self._ready.append(alert_id)
        self._readied.set()

    def _finish(self, alert_id: str) -> None:
        queued = self._pending[alert_id]
        queued.pop(0)
        self._size -= 1
        if queued:
            self._make_ready(alert_id)  # at the back: other ids get their turn
        else:
            del self._pending[alert_id]
            if not self._size:
                self._idle.set()

    async def _attempt(self, d: _Delivery) -> float | None:
        """One POST; ``None`` when ``d`` is finished (delivered or given up), else the delay
        before the next attempt."""
        assert self._session is not None
        d.attempts += 1
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "X-BLO-Alert-Id": d.alert_id,
            "X-BLO-Alert-Version": str(d.version),
            "Idempotency-Key": f"{d.alert_id}:{d.version}",
        }
        retry_after: float | None = None
        try:
            async with self._session.post(
                self._url, data=d.body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                if resp.content_length is not None and resp.content_length <= READ_BODY_MAX:
                    await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            problem = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            return self._retry_or_give_up(d, problem, None)
        except Exception as exc:  # noqa: BLE001 - a request aiohttp refuses to build: final
            self._count("failed_permanent")
            self._warn("unsendable", "webhook %s: alert %s version %d not sendable: %s",
                       self._where, d.alert_id, d.version, type(exc).__name__,
                       level=logging.ERROR)
            return None
        if 200 <= status < 300:
            self._count("delivered")
            if self._failing_since is not None:
                log.info("webhook %s delivers again (failing for %.0f s)", self._where,
                         time.monotonic() - self._failing_since)
                self._failing_since = None
            return None
        if status >= 500 or status in RETRYABLE_STATUSES:
            return self._retry_or_give_up(d, f"HTTP {status}", retry_after)
        self._count("failed_permanent")
        self._warn("refused", "webhook %s refused alert %s version %d: HTTP %d (not retried)",
                   self._where, d.alert_id, d.version, status)
        return None

    def _retry_or_give_up(self, d: _Delivery, problem: str,
                          retry_after: float | None) -> float | None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        if d.attempts >= self._max_attempts:
            self._count("failed_exhausted")
            self._warn("exhausted",
                       "webhook %s: alert %s version %d given up after %d attempts (%s)",
                       self._where, d.alert_id, d.version, d.attempts, problem)
            return None
        if retry_after is not None:
            delay = min(retry_after, self._backoff_max_s)
        else:  # jitter never under half: spread, not skip
            delay = delay_s(d.attempts, self._backoff_initial_s, self._backoff_max_s,
                            jitter=(0.5, 1.0), rand=self._rand)
        self._warn("retrying",
                   "webhook %s: alert %s version %d attempt %d %s; retrying in %.2f s",
                   self._where, d.alert_id, d.version, d.attempts, problem, delay)
        return delay

    def _warn(self, kind: str, msg: str, *args: object, level: int = logging.WARNING) -> None:
        """Log at ``level`` unless a message of this ``kind`` was, in the last
        :data:`LOG_EVERY_S` (then at debug): a receiver that is down fails every pending
        alert — one line says so, the counters say how much."""
        now = time.monotonic()
        last, suppressed = self._warned.get(kind, (-LOG_EVERY_S, 0))
        if now - last < LOG_EVERY_S:
            self._warned[kind] = (last, suppressed + 1)
            log.debug(msg, *args)
            return
        if suppressed:
            msg += " (%d more like it since, at debug level)"
            args = (*args, suppressed)
        self._warned[kind] = (now, 0)
        log.log(level, msg, *args)

    def _count(self, outcome: str) -> None:
        self._counts[outcome] += 1
        if self._on_outcome is not None:
            try:
                self._on_outcome(outcome)
            except Exception:
                log.exception("webhook on_outcome callback failed")

