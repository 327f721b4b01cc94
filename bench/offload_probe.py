"""What-if probe: a thin Faust agent that hands each take to a second process.

    python bench/offload_probe.py [--events 200000]

Measures whether the worker's per-event work (decode, validate, enrich, windows, rows →
columns) can run on the machine's second core while the event loop only does Faust's
per-record work, the structural option 2 of docs/performance.md ("Where things stand").
Two runs over the same one-event-per-record backlog on a Tansu broker it starts itself:

* (b) the count-only Faust agent (bench/faust_count.py), the framework floor;
* (f) a Faust agent (``noack_take``) that sends each take's record values to a worker
  process over a pipe and acknowledges the records when the worker answers (at most two
  takes in flight). The worker runs the product's ``IngestProcessor.process`` (no conflict
  lookup: nothing is stored here), ``WindowRuntime``-equivalent window counting
  (``WindowState.add`` + ``tick``) and the rows → columns transposition of the sink; it
  writes nothing to ClickHouse, so this is an upper bound of the option, not the option.

Prints both rates and (f)/(b). Nothing in the product changes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _worker_process(conn: object) -> None:  # runs in the child
    import asyncio
    import gc
    from datetime import UTC, datetime

    from pipeline_bench import rows_to_columns, seed_stations

    from blo.settings import IngestSettings
    from schemas.station import Registry
    from sinks.clickhouse import _is_datetime
    from sinks.tables import EVENTS
    from streams.decode import SourcePos
    from streams.ingest import IngestPolicy, IngestProcessor, RawRecord
    from streams.windows import WindowState

    proc = IngestProcessor(Registry(seed_stations()), IngestPolicy.from_settings(IngestSettings()))
    windows = WindowState()
    dt_idx = [i for i, (_, t) in enumerate(EVENTS.columns) if _is_datetime(t)]
    part = EVENTS.index("kafka_partition")
    loop = asyncio.new_event_loop()

    async def no_hashes(stations: object, ids: object) -> dict:
        return {}

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    last_tick = 0.0
    while True:
        msg = conn.recv_bytes()  # type: ignore[attr-defined]
        if not msg:
            break
        values = msg.split(b"\n")  # compact JSON records never contain a raw newline
        records = [RawRecord(v, SourcePos("probe", 0, i)) for i, v in enumerate(values)]
        out = loop.run_until_complete(proc.process(records, datetime.now(UTC), no_hashes))
        for row in out.new_rows:
            windows.add(row, row[part])
        now = time.time()
        if now - last_tick >= 1.0:
            windows.tick(now, ())
            last_tick = now
        if out.event_rows:
            rows_to_columns(out.event_rows, dt_idx)
        conn.send_bytes(str(len(out.event_rows)).encode())  # type: ignore[attr-defined]


def _probe_app(args: argparse.Namespace) -> None:  # the (f) Faust process
    import asyncio
    import multiprocessing as mp

    import faust

    parent, child = mp.Pipe()
    worker = mp.get_context("spawn").Process(target=_worker_process, args=(child,), daemon=True)
    worker.start()
    app = faust.App(
        args.group, broker=f"kafka://{args.bootstrap}", value_serializer="raw",
        key_serializer="raw", topic_partitions=args.partitions, topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5, broker_commit_interval=2.0, stream_wait_empty=False,
        stream_buffer_maxsize=10_000, web_enabled=False, datadir=args.datadir,
        store="memory://",
    )
    topic = app.topic(args.topic, partitions=args.partitions)
    state = {"count": 0, "rows": 0, "t_first": None, "written": False}
    lock = asyncio.Lock()

    @app.agent(topic, name="probe.offload")
    async def offload(stream: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        in_flight: list[tuple[asyncio.Future, list]] = []

        async def finish_oldest() -> None:
            fut, evs = in_flight.pop(0)
            state["rows"] += int(await fut)  # rows the worker process built
            for ev in evs:
                await stream.ack(ev)
            state["count"] += len(evs)
            if state["count"] >= args.expect and not state["written"]:
                state["written"] = True
                Path(args.result).write_text(json.dumps({
                    "count": state["count"], "rows": state["rows"],
                    "t_first": state["t_first"], "t_last": time.monotonic()}))

        async for batch in stream.noack_take(5000, within=0.25):  # type: ignore[attr-defined]
            if state["t_first"] is None:
                state["t_first"] = time.monotonic()
            payload = b"\n".join(ev.value for ev in batch)
            async with lock:  # one message on the pipe at a time, answers in order
                parent.send_bytes(payload)
            in_flight.append((loop.run_in_executor(None, parent.recv_bytes), list(batch)))
            while len(in_flight) > 2:
                await finish_oldest()
            if sum(len(e) for _, e in in_flight) + state["count"] >= args.expect:
                while in_flight:
                    await finish_oldest()

    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", "warn"]
    app.main()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    for name in ("bootstrap", "topic", "group", "result", "datadir"):
        ap.add_argument(f"--{name}")
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    if args.app:
        _probe_app(args)
        return

    from pipeline_bench import bench_faust_count, log, make_backlog, produce

    from blo.localservices.tansu import TansuBroker

    work = Path(tempfile.mkdtemp(prefix="blo-offload-"))
    backlog = make_backlog(args.events, 100)
    broker = TansuBroker(workdir=work / "tansu").start()
    try:
        b = bench_faust_count(broker, backlog, work, 4, 10_000, 0.5)
        log(f"(b) {b['rate']:,.0f} records/s")
        uid = uuid.uuid4().hex[:8]
        topic = f"probe-{uid}"
        broker.create_topics([topic], 4)
        produce(broker.bootstrap, topic, backlog.single)
        result = work / "probe.json"
        logf = open(work / "probe.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, __file__, "--app", "--bootstrap", broker.bootstrap, "--topic", topic,
             "--group", f"g-{uid}", "--result", str(result), "--datadir", str(work / "faust"),
             "--expect", str(len(backlog.single))],
            stdout=logf, stderr=subprocess.STDOUT, cwd=work, env=os.environ.copy())
        deadline = time.monotonic() + 600
        while not result.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"probe failed; see {work / 'probe.log'}")
            time.sleep(0.1)
        proc.terminate()
        proc.wait(30)
        r = json.loads(result.read_text())
        f_rate = r["count"] / (r["t_last"] - r["t_first"])
        if r["rows"] != len(backlog.single):
            raise SystemExit(f"the worker process built {r['rows']} rows for "
                             f"{len(backlog.single)} events")
        print(f"(b) Faust count-only        {b['rate']:>9,.0f} records/s")
        print(f"(f) thin agent + offload    {f_rate:>9,.0f} events/s "
              "(validate, enrich, windows, columns in a second process; no ClickHouse)")
        print(f"(f)/(b) = {f_rate / b['rate']:.2f}")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
