"""Live traffic against one running worker: event→visible latency, whether it keeps up, and
its CPU per event against its own backlog cost, from one run (issue 15).

    .venv/bin/python bench/live_bench.py [--rates 200,1000,3000,5000] [--duration 20]
    .venv/bin/python bench/live_bench.py --rates 1000 --profile prof/   # py-spy the worker
    .venv/bin/python bench/live_bench.py --rates '' --backlog-events 1000000 \\
        --backlog-batch-events 100                                      # peak RSS of an import

It starts a Tansu broker and a ClickHouse 18.16 server (``blo.localservices``), then:

1. **Backlog** (the comparison): ``--backlog-events`` simulated events (``backlog.py``, one
   per record unless ``--backlog-batch-events``) are produced before a real ``python -m blo
   worker --migrate`` starts; it drains them. Measured from the first record consumed to
   the last acknowledged (``/metrics`` polled every 0.2 s): events/s, CPU µs per event of
   the worker's whole process tree (Faust process, ingest process, any other child; from
   ``/proc/<pid>/stat``), and the tree's peak resident memory (the sum of the processes'
   RSS sampled every 0.2 s, and the sum of their ``VmHWM``).
   Then the idle worker's CPU per second over ``--idle-s`` (its fixed cost: timers,
   window and alert ticks, Kafka polls).
2. **Live**, for each rate of ``--rates``, on the same worker, now idle and caught up: a
   load generator in a separate process (``bench/loadgen.py``; confluent-kafka from
   ``bench/.venv-quix`` when that exists, else kafka-python; 50 ms linger) offers fresh
   single-event records (event times around now; each station's ``source_seq`` continuing
   without a gap, unless ``--seq-gaps``) at a steady rate for ``--duration`` seconds.
   Measured:

   - event→visible latency p50/p99/max. Visibility is when the event's row is readable in
     ClickHouse: the bench polls ``SELECT count() FROM events`` every ``--poll-s`` (50 ms;
     one cheap query, a few hundred µs of server CPU, so the polling does not dominate)
     and event ``i`` in send order is visible at the first poll whose count reaches it
     (``latency.py``: exact when rows appear in send order; with 4 partitions they may
     not, by at most the spread of one insert; resolution one poll interval);
   - whether it kept up: every event visible within ``--drain-s`` after the offer ended,
     rows visible at ≥ 90 % of the rate sent (over the offer's span shifted by the median
     latency), and the time from the end of the offer to the last event's visibility at
     most max(3 s, 2 × p50) (a worker falling behind ends with a backlog to drain);
   - worker CPU µs per event: the tree's CPU seconds over the offered interval divided by
     the events the worker consumed in it (``blo_events_consumed_total``, scraped at the two
     ends only), and its ratio to the backlog's cost above — the figure issue 15 asks to be
     ≤ 1.3 at 1,000 events/s; and the same CPU split between the Faust process and its
     children (the ingest processes), in ms per second of the offer.

   The machine's busy share over each interval is printed (the machine is shared: ratios
   matter more than absolute figures). ``--profile DIR`` attaches ``py-spy record
   --subprocesses`` to the worker during the ``--profile-rate`` phase and prints where
   the samples fall (``profiling.py``, the live buckets).

Options pass on as in pipeline_bench (``--worker-env KEY=VALUE``, ``--partitions``).
Results and findings: docs/performance.md ("Live traffic").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson
from backlog import make_backlog, produce
from latency import match_visibility, percentile, visible_rate
from processes import (
    CpuWatch,
    WorkerFailed,
    log,
    log_problems,
    scrape_metrics,
    service_pid,
    split_cpu_seconds,
    stop_services,
    tree_cpu_seconds,
    tree_rss,
)
from profiling import LIVE_BUCKETS, summarize_profile
from runners import worker_environment

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.process import stop_process
from blo.localservices.tansu import TansuBroker, free_port
from blo.simulate import TrafficGenerator
from schemas.identity import derive_event_id
from schemas.station import StationRecord

QUIX_PYTHON = BENCH / ".venv-quix" / "bin" / "python"


class Worker:
    """One ``blo worker`` under measurement: its process, /metrics port and log."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, wdir: Path) -> None:
        self.proc, self.port, self.wdir = proc, port, wdir

    def metrics(self) -> dict[str, float]:
        return scrape_metrics(self.port)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise WorkerFailed(f"worker exited {self.proc.returncode}",
                               log_problems(self.wdir / "worker.log"))
        problems = log_problems(self.wdir / "worker.log")
        if problems:
            raise WorkerFailed("the worker's ingest agent crashed", problems)


