"""The processes under measurement: CPU seconds, the worker's ``/metrics``, its log's crash
lines; and the bench's own log line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
_METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|\+Inf)$')


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int | None) -> float:
    """utime+stime of a process (all its threads), 0 when it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def child_pid(pid: int) -> int | None:
    """The first child process of ``pid`` (the worker's ingest process, when it has one)."""
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids = (task / "children").read_text().split()
            if kids:
                return int(kids[0])
    except OSError:
        return None
    return None


def tree_pids(pid: int | None) -> list[int]:
    """``pid`` and all its descendants (through ``/proc/<pid>/task/*/children``)."""
    if pid is None:
        return []
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(k) for k in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def tree_cpu_seconds(pid: int | None) -> float:
    """utime+stime of a process and its live descendants (a child that exited is lost, so
    mark and read while the tree is stable)."""
    return sum(cpu_seconds(p) for p in tree_pids(pid))


def split_cpu_seconds(pid: int | None) -> tuple[float, float]:
    """(utime+stime of ``pid`` itself, of its live descendants): the worker's Faust process
    and its ingest processes."""
    return cpu_seconds(pid), sum(cpu_seconds(p) for p in tree_pids(pid)[1:])


def tree_rss(pid: int | None) -> tuple[int, int]:
    """(current RSS, sum of each process's peak RSS ``VmHWM``) of a process tree, bytes."""
    rss = hwm = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, hwm


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, steal) CPU-seconds of all CPUs since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK, parts[7] / CLK_TCK


class CpuWatch:
    """CPU seconds of named processes and of the whole machine between two marks."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._machine: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def mark(self) -> None:
        self._start = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self._machine = machine_busy()

    def since(self) -> dict[str, float]:
        out = {k: cpu_seconds(p) - self._start.get(k, 0.0) for k, p in self.pids.items()}
        busy, total, steal = machine_busy()
        out["machine_busy"] = busy - self._machine[0]
        out["machine_total"] = total - self._machine[1]
        out["machine_steal"] = steal - self._machine[2]
        return out


def service_pid(service: Any) -> int | None:
    proc = getattr(service, "_proc", None)  # the launchers keep their Popen there
    return proc.pid if proc is not None else None


def scrape_metrics(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            body = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = defaultdict(float)
    for line in body.splitlines():
        m = _METRIC.match(line)
        if m:
            out[m.group(1)] += float(m.group(3))
    return out


class WorkerFailed(RuntimeError):
    def __init__(self, what: str, problems: str) -> None:
        super().__init__(f"{what}:\n{problems}")
        self.what, self.problems = what, problems


_CRASH = re.compile(r"Restarting dead <Agent|CRITICAL")


def log_problems(path: Path, context: int = 2) -> str:
    """The worker log's crash lines (Faust restarts a crashed agent and keeps running, so
    the process does not exit: its records stay unacknowledged and the run never ends)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    hits = [i for i, ln in enumerate(lines) if _CRASH.search(ln)]
    if not hits:
        return ""
    keep = sorted({j for i in hits for j in range(i, min(len(lines), i + 1 + context))}
                  | {i for i, ln in enumerate(lines) if "Error" in ln and ":" in ln})
    return "\n".join(lines[j][:400] for j in keep[:12])


def wait_for_result(result: Path, proc: subprocess.Popen[bytes], what: str, timeout_s: float,
                    check: Callable[[], str] | None = None) -> None:
    """Wait until ``proc`` (the job called ``what``) writes ``result``; RuntimeError if it
    exits without writing it, after ``timeout_s``, or when ``check`` (called once a second,
    e.g. :func:`log_problems` of its log) returns a problem."""
    t_spawn = last_check = time.monotonic()
    while not result.exists():
        if proc.poll() is not None and not result.exists():
            raise RuntimeError(f"{what} exited {proc.returncode}; see its log")
        now = time.monotonic()
        if check is not None and now - last_check > 1.0:
            last_check = now
            if problems := check():
                raise RuntimeError(f"{what} crashed:\n{problems}")
        if now - t_spawn > timeout_s:
            raise RuntimeError(f"{what} did not finish in {timeout_s:.0f} s")
        time.sleep(0.1)


def stop_services(server: Any, broker: Any, workdir: Path, keep: bool, remove: bool = True
                  ) -> None:
    """The bench's teardown: ClickHouse and the broker stopped (either may be None), the
    work directory kept (said) or removed."""
    if server is not None:
        server.stop()
    if broker is not None:
        broker.stop()
    if keep:
        log(f"kept {workdir}")
    elif remove:
        shutil.rmtree(workdir, ignore_errors=True)
