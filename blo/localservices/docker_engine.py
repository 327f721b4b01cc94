"""A Docker engine of our own, started by hand (no systemd), for the compose tests.

:func:`install_compose_v2` puts Compose v2 where every Docker CLI finds it
(``/usr/local/lib/docker/cli-plugins/docker-compose``). Debian bookworm's own
``docker-compose`` is 1.29, which rejects docker/compose.yaml (top-level ``name:``); Compose
v2 is Debian trixie's ``docker-compose`` package, a Go binary that runs on bookworm. It is
fetched with ``apt-get download`` through a private apt configuration (its own sources
list, lists and cache under ``cache_dir``, signatures checked with the archive keyring):
the machine's apt sources never see trixie, nothing else comes from it, and a point
release's new version is found without editing a URL. The ``.deb`` is unpacked, not
installed (``dpkg-deb -x``): no trixie package enters dpkg's database.

:class:`DockerEngine` runs ``dockerd`` (Debian's ``docker.io``) with its own data-root,
exec-root, pidfile and socket, on a bridge subnet that must not collide with a route of
the machine, and stops it by its pid. It records the machine's network state first
(``iptables-save`` and ``ip6tables-save``, links, ``net.ipv4.ip_forward``) and, after the
daemon stopped, removes what the daemon added: its iptables rules and chains, the policy it
changed (FORWARD DROP), nf_tables tables that did not exist before and are empty again,
``docker0`` and any bridge or veth left behind; :meth:`DockerEngine.network_changes`
says what still differs (the tests assert it is nothing). One engine per machine at a time:
a lock file under ``cache_dir`` serialises them (two daemons would share iptables chains).

Command line (the Makefile's ``services-deps``): ``python3 -m blo.localservices.docker_engine
install-compose``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import IO, Self

from blo.localservices.process import ManagedProcess

__all__ = [
    "COMPOSE_PLUGIN", "DockerEngine", "DockerEngineError", "NetworkState", "debian_mirror",
    "install_compose_v2",
]

COMPOSE_PLUGIN = Path("/usr/local/lib/docker/cli-plugins/docker-compose")
DEFAULT_CACHE_DIR = Path(os.environ.get("BLO_DOCKER_CACHE", "/var/cache/blo-docker"))
DOCKER_CLI = Path("/usr/bin/docker")  # Debian's docker.io, whatever else is on the PATH
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class DockerEngineError(RuntimeError):
    """dockerd or Compose v2 is missing, did not start, or left the network changed."""


def debian_mirror() -> str:
    """The Debian mirror the machine's apt uses (``deb.debian.org`` if none is found)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not path.is_file():
            continue
        for url in re.findall(r"(https?://\S+/debian)/?(?:\s|$)", path.read_text(errors="replace")):
            return str(url)
    return "http://deb.debian.org/debian"


def _run(argv: Sequence[str], *, timeout: float = 300, cwd: Path | None = None,
         env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=None if env is None else dict(env), check=False)


def _compose_is_v2(binary: Path) -> bool:
    if not os.access(binary, os.X_OK):
        return False
    r = _run([str(binary), "version", "--short"], timeout=30)
    return r.returncode == 0 and r.stdout.strip().lstrip("v").startswith("2.")