def _count(ch: Any, db: str) -> int:
    return int(ch.execute(f"SELECT count() FROM {db}.events")[0][0])


def drain_backlog(worker: Worker, n_records: int, n_events: int, watch: CpuWatch,
                  timeout_s: float = 1800) -> dict[str, Any]:
    """Wait for the worker to acknowledge ``n_records``; rate, CPU and peak RSS."""
    t_spawn = time.monotonic()
    t_first: float | None = None
    cpu0 = 0.0
    peak_rss = peak_hwm = 0
    rss_timeline: list[tuple[float, int, float]] = []  # (s since first, events, RSS MB)
    last_check = t_spawn
    while True:
        now = time.monotonic()
        if now - last_check > 1.0:
            worker.check()
            last_check = now
        if now - t_spawn > timeout_s:
            raise RuntimeError(f"backlog not drained after {timeout_s:.0f} s")
        m = worker.metrics()
        rss, hwm = tree_rss(worker.proc.pid)
        peak_rss, peak_hwm = max(peak_rss, rss), max(peak_hwm, hwm)
        if t_first is not None and (not rss_timeline or now - t_first - rss_timeline[-1][0] >= 1):
            rss_timeline.append((round(now - t_first, 1),
                                 int(m.get("blo_events_consumed_total", 0)), rss / 2**20))
        if t_first is None and m.get("blo_records_consumed_total", 0) > 0:
            t_first = now
            cpu0 = tree_cpu_seconds(worker.proc.pid)
            watch.mark()
        if m.get("blo_offsets_acked_total", 0) >= n_records:
            assert t_first is not None
            cpu = tree_cpu_seconds(worker.proc.pid) - cpu0
            other = watch.since()
            elapsed = now - t_first
            return {"records": n_records, "events": n_events, "elapsed_s": elapsed,
                    "rate": n_events / elapsed, "startup_s": t_first - t_spawn,
                    "worker_cpu_s": cpu, "cpu_us_per_event": cpu / n_events * 1e6,
                    "cpu": other, "peak_rss_mb": peak_rss / 2**20,
                    "peak_hwm_sum_mb": peak_hwm / 2**20, "rss_timeline": rss_timeline}
        time.sleep(0.2)


def last_seqs(records: Sequence[tuple[bytes, bytes]]) -> dict[str, int]:
    """The highest ``source_seq`` of each station in records of one event or an array."""
    out: dict[str, int] = {}
    for _, v in records:
        obj = orjson.loads(v)
        for e in obj if isinstance(obj, list) else (obj,):
            out[e["station_id"]] = max(out.get(e["station_id"], 0), e["source_seq"])
    return out


def live_records(stations: list[StationRecord], n: int, seed: int, span_s: float,
                 next_seq: dict[str, int] | None) -> list[tuple[bytes, bytes]]:
    """``n`` fresh events, event times from ``span_s`` ago to about now.

    ``next_seq`` (station → its next ``source_seq``, advanced here): each station's numbers
    continue without a gap, as a live source sends them. None: the generator's own numbers
    (seeded by its start time, so every phase opens a gap of millions of numbers at every
    station; the shipped ``sequence_gap`` rule then holds every later number of the station
    until ``reorder_s`` of event time passed — ``--seq-gaps`` measures that case)."""
    start = datetime.now(UTC) - timedelta(seconds=span_s)
    gen = TrafficGenerator(stations, rate=n / span_s, seed=seed, start=start)
    out = []
    for e in gen.events(n):
        sid = e["station_id"]
        if next_seq is not None:
            e["source_seq"] = next_seq.get(sid, 1)
            next_seq[sid] = e["source_seq"] + 1
        e["event_id"] = str(derive_event_id(sid, e["source_seq"]))
        out.append((sid.encode(), orjson.dumps(e)))
    return out


