"""(b) the count-only Faust agent and (c)/(d) the real worker, each run over the backlog on
a local Tansu broker (and ClickHouse server), measured from outside.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backlog import Backlog, produce
from processes import (
    CpuWatch,
    WorkerFailed,
    child_pid,
    log,
    log_problems,
    scrape_metrics,
    service_pid,
    wait_for_result,
)
from profiling import summarize_profile

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.process import stop_process
from blo.localservices.tansu import TansuBroker, free_port
from schemas.station import StationRecord

BENCH = Path(__file__).resolve().parent


def bench_faust_count(broker: TansuBroker, backlog: Backlog, workdir: Path, partitions: int,
                      take: int, within: float) -> dict[str, Any]:
    uid = uuid.uuid4().hex[:8]
    topic, group = f"bench-count-{uid}", f"bench-count-{uid}"
    broker.create_topics([topic], partitions)
    produce_s = produce(broker.bootstrap, topic, backlog.single)
    log(f"(b) produced {len(backlog.single)} records in {produce_s:.1f} s; starting the "
        "count-only Faust agent")
    result = workdir / f"count-{uid}.json"
    logf = open(workdir / f"faust-count-{uid}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "faust_count.py"), "--bootstrap", broker.bootstrap,
         "--topic", topic, "--group", group, "--expect", str(len(backlog.single)),
         "--result", str(result), "--datadir", str(workdir / f"faust-{uid}"),
         "--partitions", str(partitions), "--take", str(take), "--within", str(within)],
        stdout=logf, stderr=subprocess.STDOUT, cwd=workdir,
    )
    watch = CpuWatch({"faust": proc.pid, "tansu": service_pid(broker)})
    watch.mark()
    t_spawn = time.monotonic()
    try:
        wait_for_result(result, proc, f"faust_count ({logf.name})", 600)
        cpu = watch.since()
    finally:
        stop_process(proc, 30)
        logf.close()
    r = json.loads(result.read_text())
    elapsed = r["t_last"] - r["t_first"]
    if elapsed <= 0:
        raise SystemExit(f"(b): all {r['count']} records came in one batch, so there is no rate "
                         "after the first record to measure: use more --events (20000 or more)")
    return {
        "records": r["count"], "batches": r["batches"], "first_batch": r["first_batch"],
        "elapsed_s": elapsed, "rate": r["count"] / elapsed,
        "rate_steady": (r["count"] - r["first_batch"]) / elapsed,
        "startup_s": r["t_first"] - t_spawn, "produce_s": produce_s,
        "cpu_total": cpu,  # from spawn: includes start-up and group join
        "cpu_us_per_record": (r["cpu_last"] - r["cpu_first"]) / max(1, r["count"] - r["first_batch"]) * 1e6,
    }


def _ch_client(server: ClickHouseServer) -> Any:
    from clickhouse_driver import Client

    return Client(host=server.host, port=server.tcp_port, user="default",
                  send_receive_timeout=120)


def _ch_events(client: Any) -> dict[str, int]:
    rows = client.execute("SELECT event, value FROM system.events")
    return {str(k): int(v) for k, v in rows}


def worker_environment(broker: TansuBroker, server: ClickHouseServer, uid: str, db: str,
                       partitions: int, port: int, wdir: Path,
                       worker_env: dict[str, str]) -> dict[str, str]:
    """The environment of a bench worker: topics ``bench-raw-<uid>``, ``bench-stations-<uid>``
    and ``bench-dlq-<uid>`` (the caller creates them), its own group, database, web port
    and data directory, then ``worker_env`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(
        BLO_KAFKA_BOOTSTRAP=broker.bootstrap, BLO_CLICKHOUSE_URL=server.url(db),
        BLO_KAFKA_TOPIC_RAW=f"bench-raw-{uid}", BLO_KAFKA_TOPIC_STATIONS=f"bench-stations-{uid}",
        BLO_KAFKA_TOPIC_DLQ=f"bench-dlq-{uid}",
        BLO_KAFKA_GROUP_ID=f"bench-{uid}", BLO_KAFKA_PARTITIONS=str(partitions),
        BLO_KAFKA_SESSION_TIMEOUT_S="6", BLO_WEB_PORT=str(port), BLO_DATA_DIR=str(wdir),
        BLO_KAFKA_TOPIC_WINDOWS=f"windows-{uid}", BLO_KAFKA_TOPIC_ALERT_INPUT=f"ain-{uid}",
        BLO_KAFKA_TOPIC_ALERTS=f"alerts-{uid}",
    )
    env.update(worker_env)
    return env


def bench_worker(label: str, broker: TansuBroker, server: ClickHouseServer,
                 records: Sequence[tuple[bytes, bytes]], n_events: int, stations: list[StationRecord],
                 workdir: Path, partitions: int, worker_env: dict[str, str],
                 profile_dir: Path | None, variant: str = "") -> dict[str, Any]:
    uid = uuid.uuid4().hex[:8]
    raw, st_topic, dlq = f"bench-raw-{uid}", f"bench-stations-{uid}", f"bench-dlq-{uid}"
    db = f"bench_{label}_{uid}"
    broker.create_topics([raw, dlq], partitions)
    broker.create_topics([st_topic], 1)
    produce(broker.bootstrap, st_topic,
            [(s.station_id.encode(), s.model_dump_json().encode()) for s in stations])
    produce_s = produce(broker.bootstrap, raw, records)
    log(f"({label}) produced {len(records)} records ({n_events} events) in {produce_s:.1f} s; "
        "starting the worker")
    port = free_port()
    wdir = workdir / f"worker-{label}-{uid}"
    wdir.mkdir(parents=True)
    env = worker_environment(broker, server, uid, db, partitions, port, wdir, worker_env)
    ch = _ch_client(server)
    ch_before = _ch_events(ch)
    logf = open(wdir / "worker.log", "wb")  # noqa: SIM115
    cmd = [sys.executable, "-m", "blo"]
    if variant:
        cmd = [sys.executable, str(BENCH / "worker_variants.py"), variant, "--"]
    proc = subprocess.Popen([*cmd, "worker", "--migrate"], env=env,
                            stdout=logf, stderr=subprocess.STDOUT, cwd=wdir)
    watch = CpuWatch({"worker": proc.pid, "clickhouse": service_pid(server),
                      "tansu": service_pid(broker)})
    spy: subprocess.Popen[bytes] | None = None
    spy_out = profile_dir / f"{label}.collapsed.txt" if profile_dir else None
    t_spawn = time.monotonic()
    t_first = t_consumed = t_done = None
    first_consumed = 0
    n = len(records)
    last_log_check = t_spawn
    # every ~0.5 s: (s since first, records consumed, records acked, events consumed,
    # rows written, rows buffered in the sink, backpressured 0/1)
    timeline: list[tuple[float, int, int, int, int, int, int]] = []
    m: dict[str, float] = {}
    cpu: dict[str, float] = {}
    try:
        while True:
            if proc.poll() is not None:
                raise WorkerFailed(f"({label}) worker exited {proc.returncode}",
                                   log_problems(wdir / "worker.log"))
            now = time.monotonic()
            if now - last_log_check > 1.0:
                last_log_check = now
                problems = log_problems(wdir / "worker.log")
                if problems:
                    raise WorkerFailed(f"({label}) the worker's ingest agent crashed", problems)
            if now - t_spawn > 900:
                raise RuntimeError(f"({label}) not done after 900 s: {dict(m)}")
            m = scrape_metrics(port)
            consumed = m.get("blo_records_consumed_total", 0)
            acked = m.get("blo_offsets_acked_total", 0)
            if t_first is None and consumed > 0:
                t_first, first_consumed = now, int(consumed)
                watch.pids["ingest"] = child_pid(proc.pid)  # BLO_INGEST_PROCESS=separate
                watch.mark()
                if spy_out is not None:
                    spy = subprocess.Popen(
                        ["py-spy", "record", "--pid", str(proc.pid), "--subprocesses", "--rate", "100",
                         "--threads", "--format", "raw", "--output", str(spy_out),
                         "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if t_consumed is None and consumed >= n:
                t_consumed = now
            if t_first is not None and (not timeline or now - t_first - timeline[-1][0] >= 0.5):
                timeline.append((round(now - t_first, 2), int(consumed), int(acked),
                                 int(m.get("blo_events_consumed_total", 0)),
                                 int(m.get("blo_sink_rows_written_total", 0)),
                                 int(m.get("blo_sink_buffered_rows", 0)),
                                 int(m.get("blo_sink_backpressured", 0))))
            if acked >= n:
                t_done = now
                cpu = watch.since()
                break
            time.sleep(0.1)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        ch_after = _ch_events(ch)
        final = ch.execute(f"SELECT count() FROM {db}.events FINAL")[0][0]
        dlq_rows = ch.execute(f"SELECT count() FROM {db}.dlq")[0][0]
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        code = stop_process(proc, 60)
        logf.close()
        ch.disconnect()
    assert t_first is not None and t_done is not None
    elapsed = t_done - t_first
    res = {
        "records": n, "events": n_events, "first_batch": first_consumed,
        "elapsed_s": elapsed, "rate": n_events / elapsed,
        "consume_s": (t_consumed or t_done) - t_first, "tail_s": t_done - (t_consumed or t_done),
        "startup_s": t_first - t_spawn, "produce_s": produce_s,
        "final_count": int(final), "dlq_rows": int(dlq_rows), "verified": int(final) == n_events,
        "dead_lettered": m.get("blo_events_dead_lettered_total", 0),
        "flushes": m.get("blo_sink_flushes_total", 0),
        "insert_s_total": m.get("blo_sink_flush_seconds_sum", 0.0),
        "pauses": m.get("blo_consumer_pauses_total", 0),
        "cpu": cpu,
        "clickhouse_events": {k: v - ch_before.get(k, 0) for k, v in ch_after.items()
                              if v != ch_before.get(k, 0)},
        "exit_code": code, "env": worker_env, "variant": variant, "timeline": timeline,
    }
    if spy_out is not None and spy_out.exists():
        res["profile"] = summarize_profile(spy_out)
        res["profile_file"] = str(spy_out)
    return res
