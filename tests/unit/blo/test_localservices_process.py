"""ManagedProcess (the launchers' shared base) with a plain Python child instead of a server."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Self

import pytest

from blo.localservices.process import ManagedProcess, free_port, port_is_free, stop_process


class FakeError(RuntimeError):
    pass


class FakeService(ManagedProcess):
    """Runs ``python -c <code>``; ready once ``ready`` exists in ``directory``."""

    process_name = "fake"
    error = FakeError

    def __init__(self, directory: Path, code: str, start_timeout_s: float = 10.0) -> None:
        super().__init__(start_timeout_s)
        self.directory = directory
        self.code = code

    @property
    def log_path(self) -> Path:
        return self.directory / "fake.log"

    def start(self) -> Self:
        if self.running:
            return self
        self._launch(
            [sys.executable, "-c", self.code],
            cwd=self.directory,
            log_path=self.log_path,
            readiness="a ready file",
            banner="=== starting fake\n",
        )
        return self

    def ping(self, timeout_s: float = 1.0) -> bool:
        return (self.directory / "ready").exists()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


SERVE = "import pathlib, time; pathlib.Path('ready').touch(); time.sleep(60)"


def test_free_port_is_bindable_and_a_listener_makes_it_busy() -> None:
    port = free_port()
    assert port_is_free("127.0.0.1", port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not port_is_free("127.0.0.1", port)


def test_start_stop_restart_and_context_manager(tmp_path: Path) -> None:
    with FakeService(tmp_path, SERVE) as svc:
        assert svc.running
        first = svc._proc
        assert svc.restart() is svc and svc.running and svc._proc is not first
    assert not svc.running and svc._proc is None
    assert svc.log_path.read_text().count("=== starting fake") == 2
    svc.stop()  # idempotent


def test_exit_while_starting_raises_with_the_log_tail(tmp_path: Path) -> None:
    svc = FakeService(tmp_path, "print('bad config'); raise SystemExit(3)")
    with pytest.raises(FakeError, match=r"fake exited with code 3 while starting\.\n") as info:
        svc.start()
    assert "bad config" in str(info.value)
    assert not svc.running


def test_no_answer_in_time_stops_the_process(tmp_path: Path) -> None:
    svc = FakeService(tmp_path, "import time; print('slow'); time.sleep(60)", 0.3)
    with pytest.raises(FakeError, match=r"fake did not answer a ready file within 0 s\.\n"):
        svc.start()
    assert not svc.running


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + SERVE
    svc = FakeService(tmp_path, code).start()
    proc = svc._proc
    assert proc is not None
    svc.stop(timeout_s=0.3)
    assert proc.returncode == -9


def test_stop_process_returns_the_exit_code() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stop_process(proc, 5) == -15
    assert stop_process(proc, 5) == -15  # already gone: just the code
