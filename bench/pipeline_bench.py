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
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.process import stop_process
from blo.localservices.tansu import TansuBroker, free_port
from blo.sdk.batching import record_value
from blo.settings import BatchSettings, IngestSettings
from blo.simulate import TrafficGenerator, seed_stations
from schemas.identity import derive_event_id
from schemas.station import Registry, StationRecord

TARGET_C_OVER_B = 0.7
# (a) calls IngestProcessor.process on takes of at most this many events: a worker's take
# of single-event records (BLO_BATCH_TAKE_MAX records, 5000 by default).
INPROC_CHUNK_EVENTS = 5000
TARGET_D_OVER_A = 0.5
# issue 3: the pipeline with windows ≥ 3× the naive windowed-table Faust agent (e)
TARGET_C_OVER_E = 3.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
_METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|\+Inf)$')


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- backlog
@dataclass
class Backlog:
    stations: list[StationRecord]
    single: list[tuple[bytes, bytes]]  # (key, value): one event per record
    batched: list[tuple[bytes, bytes]]  # (key, JSON array of events of one station)
    n_events: int
    mean_event_bytes: float


def make_backlog(n: int, batch_events: int, seed: int = 7) -> Backlog:
    stations = seed_stations()
    span_h = 20.0  # occurred_at between ~22 h and ~2 h ago
    start = datetime.now(UTC) - timedelta(hours=22)
    gen = TrafficGenerator(stations, rate=n / (span_h * 3600), seed=seed, start=start)
    single: list[tuple[bytes, bytes]] = []
    per_station: dict[str, list[bytes]] = defaultdict(list)
    batched: list[tuple[bytes, bytes]] = []
    for e in gen.events(n):
        sid = e["station_id"]
        e["event_id"] = str(derive_event_id(sid, e["source_seq"]))
        value = orjson.dumps(e)
        key = sid.encode()
        single.append((key, value))
        run = per_station[sid]
        run.append(value)
        if len(run) >= batch_events:
            batched.append((key, record_value(run)))
            per_station[sid] = []
    for sid, run in per_station.items():
        if run:
            batched.append((sid.encode(), record_value(run)))
    mean = sum(len(v) for _, v in single) / len(single)
    return Backlog(stations, single, batched, len(single), mean)


# ----------------------------------------------------------------------- (a) in process
def _policy(ing: IngestSettings) -> Any:
    from streams.ingest import IngestPolicy

    return IngestPolicy.from_settings(ing)


def rows_to_columns(rows: Sequence[tuple[Any, ...]], datetime_idx: Sequence[int]) -> list[list]:
    """What ``sinks.clickhouse.ServerDatabase.insert`` does before handing data to the
    driver: transpose, and DateTime columns → epoch seconds."""
    from sinks.clickhouse import epoch_seconds

    columns = [list(col) for col in zip(*rows, strict=True)]
    for i in datetime_idx:
        columns[i] = [epoch_seconds(v) for v in columns[i]]
    return columns


def _chunks(records: Sequence[Any], n_events: Sequence[int], max_records: int,
            max_events: int) -> list[Sequence[Any]]:
    """Consecutive slices of at most ``max_records`` records and ``max_events`` events
    (a record alone may exceed ``max_events``)."""
    out: list[Sequence[Any]] = []
    start, n_ev = 0, 0
    for i, k in enumerate(n_events):
        if i > start and (i - start >= max_records or n_ev + k > max_events):
            out.append(records[start:i])
            start, n_ev = i, 0
        n_ev += k
    if start < len(records):
        out.append(records[start:])
    return out