def install_compose_v2(cache_dir: Path = DEFAULT_CACHE_DIR, *,
                       target: Path = COMPOSE_PLUGIN) -> Path:
    """Put Debian trixie's Compose v2 at ``target`` (a CLI plugin) unless a v2 is there.

    Returns ``target``. Raises :class:`DockerEngineError` with apt's output on failure.
    """
    if _compose_is_v2(target):
        return target
    apt = cache_dir / "apt-trixie"
    for sub in ("lists/partial", "cache/archives/partial", "debs"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    sources = apt / "sources.list"
    sources.write_text(f"deb [signed-by={KEYRING}] {debian_mirror()} trixie main\n")
    options = [
        "-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=/dev/null",
        "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", f"Dir::Cache={apt / 'cache'}",
        "-o", "Dir::State::status=/dev/null", "-o", "APT::Sandbox::User=root",
        "-o", "Acquire::Languages=none", "-o", "APT::Architectures::=amd64",
    ]
    for argv in (["apt-get", *options, "update"],
                 ["apt-get", *options, "download", "docker-compose"]):
        r = _run(argv, cwd=apt / "debs")
        if r.returncode != 0:
            raise DockerEngineError(f"{shlex.join(argv)} failed:\n{r.stdout}{r.stderr}")
    debs = sorted((apt / "debs").glob("docker-compose_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise DockerEngineError("apt-get download docker-compose left no .deb")
    with tempfile.TemporaryDirectory() as tmp:
        r = _run(["dpkg-deb", "-x", str(debs[-1]), tmp])
        if r.returncode != 0:
            raise DockerEngineError(f"dpkg-deb -x {debs[-1]}: {r.stderr}")
        binary = Path(tmp) / "usr/libexec/docker/cli-plugins/docker-compose"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").chmod(0o755)
        os.replace(target.with_suffix(".tmp"), target)
    for old in debs[:-1]:
        old.unlink()
    if not _compose_is_v2(target):
        raise DockerEngineError(f"{target} from {debs[-1].name} is not Compose v2")
    return target


# --- the machine's network state ------------------------------------------------------------

@dataclass(frozen=True)
class NetworkState:
    """What dockerd changes: the iptables tables that exist, IPv4 and IPv6
    (``iptables-save`` lists only those; ``-t TABLE`` would show an absent one as empty),
    their chains, policies and rules, link names, and ``net.ipv4.ip_forward``."""

    tables: Mapping[str, tuple[str, ...]]
    tables6: Mapping[str, tuple[str, ...]]
    links: frozenset[str]
    ip_forward: str

    @staticmethod
    def _saved(command: str) -> dict[str, tuple[str, ...]]:
        r = _run([command], timeout=30)
        if r.returncode != 0:
            raise DockerEngineError(f"{command} failed: {r.stderr}")
        tables: dict[str, list[str]] = {}
        current: list[str] = []
        for line in r.stdout.splitlines():
            if line.startswith("*"):
                current = tables.setdefault(line[1:].strip(), [])
            elif line and not line.startswith(("#", "COMMIT")):
                current.append(re.sub(r" \[\d+:\d+\]$", "", line).rstrip())
        return {t: tuple(lines) for t, lines in tables.items()}

    @classmethod
    def capture(cls) -> NetworkState:
        tables6 = cls._saved("ip6tables-save") if shutil.which("ip6tables-save") else {}
        links = _run(["ip", "-o", "link", "show"], timeout=30).stdout
        names = frozenset(m.split("@")[0] for m in re.findall(r"^\d+: ([^:]+):", links, re.MULTILINE))
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        return cls(cls._saved("iptables-save"), tables6, names, forward)

    def differences(self, now: NetworkState) -> list[str]:
        """Human-readable differences from ``self`` (before) to ``now``; [] if none."""
        out = []
        for family, before_t, after_t in (("iptables", self.tables, now.tables),
                                          ("ip6tables", self.tables6, now.tables6)):
            for table in sorted(set(before_t) | set(after_t)):
                before, after = before_t.get(table), after_t.get(table)
                if before is None:
                    out.append(f"{family} table {table} appeared: {list(after or ())}")
                elif after is None:
                    out.append(f"{family} table {table} disappeared")
                else:
                    added = [x for x in after if x not in before]
                    removed = [x for x in before if x not in after]
                    if added or removed:
                        out.append(f"{family} {table}: added {added}, removed {removed}")
        if now.links != self.links:
            out.append(f"links added {sorted(now.links - self.links)}, "
                       f"removed {sorted(self.links - now.links)}")
        if self.ip_forward != now.ip_forward:
            out.append(f"net.ipv4.ip_forward {self.ip_forward} -> {now.ip_forward}")
        return out


def _is_empty(lines: Sequence[str]) -> bool:
    """Only built-in chains, all ACCEPT, no rule: what iptables-nft shows of a table it
    created for nothing."""
    return all(re.fullmatch(r":\S+ ACCEPT", x) for x in lines)


def _restore_network(before: NetworkState) -> None:
    """Undo what dockerd added since ``before``: its rules (rules that existed before stay),
    its chains, the policies it changed, the nf_tables tables it created (deleted with
    ``nft`` once empty), its links (docker0, br-*, veth*), ip_forward."""
    now = NetworkState.capture()
    for table, lines in now.tables.items():
        old = before.tables.get(table, ())
        for rule in reversed([x for x in lines if x.startswith("-A ") and x not in old]):
            _run(["iptables", "-t", table, "-D", *shlex.split(rule)[1:]], timeout=30)
        old_chains = {x.split()[0][1:]: x.split()[1] for x in old if x.startswith(":")}
        for line in lines:
            if not line.startswith(":"):
                continue
            chain, policy = line.split()[0][1:], line.split()[1]
            if policy == "-":  # a user-defined chain
                if chain not in old_chains:
                    _run(["iptables", "-t", table, "-F", chain], timeout=30)
                    _run(["iptables", "-t", table, "-X", chain], timeout=30)
            elif old_chains.get(chain, "ACCEPT") != policy:
                _run(["iptables", "-t", table, "-P", chain, old_chains.get(chain, "ACCEPT")],
                     timeout=30)
    for table, lines in NetworkState.capture().tables.items():
        if table not in before.tables and _is_empty(lines) and shutil.which("nft"):
            _run(["nft", "delete", "table", "ip", table], timeout=30)
    for link in sorted(NetworkState.capture().links - before.links):
        if link == "docker0" or link.startswith(("br-", "veth")):
            _run(["ip", "link", "delete", link], timeout=30)
    Path("/proc/sys/net/ipv4/ip_forward").write_text(before.ip_forward + "\n")


# --- the engine -----------------------------------------------------------------------------

class DockerEngine(ManagedProcess):
    """``dockerd`` with everything of its own: data-root ``data_root`` (kept between runs:
    images and build cache), exec-root, pidfile, socket and log under ``workdir``.

    ``bridge`` is docker0's address (CIDR) and ``pool`` the range compose networks are
    taken from; :meth:`start` refuses when either overlaps a route of the machine. Use
    :meth:`env` for the ``docker`` CLI and compose. :meth:`stop` ends the daemon (it stops
    its containers), restores the network and releases the machine-wide lock.
    """

    process_name = "dockerd"
    error = DockerEngineError

    def __init__(
        self,
        workdir: Path | str,
        *,
        data_root: Path | str | None = None,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        bridge: str = "10.231.0.1/24",
        pool: str = "10.231.128.0/17",
        start_timeout_s: float = 60.0,
        lock_timeout_s: float = 900.0,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.cache_dir = cache_dir
        self.data_root = Path(data_root) if data_root else cache_dir / "data-root"
        self.bridge = bridge
        self.pool = pool
        self.lock_timeout_s = lock_timeout_s
        self._lock: IO[bytes] | None = None
        self._before: NetworkState | None = None
        self.last_network_changes: list[str] = []
        super().__init__(start_timeout_s)

    @property
    def socket_path(self) -> Path:
        return self.workdir / "docker.sock"

    @property
    def log_path(self) -> Path:
        return self.workdir / "dockerd.log"

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with ``DOCKER_HOST`` pointing at
        this engine and ``DOCKER_CONFIG`` at a config of its own (no user's credentials or
        context); compose finds the plugin in the system plugin directory."""
        env = dict(os.environ if base is None else base)
        env.update(DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.workdir / "config"))
        env.pop("DOCKER_CONTEXT", None)
        return env

    def docker(self, *args: str, timeout: float = 600, check: bool = True,
               env: Mapping[str, str] | None = None, cwd: Path | None = None,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run Debian's ``docker`` CLI against this engine, with ``env`` added to
        :meth:`env`; ``check`` raises with its output."""
        full = self.env()
        full.update(env or {})
        r = subprocess.run([str(DOCKER_CLI), *args], capture_output=True, text=True,
                           timeout=timeout, env=full, cwd=cwd, input=input, check=False)
        if check and r.returncode != 0:
            raise DockerEngineError(
                f"docker {shlex.join(args)} exited {r.returncode}:\n{r.stdout[-4000:]}"
                f"{r.stderr[-4000:]}"
            )
        return r

    # -- start / stop ------------------------------------------------------------------------
    def _check_subnets(self) -> None:
        routes = _run(["ip", "-4", "route", "show"], timeout=30).stdout
        ours = [IPv4Network(self.bridge, strict=False), IPv4Network(self.pool)]
        for line in routes.splitlines():
            dest = line.split()[0]
            if dest == "default" or "dev docker0" in line:
                continue
            net = IPv4Network(dest if "/" in dest else dest + "/32", strict=False)
            for mine in ours:
                if net.overlaps(mine):
                    raise DockerEngineError(
                        f"the engine's subnet {mine} collides with the route {line.strip()!r}"
                    )

    def _acquire_lock(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.cache_dir / "engine.lock", "wb")  # noqa: SIM115 (held until stop)
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.close()
                    raise DockerEngineError(
                        f"another engine holds {self.cache_dir / 'engine.lock'} "
                        f"for more than {self.lock_timeout_s:.0f} s"
                    ) from None
                time.sleep(1)
        self._lock = lock

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()

    def start(self) -> Self:
        for binary in ("dockerd", "iptables-save", "nft", "ip"):
            if shutil.which(binary) is None:
                raise DockerEngineError(
                    f"{binary} not found: install Debian's docker.io, iptables, nftables and "
                    "iproute2 (make services-deps)"
                )
        if os.geteuid() != 0:
            raise DockerEngineError("dockerd needs root")
        self._acquire_lock()
        try:
            if Path("/sys/class/net/docker0").exists():
                raise DockerEngineError(
                    "docker0 exists: another Docker engine runs on this machine (or one was "
                    "killed without cleaning up); stop it or `ip link delete docker0`"
                )
            self._check_subnets()
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.data_root.mkdir(parents=True, exist_ok=True)
            (self.workdir / "config").mkdir(exist_ok=True)
            self._before = NetworkState.capture()
            self._launch(
                [
                    "dockerd",
                    "--data-root", str(self.data_root),
                    "--exec-root", str(self.workdir / "exec"),
                    "--pidfile", str(self.workdir / "dockerd.pid"),
                    "--host", self.host,
                    "--bip", self.bridge,
                    "--default-address-pool", f"base={self.pool},size=24",
                    "--storage-driver", "overlay2",
                ],
                cwd=self.workdir,
                log_path=self.log_path,
                readiness="GET /_ping",
                env={**os.environ, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
                banner=f"--- dockerd started {time.strftime('%Y-%m-%dT%H:%M:%S')}\n",
            )
        except BaseException:
            self._cleanup()
            raise
        return self

    def ping(self, timeout_s: float = 1.0) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout_s)
                s.connect(str(self.socket_path))
                s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return s.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no dockerd log)"

    def stop(self, timeout_s: float = 90.0) -> None:
        """SIGTERM (dockerd stops its containers, then exits), SIGKILL after ``timeout_s``;
        then restore the network and release the lock."""
        super().stop(timeout_s)
        self._cleanup()

    def _cleanup(self) -> None:
        before, self._before = self._before, None
        try:
            if before is not None:
                _restore_network(before)
                self.last_network_changes = before.differences(NetworkState.capture())
        finally:
            self._release_lock()

    def network_changes(self) -> list[str]:
        """What :meth:`stop` could not restore (empty when the network is as it was)."""
        return list(self.last_network_changes)


def main(argv: Sequence[str]) -> int:
    if list(argv) == ["install-compose"]:
        try:
            path = install_compose_v2()
        except (DockerEngineError, OSError, subprocess.SubprocessError) as e:
            print(f"installing Compose v2 failed: {e}", file=sys.stderr)
            return 1
        print(f"Compose v2 at {path}")
        return 0
    print("usage: python -m blo.localservices.docker_engine install-compose", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
