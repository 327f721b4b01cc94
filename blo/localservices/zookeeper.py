"""Run Debian's ZooKeeper (3.8, package ``zookeeper``) standalone on a free loopback port.

A ClickHouse cluster (replicated tables, ``ON CLUSTER`` DDL) needs a ZooKeeper. For tests
and local trials :class:`ZooKeeper` writes a ``zoo.cfg`` into a directory it owns (client
port on 127.0.0.1 only, no admin HTTP server, the ``srvr`` four-letter word allowed for the
readiness check), runs ``org.apache.zookeeper.server.ZooKeeperServerMain`` on the JVM and
stops it with SIGTERM (then SIGKILL). No systemd, no /etc changes.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Self

from blo.localservices.process import ManagedProcess, free_port

__all__ = ["ZooKeeper", "ZooKeeperError", "ensure_installed"]

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")  # its manifest names the other jars
SLF4J_SIMPLE_JAR = Path("/usr/share/java/slf4j-simple.jar")  # logging to stderr (optional)

_INSTALL_HINT = (
    "ZooKeeper is not installed. Install Debian's package (it brings a Java runtime) with\n"
    "    apt-get update && apt-get install -y --no-install-recommends zookeeper"
)


class ZooKeeperError(RuntimeError):
    """ZooKeeper or Java is missing, or the server did not start / answer in time."""


def ensure_installed() -> list[str]:
    """The ``java -cp ...`` prefix that runs ZooKeeper's classes; raise
    :class:`ZooKeeperError` telling how to install them."""
    java = shutil.which("java")
    if not java or not ZOOKEEPER_JAR.exists():
        raise ZooKeeperError(_INSTALL_HINT)
    classpath = [str(ZOOKEEPER_JAR)]
    if SLF4J_SIMPLE_JAR.exists():
        classpath.append(str(SLF4J_SIMPLE_JAR))
    return [java, "-Xmx256m", "-cp", os.pathsep.join(classpath)]


class ZooKeeper(ManagedProcess):
    """One standalone ZooKeeper under ``directory`` on a free loopback port.

    A context manager; ``stop()`` keeps the port and the data (a later ``start()`` brings
    the same ensemble back).
    """

    process_name = "zookeeper"
    error = ZooKeeperError

    def __init__(
        self, directory: Path | str, *, port: int | None = None, start_timeout_s: float = 60.0
    ) -> None:
        self.directory = Path(directory).resolve()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        super().__init__(start_timeout_s)
        self._command = ensure_installed()

    @property
    def config_path(self) -> Path:
        return self.directory / "zoo.cfg"

    @property
    def log_path(self) -> Path:
        return self.directory / "zookeeper.log"

    def _prepare(self) -> None:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "tickTime=500\n"
            "initLimit=10\n"
            "syncLimit=5\n"
            f"dataDir={self.directory / 'data'}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress={self.host}\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr\n"
            "maxSessionTimeout=60000\n"
        )

    def start(self) -> Self:
        if self.running:
            return self
        self._prepare()
        self._launch(
            [*self._command, "org.apache.zookeeper.server.ZooKeeperServerMain",
             str(self.config_path)],
            cwd=self.directory,
            log_path=self.log_path,
            readiness=f"'srvr' on {self.host}:{self.port}",
        )
        return self

    def ping(self, timeout_s: float = 1.0) -> bool:
        """True if the server serves requests: ``srvr`` reports its ``Mode:`` (``ruok``
        answers ``imok`` already while the server is still loading, when sessions are
        refused)."""
        try:
            with socket.create_connection((self.host, self.port), timeout_s) as s:
                s.settimeout(timeout_s)
                s.sendall(b"srvr")
                answer = b""
                while chunk := s.recv(4096):
                    answer += chunk
        except OSError:
            return False
        return b"Mode: " in answer

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return f"(no log written at {self.log_path})"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- tail of {self.log_path} ---\n" + "\n".join(text)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ZooKeeper({self.host}:{self.port}, {state}, dir={self.directory})"
