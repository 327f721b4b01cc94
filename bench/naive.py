"""(e) the naive baseline for windows: a per-event Faust agent updating Faust windowed
tables, checked against counts computed here from the backlog.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from backlog import produce
from processes import CpuWatch, log, log_problems, service_pid, wait_for_result

from blo.localservices.process import stop_process
from blo.localservices.tansu import TansuBroker

BENCH = Path(__file__).resolve().parent

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
        [sys.executable, str(BENCH / "faust_naive_windows.py"),
         "--bootstrap", broker.bootstrap, "--topic", topic, "--group", group,
         "--expect", str(n), "--result", str(result),
         "--datadir", str(workdir / f"faust-naive-{uid}"), "--partitions", str(partitions),
         "--layout", layout, "--expires-s", str(expires_s)],
        stdout=logf, stderr=subprocess.STDOUT, cwd=workdir,
    )
    watch = CpuWatch({"faust": proc.pid, "tansu": service_pid(broker)})
    watch.mark()
    t_spawn = time.monotonic()
    try:
        wait_for_result(result, proc, f"(e) the naive agent ({logp})", 3600,
                        lambda: log_problems(logp))
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
