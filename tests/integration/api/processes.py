"""What the API's integration tests run for real: `blo api` as a process, and a loopback
port that counts who connects to it (to prove no request left the machine)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def api_env(**blo: str) -> dict[str, str]:
    """This process's environment without any BLO_ variable, plus ``blo``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(blo)
    return env


def wait_http(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Until ``/healthz`` answers on ``port``; fails with the log if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"not serving after {timeout} s:\n" + \
                log.read_text()
            time.sleep(0.3)


@contextmanager
def blo_api(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`blo [args] api` with ``env`` (BLO_API_PORT in it), serving; SIGTERM at the end (the
    audit log is flushed then), killed if it does not stop in 30 s."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "blo", *args, "api"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(int(env["BLO_API_PORT"]), proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


class Listener:
    """A TCP port on loopback that counts the connections it is offered (a table function
    or URL that reached it would show as one)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def connected(self) -> bool:
        """Whether anything connected so far (after a short grace for late arrivals)."""
        time.sleep(0.5)
        return self.accepted > 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