def bench_inprocess(backlog: Backlog, take_max: int, sink_rows: int,
                    chunk_events: int = INPROC_CHUNK_EVENTS) -> dict[str, Any]:
    from sinks.clickhouse import _is_datetime
    from sinks.tables import EVENTS
    from streams.decode import SourcePos
    from streams.ingest import IngestProcessor, RawRecord

    registry = Registry(backlog.stations)
    policy = _policy(IngestSettings())
    dt_idx = [i for i, (_, t) in enumerate(EVENTS.columns) if _is_datetime(t)]

    async def no_hashes(stations: Any, ids: Any) -> dict:
        return {}

    out: dict[str, Any] = {}
    for name, records in (("single", backlog.single), ("batched", backlog.batched)):
        proc = IngestProcessor(registry, policy)
        raw = [RawRecord(v, SourcePos("bench", 0, i)) for i, (_, v) in enumerate(records)]
        n_events = [1 if v[:1] == b"{" else v.count(b'"event_id"') for _, v in records]
        # one process() per take of at most take_max records and chunk_events events: the
        # batch of single-event records a worker takes; one call over all 200k events of
        # the batched backlog would mostly measure the garbage collector walking them.
        chunks = _chunks(raw, n_events, take_max, chunk_events)
        gc.collect()
        gc.freeze()  # the backlog is the bench's, not the worker's: keep GC off it
        loop = asyncio.new_event_loop()
        t_proc = t_cols = 0.0
        n_rows = n_dead = 0
        pending: list[tuple[Any, ...]] = []
        c0 = time.process_time()
        t0 = time.perf_counter()
        for i, part in enumerate(chunks):
            a = time.perf_counter()
            outcome = loop.run_until_complete(proc.process(part, datetime.now(UTC), no_hashes))
            b = time.perf_counter()
            t_proc += b - a
            n_rows += len(outcome.event_rows)
            n_dead += len(outcome.dead_letters)
            pending.extend(outcome.event_rows)
            last = i == len(chunks) - 1
            while len(pending) >= sink_rows or (pending and last):
                rows, pending = pending[:sink_rows], pending[sink_rows:]
                rows_to_columns(rows, dt_idx)
            t_cols += time.perf_counter() - b
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        loop.close()
        gc.unfreeze()
        if n_rows != backlog.n_events or n_dead:
            raise SystemExit(f"(a) {name}: {n_rows} rows, {n_dead} dead letters "
                             f"for {backlog.n_events} events -- the backlog is not clean")
        out[name] = {
            "records": len(records), "events": n_rows, "wall_s": wall, "cpu_s": cpu,
            "rate": n_rows / wall, "process_us": t_proc / n_rows * 1e6,
            "columns_us": t_cols / n_rows * 1e6, "calls": len(chunks),
        }
    out["stages"] = stage_breakdown(backlog, registry, policy)
    return out


def stage_breakdown(backlog: Backlog, registry: Registry, policy: Any,
                    sample: int = 20000) -> dict[str, float]:
    """µs per event of each per-event step, on a sample, one at a time (single core)."""
    from schemas.identity import canonical_json_and_hash
    from schemas.parse import parse_event
    from streams.decode import SourcePos, decode_record
    from streams.enrich import event_row

    values = [v for _, v in backlog.single[:sample]]
    now = datetime.now(UTC)
    skew = policy.max_future_skew
    res: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        best, r = float("inf"), None
        for _ in range(3):  # the machine is noisy: the best of three
            t = time.perf_counter()
            r = fn()
            best = min(best, time.perf_counter() - t)
        res[name] = best / len(values) * 1e6
        return r

    objs = timed("decode_record (orjson)",
                 lambda: [decode_record(v, policy.max_record_bytes)[0] for v in values])
    events = timed("parse_event (pydantic)",
                   lambda: [parse_event(o, now=now, max_future_skew=skew) for o in objs])
    stations = timed("registry lookup",
                     lambda: [registry.lookup(e.station_id, e.occurred_at) for e in events])
    hashed = timed("canonical_json_and_hash", lambda: [canonical_json_and_hash(e) for e in events])
    src = SourcePos("bench", 0, 0)
    timed("event_row", lambda: [
        event_row(e, s, body_hash=h, payload=p, ingested_at=now, source=src,
                  tablet_mass_mg=policy.tablet_mass_mg)
        for e, s, (p, h) in zip(events, stations, hashed, strict=True)])
    return res


# ------------------------------------------------------------------------- processes
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


def _pid(service: Any) -> int | None:
    proc = getattr(service, "_proc", None)  # the launchers keep their Popen there
    return proc.pid if proc is not None else None


