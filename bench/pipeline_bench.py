"""Throughput of the BLO pipeline, five ways over one backlog, with the ratios that matter.

    .venv/bin/python bench/pipeline_bench.py [--events 200000] [--json out.json]
    .venv/bin/python bench/pipeline_bench.py --only c,d --profile prof/   # py-spy the worker
    .venv/bin/python bench/pipeline_bench.py --summarize run1.json run2.json

One run generates ``--events`` simulated events (``blo.simulate.TrafficGenerator`` over the
seed stations; ``event_id`` = ``schemas.identity.derive_event_id``; event times spread over
the last ~20 hours) and measures, on that same backlog:

(a) the in-process chain, no Kafka, no Faust -- the CPU floor: ``IngestProcessor.process``
    over the encoded records in takes of at most ``BLO_BATCH_TAKE_MAX`` records and 5,000
    events, with a ``lookup_hashes`` that returns ``{}``, then rows → columns exactly as
    ``ServerDatabase.insert`` does (without the driver). Once with one event per record,
    once with batched records (a JSON array of ``--batch-events`` events of one station).
    Plus the per-event cost of each step (best of three).
(b) a count-only Faust agent (``bench/faust_count.py``, ``stream.take(10000, within=0.5)``)
    draining the one-event-per-record backlog from a local Tansu broker -- the framework
    floor, records/s.
(c) the real worker (``python -m blo worker --migrate``) against a ClickHouse 18.16 server,
    one event per record: events/s from the first record consumed to the last record
    acknowledged (``blo_records_consumed_total`` / ``blo_offsets_acked_total`` polled from
    ``/metrics``), then ``SELECT count() FROM <db>.events FINAL`` must equal the backlog.
(d) the same with batched records.
(e) the naive baseline for windows: a per-event Faust agent (``bench/faust_naive_windows.py``,
    ``async for event in stream``) updating Faust windowed tables in event time (1 min,
    1 h, 1 h every 5 min, UTC day, 30 days; events, persons and seizure kg per
    station|event type; changelog topics on) over the one-event-per-record backlog:
    events/s from the first event to the flush of the last event's changelog records.
    Then the tables, and the 1-hour window's changelog read back from the broker,
    are checked against counts computed here from the backlog (exit status 1 if not
    equal). Not in the default set (it takes several minutes): ``--only e`` or
    ``--only a,b,c,d,e``.
(q) the nearest peer: the same job in Quix Streams 3.28 (``bench/quix/job.py``: the
    project's pydantic models, a ``BatchingSink`` to ClickHouse, one tumbling window, 1 s
    checkpoints) over the one-event-per-record backlog, (r) over the batched one; in its
    own virtualenv (``sh bench/quix/setup.sh``; skipped with a note when it is missing).
    The report prints (c)/(q) and (d)/(r), the project against its nearest peer, beside
    the ratios against the in-process floor (a).

Each measurement gets fresh topics, consumer group and database, and its backlog is fully
produced (kafka-python, gzip) before its consumer starts. Tansu and ClickHouse are started
and stopped here (``blo.localservices``). Targets: (c) ≥ 0.7 × (b) and (d) ≥ 0.5 × (a,
batched); (c) ≥ 3 × (e) once (c) runs with windows (issue 3). Besides rates it prints the CPU seconds each process (worker, ClickHouse, Tansu)
spent per event during the measured window, and the machine's total busy share (the
machine is shared: a run disturbed by foreign load shows there).

``--profile DIR`` attaches ``py-spy record`` (raw collapsed stacks, 100 Hz, ``--threads``)
to the worker for the measured window of (c) and (d) and prints where the samples fall
(Faust/aiokafka, our per-event work, the conflict lookup, the sink, acks, …). Profiled
rates are slower than unprofiled ones; take the rates from runs without ``--profile``.

``--worker-env KEY=VALUE`` (repeatable) passes settings to the worker, e.g.
``--worker-env BLO_BATCH_TAKE_MAX=20000`` to try the batching knobs; ``--variant`` runs it
through ``bench/worker_variants.py`` (what-if patches). Results, figures and findings:
docs/performance.md.

This file is the entry point (options, the order of the measurements, JSON); the parts are
``backlog.py`` (the backlog, producing it), ``inprocess.py`` (a), ``runners.py`` (b)–(d),
``naive.py`` (e), ``processes.py`` (CPU seconds, ``/metrics``, crash lines),
``profiling.py`` (py-spy buckets) and ``report.py`` (the report and ``--summarize``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from backlog import make_backlog
from inprocess import bench_inprocess
from naive import bench_faust_naive
from processes import WorkerFailed, log, stop_services
from quix_runner import bench_quix, quix_available
from report import report, summarize_runs
from runners import bench_faust_count, bench_worker

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.tansu import TansuBroker
from blo.settings import BatchSettings


def _revision() -> str:
    """The commit measured (``git describe --always --dirty``; dirty = uncommitted edits)."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              check=False, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except OSError:
        return "?"


