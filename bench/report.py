"""The printed report of one run (rates, CPU per event, the ratios against their targets)
and the side-by-side summary of several runs.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TARGET_C_OVER_B = 0.7
TARGET_D_OVER_A = 0.5
# issue 3: the pipeline with windows ≥ 3× the naive windowed-table Faust agent (e)
TARGET_C_OVER_E = 3.0


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
    q, r_ = res.get("q"), res.get("r")
    for label, x in (("q", q), ("r", r_)):
        if not x:
            continue
        kind = "single " if label == "q" else "batched"
        if "failed" in x:
            add(f"({label}) Quix Streams, {kind} FAILED: {x['failed']}")
            continue
        add(f"({label}) Quix Streams, {kind} {_fmt_rate(x['rate'])} events   "
            f"({x['events']:,} ev / {x['records']:,} rec in {x['elapsed_s']:.1f} s; FINAL count "
            f"{x['final_count']:,} {'OK' if x['verified'] else 'MISMATCH'}; "
            f"{x['windows']:,} window rows)")
        cpu = x["cpu"]
        busy = cpu["machine_busy"] / cpu["machine_total"] * 100 if cpu["machine_total"] else 0
        add(f"    CPU µs/event: Quix process {x['cpu_us_per_event']:.1f} (first event to last "
            f"write); from spawn: clickhouse {cpu['clickhouse'] / x['events'] * 1e6:.1f}, tansu "
            f"{cpu['tansu'] / x['events'] * 1e6:.1f}; machine busy {busy:.0f}%")
    add("-" * 78)
    q = q if q and "failed" not in q else None
    r_ = r_ if r_ and "failed" not in r_ else None
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
    for ours, peer, floor, kind in ((c, q, "single", "single"), (d, r_, "batched", "batched")):
        if not peer:
            continue
        fl = a[floor]["rate"] if a else None
        line = (f"Quix, {kind}: peer/(a {floor}) "
                + (f"{peer['rate'] / fl:.2f}" if fl else "—"))
        if ours:
            ours_cpu = (ours["cpu"]["worker"] + ours["cpu"].get("ingest", 0.0)) / ours["events"] * 1e6
            line = (f"{'(c)/(q)' if kind == 'single' else '(d)/(r)'} = {ours['rate']:,.0f} / "
                    f"{peer['rate']:,.0f} = {ours['rate'] / peer['rate']:.2f}× the nearest peer; "
                    f"ours/(a {floor}) " + (f"{ours['rate'] / fl:.2f}" if fl else "—")
                    + ", " + line + f"; CPU µs/event ours {ours_cpu:.0f} / Quix "
                    f"{peer['cpu_us_per_event']:.0f} = {ours_cpu / peer['cpu_us_per_event']:.2f}")
        add(line)
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
        ("(q) Quix single, ev/s", lambda r: r["q"]["rate"]),
        ("(r) Quix batched, ev/s", lambda r: r["r"]["rate"]),
        ("(c)/(q)", lambda r: r["c"]["rate"] / r["q"]["rate"]),
        ("(d)/(r)", lambda r: r["d"]["rate"] / r["r"]["rate"]),
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
