"""What every local-service launcher shares: free ports and one managed child process.

:class:`ManagedProcess` runs one server process in its own session with its output
appended to a log file, waits until :meth:`~ManagedProcess.ping` answers (raising the
launcher's error, with the log tail, if the process exits or the start timeout passes),
stops it with SIGTERM then SIGKILL, and stops it at interpreter exit (``atexit``) if the
caller did not. Subclasses supply ``start``, ``ping`` and ``log_tail``.
"""

from __future__ import annotations

import atexit
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True if ``host:port`` can be bound now (with ``SO_REUSEADDR``, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> int | None:
    """If ``proc`` still runs: SIGTERM, wait up to ``timeout_s``, then SIGKILL (and wait up
    to 10 s more). Returns its exit code (``None`` only if even SIGKILL did not end it)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


class ManagedProcess(ABC):
    """One child server process: launch, wait until ready, stop; a context manager.

    Subclasses set :attr:`process_name` (used in messages) and :attr:`error` (raised on
    failure), call :meth:`_launch` from ``start()``, and implement ``ping`` and
    ``log_tail``. The :class:`subprocess.Popen` is kept in ``_proc``.
    """

    process_name: ClassVar[str]
    error: ClassVar[type[Exception]]

    def __init__(self, start_timeout_s: float) -> None:
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @abstractmethod
    def start(self) -> Self:
        """Start (or restart after :meth:`stop`) and wait until ready."""

    @abstractmethod
    def ping(self, timeout_s: float = 1.0) -> bool:
        """True if the service answers."""

    @abstractmethod
    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` of the service's log(s), for error messages."""

    def _launch(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        log_path: Path,
        readiness: str,
        env: Mapping[str, str] | None = None,
        banner: str = "",
    ) -> None:
        """Start ``argv`` in a new session (stdout and stderr appended to ``log_path``,
        after ``banner``) and wait up to ``start_timeout_s`` for :meth:`ping`.

        Raises :attr:`error` (with the log tail) if the process exits first -- see
        :meth:`_exited_while_starting` -- or stops it and raises if
        ``"{process_name} did not answer {readiness}"`` in time.
        """
        with open(log_path, "ab") as log:
            if banner:
                log.write(banner.encode())
                log.flush()
            self._proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # our signals only, not the terminal's
            )
        if not self._atexit_registered:  # own session: never leave it behind a crashed caller
            atexit.register(self.stop)
            self._atexit_registered = True
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise self._exited_while_starting(code, self.log_tail())
            if self.ping():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise self.error(
                    f"{self.process_name} did not answer {readiness} "
                    f"within {self.start_timeout_s:.0f} s.\n" + self.log_tail()
                )
            time.sleep(0.05)

    def _exited_while_starting(self, code: int, tail: str) -> Exception:
        """The exception to raise when the process exited with ``code`` while starting."""
        return self.error(f"{self.process_name} exited with code {code} while starting.\n{tail}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, timeout_s)

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the running process (tests pause a server with SIGSTOP/SIGCONT
        to play an outage: Tansu's memory storage would not survive a restart)."""
        if self._proc is None or self._proc.poll() is not None:
            raise self.error(f"{self.process_name} is not running")
        self._proc.send_signal(sig)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