# ------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch-events", type=int, default=100,
                    help="events per batched record, (a) and (d)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--only", default="a,b,c,d,q,r",
                    help="subset of a,b,c,d,e,q,r (e, the naive windowed-table Faust agent, "
                         "takes minutes and is not in the default set; q,r, Quix Streams, "
                         "need bench/.venv-quix)")
    ap.add_argument("--naive-layout", choices=("record", "tables"), default="record",
                    help="(e): one table per window with a Stats record (default) or one "
                         "int/float table per statistic and window")
    ap.add_argument("--naive-events", type=int, default=0, metavar="N",
                    help="(e) over the first N records of the single-event backlog only "
                         "(0, default: all of it; (e) runs at a few hundred events/s)")
    ap.add_argument("--naive-expires-s", type=float, default=2 * 86400,
                    help="(e): expires of the Faust windowed tables (wall clock)")
    ap.add_argument("--naive-no-changelog-check", action="store_true",
                    help="(e): do not read the 1-hour window's changelog back to check it")
    ap.add_argument("--count-take", type=int, default=10_000)
    ap.add_argument("--count-within", type=float, default=0.5)
    ap.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--batched-take-max", type=int, default=0, metavar="N",
                    help="BLO_BATCH_TAKE_MAX for (d) only; 0 (default): the worker's setting")
    ap.add_argument("--variant", default="",
                    help="what-if patches for the worker and (a), see bench/worker_variants.py "
                         "(aiokafka, nolookup; comma-separated)")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="py-spy the worker during (c) and (d); collapsed stacks into DIR")
    ap.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    ap.add_argument("--workdir", type=Path, help="default: a temporary directory, removed")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--summarize", nargs="+", metavar="JSON",
                    help="print the runs side by side with medians, and exit")
    args = ap.parse_args(argv)
    if args.summarize:
        print(summarize_runs(args.summarize))
        return 0
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if only & {"q", "r"} and (why := quix_available()):
        log(f"(q)/(r) skipped: {why}")
        only -= {"q", "r"}
    worker_env = dict(kv.split("=", 1) for kv in args.worker_env)
    if args.profile:
        if shutil.which("py-spy") is None:
            venv_spy = Path(sys.executable).parent / "py-spy"
            if not venv_spy.exists():
                raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
            os.environ["PATH"] = f"{venv_spy.parent}{os.pathsep}{os.environ['PATH']}"
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="blo-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    batch = BatchSettings(**{k[len("BLO_BATCH_"):].lower(): v for k, v in worker_env.items()
                             if k.startswith("BLO_BATCH_")})
    t0 = time.monotonic()
    log(f"generating {args.events} events (work dir {workdir})")
    backlog = make_backlog(args.events, args.batch_events)
    log(f"backlog ready in {time.monotonic() - t0:.0f} s: {len(backlog.single)} single, "
        f"{len(backlog.batched)} batched records")
    res: dict[str, Any] = {"meta": {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "host": os.uname().nodename,
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "events": backlog.n_events,
        "mean_event_bytes": backlog.mean_event_bytes, "single_records": len(backlog.single),
        "batched_records": len(backlog.batched), "batch_events": args.batch_events,
        "partitions": args.partitions, "worker_env": worker_env,
        "take_max": batch.take_max, "sink_max_rows": batch.sink_max_rows,
        "variant": args.variant, "revision": _revision(),
    }}
    if args.variant:
        sys.path.insert(0, str(REPO / "bench"))
        import worker_variants

        worker_variants.apply(args.variant)  # (a) runs in this process
    broker: TansuBroker | None = None
    server: ClickHouseServer | None = None
    try:
        if "a" in only:
            log("(a) in-process chain")
            res["a"] = bench_inprocess(backlog, batch.take_max, batch.sink_max_rows)
        if only & {"b", "c", "d", "e"}:
            broker = TansuBroker(workdir=workdir / "tansu").start()
            log(f"Tansu on {broker.bootstrap}")
        if "b" in only:
            assert broker is not None
            res["b"] = bench_faust_count(broker, backlog, workdir, args.partitions,
                                         args.count_take, args.count_within)
            log(f"(b) {res['b']['rate']:,.0f} records/s")
        if "e" in only:
            assert broker is not None
            try:
                naive = backlog.single[:args.naive_events or None]
                res["e"] = bench_faust_naive(broker, naive, workdir, args.partitions,
                                             args.naive_layout, args.naive_expires_s,
                                             not args.naive_no_changelog_check)
                log(f"(e) {res['e']['rate']:,.0f} events/s; check "
                    + ("OK" if res["e"]["verified"] else "; ".join(res["e"]["mismatches"])))
            except RuntimeError as exc:
                log(f"(e) failed: {exc}")
                res["e"] = {"failed": str(exc), "verified": False}
        if only & {"q", "r"} and broker is None:
            broker = TansuBroker(workdir=workdir / "tansu").start()
            log(f"Tansu on {broker.bootstrap}")
        if only & {"c", "d", "q", "r"}:
            server = ClickHouseServer(workdir / "clickhouse").start()
            log(f"ClickHouse on {server.host}:{server.tcp_port}")
        for label, records in (("c", backlog.single), ("d", backlog.batched)):
            if label not in only:
                continue
            assert broker is not None and server is not None
            env = dict(worker_env)
            if label == "d" and args.batched_take_max > 0:
                env["BLO_BATCH_TAKE_MAX"] = str(args.batched_take_max)
            try:
                res[label] = bench_worker(label, broker, server, records, backlog.n_events,
                                          backlog.stations, workdir, args.partitions,
                                          env, args.profile, args.variant)
                log(f"({label}) {res[label]['rate']:,.0f} events/s")
            except WorkerFailed as e:
                log(str(e))
                res[label] = {"failed": e.what, "problems": e.problems, "env": env}
        for label, records in (("q", backlog.single), ("r", backlog.batched)):
            if label not in only:
                continue
            assert broker is not None and server is not None
            try:
                res[label] = bench_quix(label, broker, server, records, backlog.n_events,
                                        workdir, args.partitions)
                log(f"({label}) Quix Streams {res[label]['rate']:,.0f} events/s")
            except RuntimeError as e:
                log(f"({label}) failed: {e}")
                res[label] = {"failed": str(e)}
    finally:
        stop_services(server, broker, workdir, args.keep, remove=args.workdir is None)
    res["meta"]["total_s"] = time.monotonic() - t0
    print(report(res))
    print(f"(whole run {res['meta']['total_s']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    ok = all(res[k].get("verified") for k in ("c", "d", "e", "q", "r") if k in res)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