def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> float:
    """Send all records (gzip, large batches) and wait for the acknowledgements; seconds."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, compression_type="gzip",
                      linger_ms=50, batch_size=1 << 20, max_request_size=8 << 20,
                      client_id="blo-bench")
    t = time.perf_counter()
    try:
        for k, v in records:
            p.send(topic, key=k, value=v)
        p.flush(timeout=300)
    finally:
        p.close()
    return time.perf_counter() - t


# ---------------------------------------------------------------- (b) Faust floor
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
        [sys.executable, str(REPO / "bench" / "faust_count.py"), "--bootstrap", broker.bootstrap,
         "--topic", topic, "--group", group, "--expect", str(len(backlog.single)),
         "--result", str(result), "--datadir", str(workdir / f"faust-{uid}"),
         "--partitions", str(partitions), "--take", str(take), "--within", str(within)],
        stdout=logf, stderr=subprocess.STDOUT, cwd=workdir,
    )
    watch = CpuWatch({"faust": proc.pid, "tansu": _pid(broker)})
    watch.mark()
    t_spawn = time.monotonic()
    try:
        while not result.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"faust_count exited {proc.returncode}; see {logf.name}")
            if time.monotonic() - t_spawn > 600:
                raise RuntimeError("faust_count did not finish in 600 s")
            time.sleep(0.1)
        cpu = watch.since()
    finally:
        stop_process(proc, 30)
        logf.close()
    r = json.loads(result.read_text())
    elapsed = r["t_last"] - r["t_first"]
    return {
        "records": r["count"], "batches": r["batches"], "first_batch": r["first_batch"],
        "elapsed_s": elapsed, "rate": r["count"] / elapsed,
        "rate_steady": (r["count"] - r["first_batch"]) / elapsed,
        "startup_s": r["t_first"] - t_spawn, "produce_s": produce_s,
        "cpu_total": cpu,  # from spawn: includes start-up and group join
        "cpu_us_per_record": (r["cpu_last"] - r["cpu_first"]) / max(1, r["count"] - r["first_batch"]) * 1e6,
    }


# -------------------------------------------------------- (e) naive Faust windows
# the naive app's default windows, as (table suffix, multiplicity: windows per event)
_NAIVE_WINDOWS = (("1m", 1), ("1h", 1), ("1h-5m", 12), ("day", 1), ("month", 1))
_KG_PER_UNIT = {"kg": 1.0, "g": 0.001, "l": 1.0, "ml": 0.001, "tablet": 200e-6}


def naive_oracle(records: Sequence[tuple[bytes, bytes]]) -> dict[str, Any]:
    """What (e)'s tables must hold, from the records with plain Python (stdlib json,
    datetime): events per (station, UTC hour), total persons, total seizure kg."""
    per_hour: Counter[str] = Counter()
    keys_1h: set[tuple[str, str, int]] = set()
    persons = 0
    kg = 0.0
    for _, v in records:
        e = json.loads(v)
        hour = int(datetime.fromisoformat(e["occurred_at"]).timestamp() // 3600 * 3600)
        per_hour[f"{e['station_id']}|{hour}"] += 1
        keys_1h.add((e["station_id"], e["event_type"], hour))
        if e.get("persons") is not None:
            persons += e["persons"]
        if e["event_type"] == "seizure":
            kg += e["quantity"] * _KG_PER_UNIT[e["unit"]]
    return {"per_hour": dict(per_hour), "windows_1h": len(keys_1h), "persons": persons,
            "kg": kg}


def read_changelog(bootstrap: str, topic: str, timeout_s: float = 300) -> dict[Any, Any]:
    """The last value of every key of a changelog topic, read from the start up to the
    high watermark of the fetch responses (not ListOffsets, which Tansu gets wrong)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      client_id="blo-bench-changelog", max_partition_fetch_bytes=8 << 20,
                      fetch_max_bytes=64 << 20)
    try:
        deadline = time.monotonic() + timeout_s
        parts = c.partitions_for_topic(topic)
        while not parts:
            if time.monotonic() > deadline:
                raise RuntimeError(f"changelog topic {topic} not found")
            time.sleep(0.5)
            c.topics()  # refresh metadata
            parts = c.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        last: dict[Any, Any] = {}
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"changelog {topic}: not read to its end in {timeout_s} s")
            batch = c.poll(timeout_ms=500, max_records=50_000)
            for msgs in batch.values():
                for m in msgs:
                    key = json.loads(m.key)
                    last[(key[0], tuple(key[1]))] = None if m.value is None else json.loads(m.value)
            hw = {tp: c.highwater(tp) for tp in tps}
            if not batch and all(h is not None and c.position(tp) >= h for tp, h in hw.items()):
                return last
    finally:
        c.close()


