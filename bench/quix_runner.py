"""(q)/(r) the nearest peer: the same job in Quix Streams 3.28 (``bench/quix/job.py``, its
own virtualenv ``bench/.venv-quix`` from ``bench/quix/setup.sh``) over the same backlog as
the worker's (c) single-event and (d) batched records, measured as (c)/(d) are: events/s
from the first event processed to the last rows written, and CPU per event.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backlog import produce
from processes import CpuWatch, log, service_pid, wait_for_result

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.process import stop_process
from blo.localservices.tansu import TansuBroker

BENCH = Path(__file__).resolve().parent
QUIX_PYTHON = BENCH / ".venv-quix" / "bin" / "python"


def quix_available() -> str | None:
    """None when the Quix virtualenv is there, else why not."""
    if not QUIX_PYTHON.exists():
        return f"no {QUIX_PYTHON}: run sh bench/quix/setup.sh"
    return None


def bench_quix(label: str, broker: TansuBroker, server: ClickHouseServer,
               records: Sequence[tuple[bytes, bytes]], n_events: int, workdir: Path,
               partitions: int, timeout_s: float = 900) -> dict[str, Any]:
    uid = uuid.uuid4().hex[:8]
    topic, group, db = f"bench-quix-{uid}", f"bench-quix-{uid}", f"bench_quix_{uid}"
    broker.create_topics([topic], partitions)
    produce_s = produce(broker.bootstrap, topic, records)
    log(f"({label}) produced {len(records)} records ({n_events} events) in {produce_s:.1f} s; "
        "starting the Quix Streams job")
    result = workdir / f"quix-{uid}.json"
    logf = open(workdir / f"quix-{uid}.log", "wb")  # noqa: SIM115
    env = dict(os.environ, PYTHONPATH=str(BENCH.parent))
    proc = subprocess.Popen(
        [str(QUIX_PYTHON), str(BENCH / "quix" / "job.py"), "--bootstrap", broker.bootstrap,
         "--topic", topic, "--group", group, "--clickhouse", f"{server.host}:{server.tcp_port}",
         "--db", db, "--expect", str(n_events), "--result", str(result),
         "--state-dir", str(workdir / f"quix-state-{uid}")],
        stdout=logf, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    watch = CpuWatch({"quix": proc.pid, "clickhouse": service_pid(server),
                      "tansu": service_pid(broker)})
    watch.mark()
    t_spawn = time.monotonic()
    try:
        wait_for_result(result, proc, f"the Quix job ({logf.name})", timeout_s)
        cpu = watch.since()
    finally:
        stop_process(proc, 30)
        logf.close()
    r = json.loads(result.read_text())
    from clickhouse_driver import Client

    ch = Client(host=server.host, port=server.tcp_port, user="default")
    try:
        final = int(ch.execute(f"SELECT count() FROM {db}.events FINAL")[0][0])
    finally:
        ch.disconnect()
    elapsed = r["t_last"] - r["t_first"]
    return {
        "records": len(records), "events": n_events, "elapsed_s": elapsed,
        "rate": n_events / elapsed if elapsed > 0 else 0.0,
        "startup_s": r["t_first"] - t_spawn, "produce_s": produce_s,
        "cpu_us_per_event": (r["cpu_last"] - r["cpu_first"]) / n_events * 1e6,
        "cpu": cpu,  # from spawn: includes start-up
        "rejected": r["rejected"], "windows": r["windows"], "final_count": final,
        "verified": final == n_events,
    }