def offer(worker: Worker, ch: Any, db: str, broker: TansuBroker, topic: str,
          records: Sequence[tuple[bytes, bytes]], rate: float, workdir: Path, watch: CpuWatch,
          poll_s: float, drain_s: float, producer_python: str,
          profile_out: Path | None) -> dict[str, Any]:
    """One live phase: offer ``records`` at ``rate``, poll visibility, measure the worker."""
    tag = f"{int(rate)}-{uuid.uuid4().hex[:6]}"
    rec_file, result = workdir / f"live-{tag}.tsv", workdir / f"live-{tag}.json"
    rec_file.write_bytes(b"".join(k + b"\t" + v + b"\n" for k, v in records))
    with open(workdir / f"loadgen-{tag}.log", "wb") as glog:
        gen = subprocess.Popen(
            [producer_python, str(BENCH / "loadgen.py"), "--bootstrap", broker.bootstrap,
             "--topic", topic, "--records", str(rec_file), "--rate", str(rate),
             "--result", str(result)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=glog)
    assert gen.stdin is not None and gen.stdout is not None
    if gen.stdout.readline().strip() != b"READY":
        raise RuntimeError(f"the load generator did not start; see loadgen-{tag}.log")
    base = _count(ch, db)
    m0 = worker.metrics()
    cpu0 = tree_cpu_seconds(worker.proc.pid)
    split0 = split_cpu_seconds(worker.proc.pid)
    watch.mark()
    spy = None
    if profile_out is not None:
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(worker.proc.pid), "--subprocesses", "--rate",
             "100", "--threads", "--format", "raw", "--output", str(profile_out),
             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gen.stdin.write(b"GO\n")
    gen.stdin.flush()
    polls: list[tuple[float, int]] = []
    n = len(records)
    t_offer_end: float | None = None
    cpu: dict[str, float] = {}
    m1: dict[str, float] = {}
    cpu_worker = 0.0
    split = (0.0, 0.0)
    last_check = time.monotonic()
    while True:
        t = time.time()
        c = _count(ch, db)
        polls.append((t, c))
        if t_offer_end is None and gen.poll() is not None:
            t_offer_end = t
            cpu_worker = tree_cpu_seconds(worker.proc.pid) - cpu0
            split1 = split_cpu_seconds(worker.proc.pid)
            split = (split1[0] - split0[0], split1[1] - split0[1])
            cpu = watch.since()
            m1 = worker.metrics()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
        if t_offer_end is not None and (c >= base + n or t - t_offer_end > drain_s):
            break
        if time.monotonic() - last_check > 1.0:
            worker.check()
            last_check = time.monotonic()
        time.sleep(max(0.0, poll_s - (time.time() - t)))
    if gen.returncode != 0:
        raise RuntimeError(f"the load generator exited {gen.returncode}; see loadgen-{tag}.log")
    if spy is not None:
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
    g = json.loads(result.read_text())
    sent: list[float] = g["sent"]
    lat = match_visibility(sent, polls, base)
    seen = [x for x in lat if x is not None]
    consumed = m1.get("blo_events_consumed_total", 0) - m0.get("blo_events_consumed_total", 0)
    offer_s = g["t_end"] - g["t0"]
    res: dict[str, Any] = {
        "rate_offered": rate, "events": n, "offer_s": offer_s, "producer": g["producer"],
        "loadgen_cpu_s": g["cpu_s"], "loadgen_max_behind_s": g["max_behind_s"],
        "rate_sent": n / offer_s if offer_s > 0 else 0.0,
        "visible": len(seen), "p50_s": percentile(seen, 50), "p99_s": percentile(seen, 99),
        "max_s": max(seen) if seen else float("nan"),
        # over the offer's span shifted by the median latency: the rows of that span
        "rate_visible": visible_rate(polls, g["t0"] + percentile(seen, 50),
                                     g["t_end"] + percentile(seen, 50)) if seen else 0.0,
        "all_visible": len(seen) == n,
        "drain_after_offer_s": (polls[-1][0] - g["t_end"]) if len(seen) == n else None,
        "consumed_in_offer": consumed, "worker_cpu_s": cpu_worker,
        "cpu_us_per_event": cpu_worker / consumed * 1e6 if consumed else float("nan"),
        "cpu": cpu, "polls": len(polls),
        # the Faust process and its children (the ingest processes), ms of CPU per second
        "faust_ms_per_s": split[0] / offer_s * 1e3 if offer_s > 0 else 0.0,
        "ingest_ms_per_s": split[1] / offer_s * 1e3 if offer_s > 0 else 0.0,
        # what the worker did per phase, per-take and per-flush work included
        "counters": {k: m1.get(k, 0) - m0.get(k, 0) for k in (
            "blo_records_consumed_total", "blo_sink_flushes_total", "blo_sink_flush_seconds_sum",
            "blo_sink_flush_seconds_count", "blo_window_rows_emitted_total",
            "blo_alert_input_records_total", "blo_consumer_pauses_total",
            "blo_ingest_take_records_count", "blo_ingest_take_records_sum")},
    }
    # kept up: everything visible, rows visible at ≥ 90 % of the rate sent, and the tail
    # after the offer no longer than the latency the offer itself saw (a worker falling
    # behind ends with a backlog to drain)
    res["kept_up"] = bool(res["all_visible"] and res["drain_after_offer_s"] is not None
                          and res["rate_visible"] >= 0.9 * res["rate_sent"]
                          and res["drain_after_offer_s"] <= max(3.0, 2 * res["p50_s"]))
    if profile_out is not None and profile_out.exists():
        res["profile"] = summarize_profile(profile_out, LIVE_BUCKETS)
        res["profile_file"] = str(profile_out)
    return res


def _busy(cpu: dict[str, float]) -> float:
    return cpu["machine_busy"] / cpu["machine_total"] * 100 if cpu.get("machine_total") else 0.0


def report(res: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    meta = res["meta"]
    add("=" * 78)
    add(f"BLO live bench  {meta['date']}  host {meta['host']}  {meta['cpus']} CPUs  "
        f"revision {meta['revision']}  {meta['partitions']} partitions")
    if meta["worker_env"]:
        add(f"worker env: {meta['worker_env']}")
    add("live source_seq: " + ("a new sequence per phase (a gap at every station)"
                               if meta.get("seq_gaps") else "continuing each station's, no gaps"))
    b = res["backlog"]
    cpu = b["cpu"]
    add(f"backlog: {b['events']:,} events in {b['records']:,} records: {b['rate']:,.0f} events/s, "
        f"worker tree {b['cpu_us_per_event']:.1f} µs/event, clickhouse "
        f"{cpu['clickhouse'] / b['events'] * 1e6:.1f}, tansu {cpu['tansu'] / b['events'] * 1e6:.1f}; "
        f"machine busy {_busy(cpu):.0f}%")
    add(f"         worker tree peak RSS {b['peak_rss_mb']:,.0f} MB (sampled every 0.2 s; "
        f"sum of the processes' VmHWM {b['peak_hwm_sum_mb']:,.0f} MB)")
    tl = b.get("rss_timeline") or []
    if len(tl) >= 4:
        marks = [tl[min(len(tl) - 1, round(len(tl) * f))] for f in (0.1, 0.25, 0.5, 0.75, 1.0)]
        add("         RSS while draining (events consumed → MB): " + ", ".join(
            f"{ev:,} → {mb:,.0f}" for _, ev, mb in marks))
    if "idle_cpu_ms_per_s" in res:
        add(f"idle worker (caught up, no events): {res['idle_cpu_ms_per_s']:.0f} ms CPU per second "
            "(timers, window and alert ticks, polls)")
    if res["live"]:
        add("-" * 78)
        add(f"{'offered/s':>9} {'sent/s':>8} {'visible/s':>9} {'kept up':>7} {'p50 s':>6} "
            f"{'p99 s':>6} {'max s':>6} {'µs/ev':>6} {'×backlog':>8} {'busy':>5}  producer")
    for x in res["live"]:
        add(f"{x['rate_offered']:>9,.0f} {x['rate_sent']:>8,.0f} {x['rate_visible']:>9,.0f} "
            f"{'yes' if x['kept_up'] else 'NO':>7} {x['p50_s']:>6.2f} {x['p99_s']:>6.2f} "
            f"{x['max_s']:>6.2f} {x['cpu_us_per_event']:>6.0f} "
            f"{x['cpu_us_per_event'] / b['cpu_us_per_event']:>8.2f} {_busy(x['cpu']):>4.0f}%  "
            f"{x['producer']} ({x['loadgen_cpu_s'] / max(1, x['events']) * 1e6:.0f} µs/rec)")
    for x in res["live"]:
        add(f"{x['rate_offered']:>9,.0f}/s worker CPU by process: Faust process "
            f"{x['faust_ms_per_s']:.0f} ms/s, ingest processes {x['ingest_ms_per_s']:.0f} ms/s")
    for x in res["live"]:
        k = x["counters"]
        add(f"{x['rate_offered']:>9,.0f}/s during the offer: {k['blo_sink_flushes_total']:.0f} sink "
            f"flushes ({k['blo_sink_flushes_total'] / x['offer_s']:.1f}/s), "
            f"{k['blo_window_rows_emitted_total']:,.0f} window rows emitted, "
            f"{k['blo_alert_input_records_total']:,.0f} alert input records, "
            f"{k['blo_consumer_pauses_total']:.0f} backpressure pauses")
        takes = k.get("blo_ingest_take_records_count", 0)
        if takes:  # blo_ingest_take_records (since session 13)
            add(f"{'':>11}takes: {takes:,.0f} ({takes / x['offer_s']:.1f}/s), "
                f"{k['blo_ingest_take_records_sum'] / takes:,.0f} records each on average")
    for x in res["live"]:
        if x["rate_offered"] == 1000:
            r = x["cpu_us_per_event"] / b["cpu_us_per_event"]
            add(f"1,000/s: live/backlog CPU {r:.2f} (target ≤ 1.3), p50 {x['p50_s']:.2f} s "
                f"(≤ 0.3), p99 {x['p99_s']:.2f} s (≤ 1)")
        if x["rate_offered"] == 5000:
            add(f"5,000/s: kept up {'yes' if x['kept_up'] else 'NO'}, p99 {x['p99_s']:.2f} s (≤ 2)")
    for x in res["live"]:
        if "profile" not in x:
            continue
        p = x["profile"]
        tot = p["samples"] or 1
        wall = x["offer_s"] * 100 or 1
        add(f"py-spy at {x['rate_offered']:,.0f}/s ({p['samples']} non-idle samples @100 Hz over "
            f"{x['offer_s']:.0f} s, all processes of the worker); busy share of wall time per "
            "thread: " + ", ".join(f"{k} {v / wall:.0%}" for k, v in p["threads"].items()))
        # py-spy counts a thread as busy also while it waits for a core (the machine is
        # shared), so the samples give shares; µs/event = share × the measured tree CPU
        add("  share of samples, × the tree's measured CPU per event:")
        for k, v in p["buckets"].items():
            add(f"  {v / tot:6.1%}  {v / tot * x['cpu_us_per_event']:6.1f} µs/ev  {k}")
    add("=" * 78)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="200,1000,3000,5000",
                    help="events/s offered, one phase each ('' for the backlog only)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    ap.add_argument("--backlog-events", type=int, default=50_000)
    ap.add_argument("--backlog-batch-events", type=int, default=0, metavar="N",
                    help="backlog of records of ~N events (0, default: one event per record)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--poll-s", type=float, default=0.05, help="visibility poll interval")
    ap.add_argument("--drain-s", type=float, default=30.0,
                    help="how long to wait for the last events after the offer ends")
    ap.add_argument("--settle-s", type=float, default=3.0, help="idle time before each rate")
    ap.add_argument("--idle-s", type=float, default=10.0,
                    help="measure the idle worker's CPU for this long after the backlog (0: no)")
    ap.add_argument("--seq-gaps", action="store_true",
                    help="each phase's events take new source_seq numbers (a gap of millions "
                         "at every station, as a restarted source) instead of continuing")
    ap.add_argument("--producer-python", default="",
                    help="interpreter of the load generator (default: bench/.venv-quix's, "
                         "which has confluent-kafka, else this one with kafka-python)")
    ap.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="py-spy the worker during the --profile-rate phase")
    ap.add_argument("--profile-rate", type=float, default=1000.0)
    ap.add_argument("--json", type=Path, metavar="FILE")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args(argv)
    rates = [float(x) for x in args.rates.split(",") if x.strip()]
    worker_env = dict(kv.split("=", 1) for kv in args.worker_env)
    producer_python = args.producer_python or (
        str(QUIX_PYTHON) if QUIX_PYTHON.exists() else sys.executable)
    if args.profile:
        venv_spy = Path(sys.executable).parent / "py-spy"
        if shutil.which("py-spy") is None and venv_spy.exists():
            os.environ["PATH"] = f"{venv_spy.parent}{os.pathsep}{os.environ['PATH']}"
        if shutil.which("py-spy") is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    from pipeline_bench import _revision

    workdir = Path(tempfile.mkdtemp(prefix="blo-live-")).resolve()
    t0 = time.monotonic()
    backlog = make_backlog(args.backlog_events, args.backlog_batch_events or 100)
    records = backlog.batched if args.backlog_batch_events else backlog.single
    res: dict[str, Any] = {"meta": {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "host": os.uname().nodename,
        "cpus": os.cpu_count(), "revision": _revision(), "partitions": args.partitions,
        "worker_env": worker_env, "rates": rates, "duration_s": args.duration,
        "poll_s": args.poll_s, "seq_gaps": args.seq_gaps,
    }, "live": []}
    broker = server = None
    worker: Worker | None = None
    logf = None
    try:
        broker = TansuBroker(workdir=workdir / "tansu").start()
        server = ClickHouseServer(workdir / "clickhouse").start()
        uid = uuid.uuid4().hex[:8]
        raw, db = f"bench-raw-{uid}", f"bench_live_{uid}"
        broker.create_topics([raw, f"bench-dlq-{uid}"], args.partitions)
        broker.create_topics([f"bench-stations-{uid}"], 1)
        produce(broker.bootstrap, f"bench-stations-{uid}",
                [(s.station_id.encode(), s.model_dump_json().encode()) for s in backlog.stations])
        produce_s = produce(broker.bootstrap, raw, records)
        log(f"backlog: {len(records):,} records ({backlog.n_events:,} events) produced in "
            f"{produce_s:.1f} s; starting the worker")
        port = free_port()
        wdir = workdir / "worker"
        wdir.mkdir()
        env = worker_environment(broker, server, uid, db, args.partitions, port, wdir, worker_env)
        logf = open(wdir / "worker.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "blo", "worker", "--migrate"], env=env,
                                stdout=logf, stderr=subprocess.STDOUT, cwd=wdir)
        worker = Worker(proc, port, wdir)
        watch = CpuWatch({"clickhouse": service_pid(server), "tansu": service_pid(broker)})
        res["backlog"] = drain_backlog(worker, len(records), backlog.n_events, watch)
        log(f"backlog: {res['backlog']['rate']:,.0f} events/s, "
            f"{res['backlog']['cpu_us_per_event']:.1f} µs/event, "
            f"peak RSS {res['backlog']['peak_rss_mb']:,.0f} MB")
        if args.idle_s > 0:  # the worker's fixed cost: timers, ticks, polls, with no events
            time.sleep(args.settle_s)
            c0, w0 = tree_cpu_seconds(worker.proc.pid), time.monotonic()
            time.sleep(args.idle_s)
            res["idle_cpu_ms_per_s"] = ((tree_cpu_seconds(worker.proc.pid) - c0)
                                        / (time.monotonic() - w0) * 1e3)
            log(f"idle worker: {res['idle_cpu_ms_per_s']:.0f} ms CPU per second")
        from clickhouse_driver import Client

        ch = Client(host=server.host, port=server.tcp_port, user="default")
        next_seq = None if args.seq_gaps else {
            k: v + 1 for k, v in last_seqs(records).items()}
        for i, rate in enumerate(rates):
            n = int(rate * args.duration)
            recs = live_records(backlog.stations, n, seed=100 + i, span_s=args.duration,
                                next_seq=next_seq)
            time.sleep(args.settle_s)
            prof = (args.profile / f"live-{int(rate)}.collapsed.txt"
                    if args.profile and rate == args.profile_rate else None)
            log(f"live: offering {n:,} events at {rate:,.0f}/s")
            x = offer(worker, ch, db, broker, raw, recs, rate, workdir, watch, args.poll_s,
                      args.drain_s, producer_python, prof)
            res["live"].append(x)
            log(f"live {rate:,.0f}/s: visible {x['rate_visible']:,.0f}/s, p50 {x['p50_s']:.2f} s, "
                f"p99 {x['p99_s']:.2f} s, {x['cpu_us_per_event']:.0f} µs/event")
        ch.disconnect()
    except WorkerFailed as e:
        log(str(e))
        return 1
    finally:
        if worker is not None:
            stop_process(worker.proc, 60)
        if logf is not None:
            logf.close()
        stop_services(server, broker, workdir, args.keep)
    res["meta"]["total_s"] = time.monotonic() - t0
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