def check_naive(r: dict[str, Any], changelog: dict[Any, Any] | None,
                oracle: dict[str, Any], n: int) -> list[str]:
    """Mismatches between (e)'s result (and its 1-hour changelog) and the oracle."""
    bad: list[str] = []
    stats = r["stats"]
    for w, mult in _NAIVE_WINDOWS:
        ev, pe, kg = (stats[w][k] for k in ("events", "persons", "seizure_kg"))
        if ev != n * mult:
            bad.append(f"{w}: events sum {ev} != {n * mult}")
        if pe != oracle["persons"] * mult:
            bad.append(f"{w}: persons sum {pe} != {oracle['persons'] * mult}")
        if abs(kg - oracle["kg"] * mult) > 1e-6 * max(1.0, oracle["kg"] * mult):
            bad.append(f"{w}: seizure_kg sum {kg:.6f} != {oracle['kg'] * mult:.6f}")
    if stats["1h"]["windows"] != oracle["windows_1h"]:
        bad.append(f"1h: {stats['1h']['windows']} windows != "
                   f"{oracle['windows_1h']} (station, event type, hour) in the backlog")

    def compare(what: str, got: dict[str, int]) -> None:
        want = oracle["per_hour"]
        diff = [k for k in want.keys() | got.keys() if want.get(k, 0) != got.get(k, 0)]
        if diff:
            ex = ", ".join(f"{k}: {got.get(k, 0)} != {want.get(k, 0)}" for k in sorted(diff)[:3])
            bad.append(f"{what}: {len(diff)} of {len(want)} (station, hour) differ ({ex})")

    compare("1h table", r["events_1h_per_station"])
    if changelog is not None:
        per: Counter[str] = Counter()
        for (key, (start, _end)), v in changelog.items():
            events = v["events"] if isinstance(v, dict) else v  # Stats record or int
            per[f"{key.split('|', 1)[0]}|{int(start)}"] += events or 0
        compare(f"{r['changelog_1h']} (last value per key)", dict(per))
    return bad


def bench_faust_naive(broker: TansuBroker, records: Sequence[tuple[bytes, bytes]],
                      workdir: Path, partitions: int, layout: str, expires_s: float,
                      read_back: bool) -> dict[str, Any]:
    uid = uuid.uuid4().hex[:8]
    topic, group = f"bench-naive-{uid}", f"bench-naive-{uid}"
    broker.create_topics([topic], partitions)
    produce_s = produce(broker.bootstrap, topic, records)
    n = len(records)
    log(f"(e) produced {n} records in {produce_s:.1f} s; starting the naive windowed-table "
        "Faust agent")
    result = workdir / f"naive-{uid}.json"
    logp = workdir / f"faust-naive-{uid}.log"
    logf = open(logp, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "faust_naive_windows.py"),
         "--bootstrap", broker.bootstrap, "--topic", topic, "--group", group,
         "--expect", str(n), "--result", str(result),
         "--datadir", str(workdir / f"faust-naive-{uid}"), "--partitions", str(partitions),
         "--layout", layout, "--expires-s", str(expires_s)],
        stdout=logf, stderr=subprocess.STDOUT, cwd=workdir,
    )
    watch = CpuWatch({"faust": proc.pid, "tansu": _pid(broker)})
    watch.mark()
    t_spawn = last_log_check = time.monotonic()
    try:
        while not result.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"faust_naive_windows exited {proc.returncode}; see {logp}")
            now = time.monotonic()
            if now - last_log_check > 1.0:
                last_log_check = now
                problems = _log_problems(logp)
                if problems:
                    raise RuntimeError(f"(e) the naive agent crashed:\n{problems}")
            if now - t_spawn > 3600:
                raise RuntimeError("faust_naive_windows did not finish in 3600 s")
            time.sleep(0.1)
        cpu = watch.since()
    finally:
        stop_process(proc, 30)
        logf.close()
    r = json.loads(result.read_text())
    log("(e) checking the tables against the backlog")
    oracle = naive_oracle(records)
    changelog = None
    if read_back:
        t = time.monotonic()
        changelog = read_changelog(broker.bootstrap, r["changelog_1h"])
        log(f"(e) read back {r['changelog_1h']} ({len(changelog)} keys) in "
            f"{time.monotonic() - t:.1f} s")
    mismatches = check_naive(r, changelog, oracle, n)
    elapsed = r["t_flushed"] - r["t_first"]
    return {
        "events": r["count"], "elapsed_s": elapsed, "rate": r["count"] / elapsed,
        "rate_processed": r["count"] / (r["t_last"] - r["t_first"]),
        "flush_s": r["t_flushed"] - r["t_last"],
        "startup_s": r["t_first"] - t_spawn, "produce_s": produce_s,
        "cpu_total": cpu,  # from spawn: includes start-up and group join
        "cpu_us_per_event": (r["cpu_flushed"] - r["cpu_first"]) / max(1, r["count"]) * 1e6,
        "tansu_us_per_event": cpu["tansu"] / max(1, r["count"]) * 1e6,
        "layout": layout, "stats": r["stats"], "expires_s": expires_s,
        "rss_mb": r.get("rss_mb"),
        "changelog_checked": changelog is not None,
        "mismatches": mismatches, "verified": not mismatches,
    }


