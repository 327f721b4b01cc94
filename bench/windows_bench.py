"""Cost of the event-time window core (streams.windows), one process, no Kafka/ClickHouse.

    .venv/bin/python bench/windows_bench.py [--events 200000] [--keys 100000] [--repeat 3]

With the default window configuration (1m, 1h, 1h/5m hopping, local day, local month):

1. ``add()`` µs/event on realistic ``events`` rows (``blo.simulate.TrafficGenerator`` over
   the seed stations, validated and enriched by the real ``parse_event``/``event_row``),
   delivered in event-time order with up to 30 s of disorder and ticked every 5,000 events
   (best of ``--repeat``), and the same with the cyclic GC off for comparison. The backlog
   itself is frozen out of the GC (``gc.freeze``): a worker does not hold one.
2. The amortised cost of ``tick()`` over that replay (the ~20 hours of event time go by in
   seconds, so almost every window is created, closed and purged inside the run): µs per
   event and per emitted row, rows per event.
3. ``--keys`` open window keys (stations × event types × drugs, one event each, all windows
   open): the resident memory they hold (RSS delta), a tick when nothing changed, a tick
   after every key changed (all provisional), and closing them all.

Benchmarks are not tests: nothing here asserts a time. Figures go to docs/windows.md.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from blo.simulate import TrafficGenerator, seed_stations
from schemas.identity import derive_event_id
from schemas.parse import parse_event
from sinks.tables import EVENTS
from streams.stages.decode import SourcePos
from streams.stages.rows import event_row
from streams.windows import WindowState

Row = tuple[Any, ...]
TICK_EVERY = 5000  # events between ticks (a worker ticks once per batch)
KEYS_T = 1_714_564_830  # 2024-05-01 12:00:30 UTC: event time (and wall clock) of part 3


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def backlog(n: int, seed: int = 7) -> list[Row]:
    """``n`` enriched events rows over ~20 hours, at most 30 s out of event-time order."""
    stations = seed_stations()
    by_id = {s.station_id: s for s in stations}
    start = datetime(2024, 5, 1, 2, tzinfo=UTC)
    gen = TrafficGenerator(stations, rate=n / (20 * 3600), seed=seed, start=start)
    now = start + timedelta(days=2)
    rows = []
    for i, e in enumerate(gen.events(n)):
        e["event_id"] = str(derive_event_id(e["station_id"], e["source_seq"]))
        ev = parse_event(e, now=now, max_future_skew=timedelta(minutes=5))
        rows.append(event_row(ev, by_id[ev.station_id], body_hash="", payload="",
                              ingested_at=now, source=SourcePos("raw", 0, i),
                              tablet_mass_mg=200.0))
    rng = random.Random(seed)
    occurred = EVENTS.index("occurred_at")
    jitter = [(r[occurred].timestamp() + rng.uniform(0, 30), i) for i, r in enumerate(rows)]
    return [rows[i] for _, i in sorted(jitter)]


def replay(rows: list[Row]) -> tuple[float, float, int, WindowState]:
    """(seconds in add, seconds in tick, rows emitted, state) for one pass."""
    state = WindowState()
    add = state.add
    t_add = t_tick = 0.0
    emitted = 0
    now = 2_000_000_000.0
    for i in range(0, len(rows), TICK_EVERY):
        chunk = rows[i:i + TICK_EVERY]
        a = time.perf_counter()
        for r in chunk:
            add(r, 0)
        b = time.perf_counter()
        em = state.tick(now, ())
        t_tick += time.perf_counter() - b
        t_add += b - a
        emitted += len(em.rows)
        now += 0.25
    b = time.perf_counter()
    emitted += len(state.close_all(now).rows)
    t_tick += time.perf_counter() - b
    return t_add, t_tick, emitted, state


def best(repeat: int, fn: Callable[[], tuple[float, float, int, WindowState]]
         ) -> tuple[float, float, int]:
    runs = []
    for _ in range(repeat):
        gc.collect()
        t_add, t_tick, emitted, _ = fn()
        runs.append((t_add, t_tick, emitted))
    return min(runs)


def open_keys_state(keys: int) -> tuple[WindowState, list[Row], int]:
    """A state holding about ``keys`` open window keys (16 per (station, key): 1m, 1h,
    12 hopping, day, month), and the rows that made it."""
    stations = seed_stations()
    template = {n: None for n, t in EVENTS.columns if t.startswith("Nullable(")}
    drugs = ["heroin", "opium", "hashish", "cannabis", "methamphetamine", "cocaine",
             "tramadol", "precursors", "other"]
    kinds = [("crossing", "")] + [("seizure", d) for d in drugs] + [
        ("inspection", ""), ("detention", ""), ("incident", "")]
    combos = -(-keys // 16)
    t = datetime.fromtimestamp(KEYS_T, UTC)
    rows = []
    for i in range(combos):
        st = stations[i % len(stations)]
        et, drug = kinds[(i // len(stations)) % len(kinds)]
        sid = f"{st.station_id}-{i // (len(stations) * len(kinds))}"
        values: dict[str, Any] = {n: "" for n, t_ in EVENTS.columns if t_ == "String"}
        values.update(template)
        values.update(event_id=i, event_type=et, schema_version=1, station_id=sid,
                      source_seq=i, occurred_at=t, reported_at=t, ingested_at=t,
                      country=st.country, border=st.border, station_tz=st.tz, drug=drug,
                      persons=1, kafka_partition=0, kafka_offset=i)
        if et == "seizure":
            values["quantity_kg"] = 1.5
        rows.append(tuple(values[n] for n in EVENTS.column_names))
    gc.collect()
    before = rss_bytes()
    state = WindowState()
    for r in rows:
        state.add(r, 0)
    state.tick(KEYS_T + 1, ())
    gc.collect()
    return state, rows, rss_bytes() - before


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    a = time.perf_counter()
    out = fn()
    return time.perf_counter() - a, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    print(f"building {args.events:,} enriched events rows ...", flush=True)
    rows = backlog(args.events)
    n = len(rows)
    # the backlog held here is not part of a worker's heap: keep the cyclic GC off it
    gc.collect()
    gc.freeze()
    t_add, t_tick, emitted = best(args.repeat, lambda: replay(rows))
    print(f"\n1-2. replay of {n:,} events (~20 h of event time, default windows, tick every "
          f"{TICK_EVERY:,} events), best of {args.repeat}:")
    print(f"  add()          {t_add / n * 1e6:6.2f} µs/event")
    print(f"  tick() total   {t_tick / n * 1e6:6.2f} µs/event   {t_tick / emitted * 1e6:6.2f} "
          f"µs/row   {emitted / n:.2f} rows/event ({emitted:,} rows)")
    print(f"  together       {(t_add + t_tick) / n * 1e6:6.2f} µs/event "
          f"= {n / (t_add + t_tick):,.0f} events/s on one core")
    gc.disable()
    try:
        g_add, g_tick, _ = best(args.repeat, lambda: replay(rows))
    finally:
        gc.enable()
    print(f"  (cyclic GC off: add {g_add / n * 1e6:.2f} µs/event, tick "
          f"{g_tick / n * 1e6:.2f} µs/event)")

    state, key_rows, rss = open_keys_state(args.keys)
    open_keys = state.open_keys()
    print(f"\n3. {open_keys:,} open window keys ({state.open_windows:,} open windows, "
          f"{len(key_rows):,} (station, key) pairs):")
    print(f"  resident memory  {rss / 2**20:6.1f} MiB ({rss / open_keys:,.0f} bytes/key)")
    s1, em = timed(lambda: state.tick(KEYS_T + 10, (0,)))
    print(f"  tick, nothing changed (caught up)   {s1 * 1e3:8.2f} ms  ({len(em.rows)} rows)")
    for r in key_rows:
        state.add(r, 0)
    s2, em = timed(lambda: state.tick(KEYS_T + 20, (0,)))
    print(f"  tick, every key changed             {s2 * 1e3:8.2f} ms  ({len(em.rows):,} "
          f"provisional rows, {s2 / max(len(em.rows), 1) * 1e6:.2f} µs/row, incl. the drain "
          f"of {len(key_rows):,} staged events)")
    s3, em = timed(lambda: state.close_all(KEYS_T + 30))
    print(f"  close_all                           {s3 * 1e3:8.2f} ms  ({len(em.rows):,} final "
          f"rows, {s3 / max(len(em.rows), 1) * 1e6:.2f} µs/row)")


if __name__ == "__main__":
    main()
