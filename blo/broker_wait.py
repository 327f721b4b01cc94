"""A worker whose broker does not answer at start waits for it, instead of dying.

:func:`wait_for_topics` creates the pipeline's topics (the worker's first request to
``BLO_KAFKA_BOOTSTRAP``), retrying with backoff until the broker answers: one line when it
does not ("Kafka broker unreachable at BLO_KAFKA_BOOTSTRAP=…: connection refused;
retrying"), one when it does, no traceback. Meanwhile a small HTTP server of its own
answers on ``BLO_WEB_HOST:BLO_WEB_PORT`` -- ``/healthz`` 200, ``/readyz`` 503 with the check
``broker_connected: false`` and the reason, ``/metrics`` -- since Faust's web server starts
only with the Faust app, which needs the broker. It is closed before Faust binds the port.
SIGTERM/SIGINT while waiting stops the worker cleanly (:class:`StopWaiting`).
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from blo.backoff import delays
from blo.metrics import Metrics
from blo.settings import KafkaSettings
from streams.broker import BrokerState

log = logging.getLogger("blo.worker")

ATTEMPT_TIMEOUT_S = 10.0
"""How long one attempt waits for the broker's answer (kafka-python's default is 30 s)."""
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 10.0


class StopWaiting(BaseException):
    """SIGTERM or SIGINT arrived while waiting for the broker."""


def unreachable_reason(kafka: KafkaSettings, timeout_s: float = 5.0) -> str | None:
    """None if a bootstrap server accepts a TCP connection; else why none does, per server
    ("127.0.0.1:1: connection refused")."""
    reasons = []
    for server in kafka.bootstrap_servers():
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout_s).close()
            return None
        except ConnectionRefusedError:
            reasons.append(f"{server}: connection refused")
        except socket.gaierror:
            reasons.append(f"{server}: host not found")
        except TimeoutError:
            reasons.append(f"{server}: no answer within {timeout_s:.0f} s")
        except OSError as e:
            reasons.append(f"{server}: {e.strerror or e}")
    if len(reasons) == 1:  # the line names BLO_KAFKA_BOOTSTRAP, hence the server
        return reasons[0].split(": ", 1)[1]
    return "; ".join(reasons)


def _is_unreachable(exc: BaseException) -> bool:
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable

    return isinstance(exc, NoBrokersAvailable | KafkaTimeoutError | KafkaConnectionError
                      | OSError)


def wait_for_topics(kafka: KafkaSettings, state: BrokerState,
                    create_topics: Callable[[float], None]) -> None:
    """Call ``create_topics(timeout_s)`` until it gets through; ``state`` goes down (one
    line) on the first failure and up (one line) when the broker answers. Errors other
    than an unreachable broker (authentication, a refused topic) are raised."""
    waits = delays(BACKOFF_FIRST_S, BACKOFF_MAX_S)
    while True:
        reason = unreachable_reason(kafka)
        if reason is None:
            try:
                create_topics(ATTEMPT_TIMEOUT_S)
                state.up(first=True)
                return
            except Exception as e:
                if not _is_unreachable(e):
                    raise
                reason = f"connected, but no Kafka answer ({type(e).__name__}: {e})"
        state.down(reason)
        time.sleep(next(waits))


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM/SIGINT raise :class:`StopWaiting` in the main thread while inside."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopWaiting(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def serve_while_waiting(host: str, port: int, state: BrokerState,
                        metrics: Metrics) -> Iterator[None]:
    """``/healthz``, ``/readyz`` (503 while ``state`` is down) and ``/metrics`` until the
    block ends. A port already taken is logged, not fatal (Faust will say it again)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server spelling
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, "application/json", {"status": "alive"})
            elif path == "/readyz":
                ok = state.connected
                body: dict[str, Any] = {"ready": False, "checks": {
                    "broker_connected": ok, "worker_started": False}}
                body["broker_unreachable" if not ok else "starting"] = (
                    state.describe() if not ok else "the worker is starting")
                self._send(503, "application/json", body)
            elif path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", metrics.render())
            else:
                self._send(404, "application/json", {"error": "not found"})

        def _send(self, status: int, ctype: str, body: Any) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds: not worth a line each

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        log.warning("cannot serve /readyz on %s:%d while waiting for the broker: %s",
                    host, port, e)
        yield
        return
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="blo-wait-http",
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