# ------------------------------------------------------------- (c)/(d) real pipeline
def _metrics(port: int) -> dict[str, float]:
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


def _log_problems(path: Path, context: int = 2) -> str:
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


def _ch_client(server: ClickHouseServer) -> Any:
    from clickhouse_driver import Client

    return Client(host=server.host, port=server.tcp_port, user="default",
                  send_receive_timeout=120)


def _ch_events(client: Any) -> dict[str, int]:
    rows = client.execute("SELECT event, value FROM system.events")
    return {str(k): int(v) for k, v in rows}


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(
        BLO_KAFKA_BOOTSTRAP=broker.bootstrap, BLO_CLICKHOUSE_URL=server.url(db),
        BLO_KAFKA_TOPIC_RAW=raw, BLO_KAFKA_TOPIC_STATIONS=st_topic, BLO_KAFKA_TOPIC_DLQ=dlq,
        BLO_KAFKA_GROUP_ID=f"bench-{uid}", BLO_KAFKA_PARTITIONS=str(partitions),
        BLO_KAFKA_SESSION_TIMEOUT_S="6", BLO_WEB_PORT=str(port), BLO_DATA_DIR=str(wdir),
        BLO_KAFKA_TOPIC_WINDOWS=f"windows-{uid}", BLO_KAFKA_TOPIC_ALERT_INPUT=f"ain-{uid}",
        BLO_KAFKA_TOPIC_ALERTS=f"alerts-{uid}",
    )
    env.update(worker_env)
    ch = _ch_client(server)
    ch_before = _ch_events(ch)
    logf = open(wdir / "worker.log", "wb")  # noqa: SIM115
    cmd = [sys.executable, "-m", "blo"]
    if variant:
        cmd = [sys.executable, str(REPO / "bench" / "worker_variants.py"), variant, "--"]
    proc = subprocess.Popen([*cmd, "worker", "--migrate"], env=env,
                            stdout=logf, stderr=subprocess.STDOUT, cwd=wdir)
    watch = CpuWatch({"worker": proc.pid, "clickhouse": _pid(server), "tansu": _pid(broker)})
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
                                   _log_problems(wdir / "worker.log"))
            now = time.monotonic()
            if now - last_log_check > 1.0:
                last_log_check = now
                problems = _log_problems(wdir / "worker.log")
                if problems:
                    raise WorkerFailed(f"({label}) the worker's ingest agent crashed", problems)
            if now - t_spawn > 900:
                raise RuntimeError(f"({label}) not done after 900 s: {dict(m)}")
            m = _metrics(port)
            consumed = m.get("blo_records_consumed_total", 0)
            acked = m.get("blo_offsets_acked_total", 0)
            if t_first is None and consumed > 0:
                t_first, first_consumed = now, int(consumed)
                watch.pids["ingest"] = child_pid(proc.pid)  # BLO_INGEST_PROCESS=separate
                watch.mark()
                if spy_out is not None:
                    spy = subprocess.Popen(
                        ["py-spy", "record", "--pid", str(proc.pid), "--rate", "100",
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


# ------------------------------------------------------------------------- profiling
# Every sample goes to the first bucket (in this order) that any frame of its stack matches:
# our own steps before the runtime glue that calls them, aiokafka before the Faust code that
# calls it. py-spy frames look like "IngestRuntime._ack (streams/runtime.py:144)".
_BUCKETS: list[tuple[str, re.Pattern[str]]] = [
    ("acks: stream.ack per record (IngestRuntime._ack)", re.compile(r"IngestRuntime\._ack \(")),
    ("conflict lookup SELECT (IngestRuntime._lookup_hashes, executor thread)",
     re.compile(r"_lookup_hashes|(ServerDatabase|ChdbDatabase)\.stored_body_hashes \(")),
    ("sink insert: rows→columns + clickhouse-driver (ServerDatabase.insert, sink thread)",
     re.compile(r"ServerDatabase\.insert \(")),
    ("parse_event (pydantic validation)", re.compile(r"^parse_event \(")),
    ("canonical_json_and_hash", re.compile(r"^canonical_json_and_hash \(")),
    ("event_row (enrichment)", re.compile(r"^event_row \(")),
    ("decode_record (orjson)", re.compile(r"^decode_record \(")),
    ("ingest step, rest (IngestProcessor: registry, cache, bookkeeping)",
     re.compile(r"^IngestProcessor\.")),
    ("sink buffering/callbacks (sinks/batching.py)", re.compile(r"\(sinks/batching\.py")),
    ("runtime glue + prometheus counters (IngestRuntime.handle/_count/_write)",
     re.compile(r"^IngestRuntime\.|\(prometheus_client/")),
    ("/metrics + aiohttp (the bench polls every 0.1 s)", re.compile(r"metrics_page|\(aiohttp/")),
    ("aiokafka: fetch, gzip, record decode (Faust's consumer thread)",
     re.compile(r"\(aiokafka/")),
    ("Faust/mode: stream, take buffer, conductor, event objects",
     re.compile(r"\((faust|mode)/")),
]
_OTHER = "asyncio loop itself, logging, other"


def summarize_profile(path: Path) -> dict[str, Any]:
    """Aggregate py-spy raw (collapsed) stacks into buckets, and samples per thread."""
    buckets: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")
        tname = ""
        while frames and frames[0].startswith(("thread (", "process ")):
            if frames[0].startswith("thread ("):
                tname = frames[0].split(": ", 1)[-1]
            frames = frames[1:]
        total += count
        threads[re.sub(r"_\d+$", "_N", tname) or "?"] += count
        bucket = _OTHER
        for name, rx in _BUCKETS:
            if any(rx.search(f) for f in frames):
                bucket = name
                break
        buckets[bucket] += count
    return {"samples": total, "buckets": dict(buckets.most_common()),
            "threads": dict(threads.most_common())}


# ---------------------------------------------------------------------------- report
def _fmt_rate(x: float) -> str:
    return f"{x:>10,.0f}/s"


def _mark(ratio: float, target: float) -> str:
    return "MET" if ratio >= target else "NOT MET"


def report(res: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    meta = res["meta"]
    add("=" * 78)
    add(f"BLO pipeline bench  {meta['date']}  host {meta['host']}  {meta['cpus']} CPUs  "
        f"python {meta['python']}  revision {meta.get('revision', '?')}")
    add(f"backlog: {meta['events']:,} events (mean {meta['mean_event_bytes']:.0f} B), "
        f"{meta['single_records']:,} single records / {meta['batched_records']:,} batched "
        f"records of ~{meta['batch_events']} events; {meta['partitions']} partitions")
    if meta.get("variant"):
        add(f"WHAT-IF VARIANT (patched in bench/worker_variants.py): {meta['variant']}"
            )
    if meta.get("worker_env"):
        add(f"worker env: {meta['worker_env']}")
    add("-" * 78)
    a, b, c, d, e = (res.get(k) for k in ("a", "b", "c", "d", "e"))
    if a:
        for name in ("single", "batched"):
            x = a[name]
            add(f"(a) in-process, {name:<8} {_fmt_rate(x['rate'])} events   "
                f"process {x['process_us']:.1f} µs/ev + columns {x['columns_us']:.1f} µs/ev")
        add("    per-event steps (µs, single core): " + ", ".join(
            f"{k} {v:.1f}" for k, v in a["stages"].items()))
    if b:
        add(f"(b) Faust count-only     {_fmt_rate(b['rate'])} records  "
            f"({b['records']:,} in {b['elapsed_s']:.1f} s, {b['batches']} batches; "
            f"steady {b['rate_steady']:,.0f}/s)")
        add(f"    CPU µs/record in the Faust process: {b['cpu_us_per_record']:.1f}")
    if e and "failed" in e:
        add(f"(e) naive Faust windows  FAILED: {e['failed']}")
    elif e:
        add(f"(e) naive Faust windows  {_fmt_rate(e['rate'])} events   "
            f"({e['events']:,} in {e['elapsed_s']:.1f} s incl. the final changelog flush of "
            f"{e['flush_s']:.1f} s; {e['rate_processed']:,.0f}/s to the last event)")
        ct = e["cpu_total"]
        other = ct["machine_busy"] - ct["faust"] - ct["tansu"]
        add(f"    CPU µs/event: Faust process {e['cpu_us_per_event']:.1f}, tansu "
            f"{e['tansu_us_per_event']:.1f} (from spawn); {other:.1f} CPU-s not the measured "
            f"processes; layout {e['layout']}, "
            f"{sum(t['windows'] for t in e['stats'].values()):,} windows held, "
            f"RSS {e.get('rss_mb') or 0:,.0f} MB at the end")
        what = "tables" + (" and 1-hour changelog" if e["changelog_checked"] else "")
        add(f"    {what} vs the backlog: " + ("OK" if e["verified"] else
            "MISMATCH\n      " + "\n      ".join(e["mismatches"])))
    for label, x in (("c", c), ("d", d)):
        if not x:
            continue
        kind = "single " if label == "c" else "batched"
        if "failed" in x:
            add(f"({label}) worker, {kind}       FAILED: {x['failed']} (env {x['env']})")
            add("    " + x["problems"].replace("\n", "\n    "))
            continue
        add(f"({label}) worker, {kind}       {_fmt_rate(x['rate'])} events   "
            f"({x['events']:,} ev / {x['records']:,} rec in {x['elapsed_s']:.1f} s: consume "
            f"{x['consume_s']:.1f} s + tail {x['tail_s']:.1f} s; "
            f"FINAL count {x['final_count']:,} {'OK' if x['verified'] else 'MISMATCH'})")
        cpu = x["cpu"]
        ev = x["events"]
        busy = cpu["machine_busy"] / cpu["machine_total"] * 100 if cpu["machine_total"] else 0
        ingest = cpu.get("ingest", 0.0)
        other = (cpu["machine_busy"] - cpu["worker"] - ingest - cpu["clickhouse"]
                 - cpu["tansu"])
        add(f"    CPU µs/event: worker {cpu['worker'] / ev * 1e6:.1f} (Faust process) + "
            f"{ingest / ev * 1e6:.1f} (ingest process), clickhouse "
            f"{cpu['clickhouse'] / ev * 1e6:.1f}, tansu {cpu['tansu'] / ev * 1e6:.1f}; "
            f"machine busy {busy:.0f}%, of which {other:.1f} CPU-s not the measured processes "
            f"(other load on the shared machine, incl. {cpu.get('machine_steal', 0):.1f} s steal)")
        if x["env"]:
            add(f"    worker env: {x['env']}")
        che = x["clickhouse_events"]
        add(f"    ClickHouse: {che.get('SelectQuery', 0)} SELECTs, "
            f"{che.get('InsertQuery', 0)} INSERTs ({che.get('UserTimeMicroseconds', 0) / 1e6:.1f} "
            f"CPU-s user in queries, {che.get('SelectedMarks', 0):,} marks read), "
            f"{che.get('InsertedRows', 0):,} rows inserted")
        add(f"    sink: {x['flushes']:.0f} inserts taking {x['insert_s_total']:.1f} s in all "
            f"(sink threads); backpressure pauses {x['pauses']:.0f}; "
            f"dead letters {x['dead_lettered']:.0f}")
        if "profile" in x:
            p = x["profile"]
            tot = p["samples"] or 1
            wall = x["elapsed_s"] * 100 or 1
            add(f"    py-spy ({p['samples']} non-idle samples @100 Hz over {x['elapsed_s']:.0f} s); "
                "busy share of wall time per thread: "
                + ", ".join(f"{k} {v / wall:.0%}" for k, v in p["threads"].items()))
            add("    where the worker's non-idle samples fall:")
            for k, v in p["buckets"].items():
                add(f"      {v / tot:6.1%}  {k}")
    add("-" * 78)
    c = c if c and "failed" not in c else None
    d = d if d and "failed" not in d else None
    e = e if e and "failed" not in e else None
    if b and c:
        r = c["rate"] / b["rate"]
        add(f"(c)/(b) = {c['rate']:,.0f} / {b['rate']:,.0f} = {r:.2f}   target ≥ "
            f"{TARGET_C_OVER_B}  → {_mark(r, TARGET_C_OVER_B)}")
    if a and d:
        r = d["rate"] / a["batched"]["rate"]
        add(f"(d)/(a) = {d['rate']:,.0f} / {a['batched']['rate']:,.0f} = {r:.2f}   "
            f"target ≥ {TARGET_D_OVER_A}  → {_mark(r, TARGET_D_OVER_A)}   "
            f"[(a) batched; vs (a) single: {d['rate'] / a['single']['rate']:.2f}]")
    if c and d:
        add(f"(d)/(c) = {d['rate'] / c['rate']:.1f}× (record batching in the SDK)")
    if c and e:
        r = c["rate"] / e["rate"]
        add(f"(c)/(e) = {c['rate']:,.0f} / {e['rate']:,.0f} = {r:.2f}   target ≥ "
            f"{TARGET_C_OVER_E} (with windows on in (c))  → {_mark(r, TARGET_C_OVER_E)}")
    if b and e:
        add(f"(b)/(e) = {b['rate'] / e['rate']:.1f}× (count-only take vs per-event "
            "windowed tables)")
    add("=" * 78)
    return "\n".join(lines)


def summarize_runs(paths: Sequence[str]) -> str:
    runs = [json.loads(Path(p).read_text()) for p in paths]

    def vals(get: Callable[[dict[str, Any]], float]) -> list[float | None]:
        """One value per run, None where a run lacks it (e.g. older runs without (e))."""
        out: list[float | None] = []
        for r in runs:
            try:
                out.append(get(r))
            except (KeyError, TypeError):
                out.append(None)
        return out

    rows = [
        ("(a) in-process single, ev/s", lambda r: r["a"]["single"]["rate"]),
        ("(a) in-process batched, ev/s", lambda r: r["a"]["batched"]["rate"]),
        ("(b) Faust count-only, rec/s", lambda r: r["b"]["rate"]),
        ("(c) worker single, ev/s", lambda r: r["c"]["rate"]),
        ("(d) worker batched, ev/s", lambda r: r["d"]["rate"]),
        ("(e) naive Faust windows, ev/s", lambda r: r["e"]["rate"]),
        ("(c)/(b)", lambda r: r["c"]["rate"] / r["b"]["rate"]),
        ("(d)/(a batched)", lambda r: r["d"]["rate"] / r["a"]["batched"]["rate"]),
        ("(c)/(e)", lambda r: r["c"]["rate"] / r["e"]["rate"]),
    ]
    lines = [f"{'':32}" + "".join(f"{'run ' + str(i + 1):>12}" for i in range(len(runs)))
             + f"{'median':>12}"]
    medians: dict[str, float] = {}
    for name, get in rows:
        v = vals(get)
        present = [x for x in v if x is not None]
        if not present:
            continue
        med = statistics.median(present)
        medians[name] = med
        fmt = (lambda x: f"{x:>12.2f}") if "/" in name[:8] else (lambda x: f"{x:>12,.0f}")
        lines.append(f"{name:32}" + "".join(f"{'—':>12}" if x is None else fmt(x) for x in v)
                     + fmt(med))
    if "(c)/(b)" in medians:
        lines.append(f"median (c)/(b) {medians['(c)/(b)']:.2f} vs target {TARGET_C_OVER_B}: "
                     f"{_mark(medians['(c)/(b)'], TARGET_C_OVER_B)}")
    if "(d)/(a batched)" in medians:
        lines.append(f"median (d)/(a) {medians['(d)/(a batched)']:.2f} vs target "
                     f"{TARGET_D_OVER_A}: {_mark(medians['(d)/(a batched)'], TARGET_D_OVER_A)}")
    if "(c)/(e)" in medians:
        lines.append(f"median (c)/(e) {medians['(c)/(e)']:.2f} vs target {TARGET_C_OVER_E}: "
                     f"{_mark(medians['(c)/(e)'], TARGET_C_OVER_E)}")
    return "\n".join(lines)


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
    ap.add_argument("--only", default="a,b,c,d",
                    help="subset of a,b,c,d,e (e, the naive windowed-table Faust agent, "
                         "takes minutes and is not in the default set)")
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
        if only & {"c", "d"}:
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
    finally:
        if server is not None:
            server.stop()
        if broker is not None:
            broker.stop()
        if args.keep:
            log(f"kept {workdir}")
        elif args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    res["meta"]["total_s"] = time.monotonic() - t0
    print(report(res))
    print(f"(whole run {res['meta']['total_s']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    ok = all(res[k].get("verified") for k in ("c", "d", "e") if k in res)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
