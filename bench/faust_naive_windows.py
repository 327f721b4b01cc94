"""The naive baseline for windows: a per-event Faust agent updating Faust windowed tables
(run by pipeline_bench.py, measurement (e)).

    python bench/faust_naive_windows.py --bootstrap 127.0.0.1:PORT --topic T --group G \
        --expect N --result result.json --datadir DIR [--layout record|tables] \
        [--expires-s 172800]

What a typical hand-rolled Faust app for "events and persons per station and event type,
per minute / hour / …" looks like, written the way Faust's documentation shows windowed
tables (``app.Table(...).tumbling(...).relative_to_field(...)``, ``table[key] += value``),
not tuned:

* Its own app (nothing of streams/ is imported), configured like ``faust_count.py`` where
  it matters for throughput: ``stream_wait_empty=False``, no leader topic, in-memory
  tables (``store="memory://"``), ``earliest`` offsets, a short session timeout, commit
  every 2 s, web server off (``--without-web``). Stream keys are raw bytes (the station
  id); values are decoded by Faust from JSON into a ``faust.Record`` (``Event``); table
  keys and values use Faust's default JSON serializer.
* One agent, ``async for event in stream`` (one event at a time, acknowledged by Faust
  after each iteration), keyed by ``station_id|event_type``.
* Windows in **event time**: every table is ``.relative_to_field(Event.occurred_at)``
  (the ISO-8601 string is parsed by Faust into a ``datetime``, ``isodates=True``).
  The pipeline's default window set: tumbling 1 min, tumbling 1 h, hopping 1 h every
  5 min, day and month. Faust has no calendar windows, so day is approximated by a
  tumbling 86,400 s window and month by a tumbling 30-day window, both aligned to the UTC
  epoch (not the station's local calendar: the pipeline does more here).
* Statistics: events, persons (``persons`` when the event has it: crossings,
  detentions) and seizure kilograms (quantity → kg: g/ml × 0.001, kg/l × 1, tablets ×
  200 mg). Two layouts, both plain Faust:

  - ``--layout record`` (default): one table per window whose value is a small
    ``faust.Record`` ``Stats(events, persons, seizure_kg)`` with an ``__add__``, updated
    with ``table[key] += Stats(...)``. 5 tables; an event updates 16 windows (1 + 1 + 12
    hopping + 1 + 1), each one changelog record.
  - ``--layout tables``: what Faust's documentation shows literally, one ``int``/``float``
    table per statistic and window (``events[key] += 1``, ``persons[key] += n``; the kg
    table only for seizures). 15 tables; ~31 changelog records per event (persons on
    90 % of the events). Measured at ~0.6× the events/s of ``record``.

  Faust updates a hopping window by updating every overlapping window (12 here), not
  panes; every window update is one changelog record, as in any Faust table.
* Changelogs are kept: each table has its changelog topic (created by Faust, 4
  partitions), which is what a Faust app pays for its state to survive a restart. On
  Tansu the topics are created and written normally; Tansu ignores compaction (see
  /work/shared/SERVICES.md), and its wrong end offsets would make a *restart*
  recover a short changelog, which this bench never does (fresh topics, one run).
* ``expires``: Faust expires windows by the wall clock (``time.time()`` in
  ``Table._del_old_keys``), not by event time. The bench backlog's events are 2–22 hours
  old, so an expiry sized to the windows would drop windows as soon as the cleanup timer
  runs. ``--expires-s`` (default 2 days) keeps every window of the backlog in memory to the
  end, so the tables can be checked; the per-update TTL bookkeeping is paid all the same.

When ``--expect`` events have been processed, it flushes the producer (the changelog
records of the last events), then writes ``--result`` (JSON: monotonic times of the first
event, of the last one and of the end of that flush, process CPU times at those points,
the count, its resident memory, and the tables' contents summed for the bench's correctness check: per window
the number of windows held and the sums of each statistic, the events per (station, UTC
hour) of the 1-hour window, and the name of its changelog topic) and keeps running until
it is sent SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import faust

# (name, size s, hop s or None for tumbling): the pipeline's default windows, with day and
# month approximated by UTC-aligned tumbling windows (Faust has no calendar windows).
WINDOWS: list[tuple[str, int, int | None]] = [
    ("1m", 60, None),
    ("1h", 3600, None),
    ("1h-5m", 3600, 300),
    ("day", 86400, None),
    ("month", 30 * 86400, None),
]
KG_PER_UNIT = {"kg": 1.0, "g": 0.001, "l": 1.0, "ml": 0.001, "tablet": 200e-6}


class Event(faust.Record, serializer="json", isodates=True):
    """The fields the agent reads; the other fields of the event are kept by Faust as
    attributes, unused."""

    station_id: str
    event_type: str
    occurred_at: datetime
    persons: int | None = None
    quantity: float | None = None
    unit: str | None = None


class Stats(faust.Record, serializer="json"):
    """The value of a window in ``--layout record``."""

    events: int = 0
    persons: int = 0
    seizure_kg: float = 0.0

    def __add__(self, other: Stats) -> Stats:
        return Stats(events=self.events + other.events, persons=self.persons + other.persons,
                     seizure_kg=self.seizure_kg + other.seizure_kg)


def _write_json(path: str, data: dict[str, object]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)  # the bench polls for the file: never let it see half of it


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _windowed(app: faust.App, name: str, default: type, size: int, hop: int | None,
              expires: timedelta, partitions: int) -> Any:
    table = app.Table(name, default=default, partitions=partitions,
                      value_type=default if default is Stats else None)
    wrapped = (table.tumbling(size, expires=expires) if hop is None
               else table.hopping(size, hop, expires=expires))
    return wrapped.relative_to_field(Event.occurred_at)


def _contents(layout: str, tables: dict[str, Any]) -> dict[str, Any]:
    """What the tables hold: per window the number of windows and the sum of each
    statistic, and the events per (station, window start) of the 1-hour window."""
    stats: dict[str, dict[str, float]] = {}
    for w, _, _ in WINDOWS:
        if layout == "record":
            items = list(tables[f"stats-{w}"].table.items())
            stats[w] = {"windows": len(items),
                        "events": sum(v.events for _, v in items),
                        "persons": sum(v.persons for _, v in items),
                        "seizure_kg": sum(v.seizure_kg for _, v in items)}
        else:
            stats[w] = {"windows": len(tables[f"events-{w}"].table)}
            for stat in ("events", "persons", "seizure_kg"):
                stats[w][stat] = sum(tables[f"{stat}-{w}"].table.values())
    name = "stats-1h" if layout == "record" else "events-1h"
    per_station_hour: dict[str, int] = defaultdict(int)
    for (key, (start, _end)), v in tables[name].table.items():
        per_station_hour[f"{key.split('|', 1)[0]}|{int(start)}"] += (
            v.events if layout == "record" else v)
    return {"layout": layout, "stats": stats, "events_1h_per_station": per_station_hour,
            "changelog_1h": tables[name].table.changelog_topic.get_topic_name()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--datadir", required=True)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--layout", choices=("record", "tables"), default="record")
    ap.add_argument("--expires-s", type=float, default=2 * 86400)
    args = ap.parse_args()

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        topic_partitions=args.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        broker_commit_interval=2.0,
        stream_wait_empty=False,
        web_enabled=False,
        datadir=args.datadir,
        store="memory://",
    )
    topic = app.topic(args.topic, key_type=bytes, key_serializer="raw", value_type=Event,
                      partitions=args.partitions)
    expires = timedelta(seconds=args.expires_s)
    tables: dict[str, Any] = {}
    stats: list[tuple[str, type]] = (
        [("stats", Stats)] if args.layout == "record"
        else [("events", int), ("persons", int), ("seizure_kg", float)])
    for wname, size, hop in WINDOWS:
        for stat, default in stats:
            tables[f"{stat}-{wname}"] = _windowed(app, f"{stat}-{wname}", default, size, hop,
                                                  expires, args.partitions)
    stats_t = [tables[f"stats-{w}"] for w, _, _ in WINDOWS] if args.layout == "record" else []
    events_t = [tables[f"events-{w}"] for w, _, _ in WINDOWS] if not stats_t else []
    persons_t = [tables[f"persons-{w}"] for w, _, _ in WINDOWS] if not stats_t else []
    kg_t = [tables[f"seizure_kg-{w}"] for w, _, _ in WINDOWS] if not stats_t else []
    state: dict[str, Any] = {"count": 0, "t_first": None, "written": False}

    @app.agent(topic, name="bench.naive_windows")
    async def count(stream: faust.StreamT[Event]) -> None:
        async for event in stream:
            if state["t_first"] is None:
                state["t_first"] = time.monotonic()
                state["cpu_first"] = time.process_time()
            key = f"{event.station_id}|{event.event_type}"
            kg = 0.0
            if event.event_type == "seizure" and event.quantity is not None:
                kg = event.quantity * KG_PER_UNIT[event.unit or "kg"]
            if stats_t:
                delta = Stats(events=1, persons=event.persons or 0, seizure_kg=kg)
                for t in stats_t:
                    t[key] += delta
            else:
                for t in events_t:
                    t[key] += 1
                if event.persons is not None:
                    for t in persons_t:
                        t[key] += event.persons
                if kg:
                    for t in kg_t:
                        t[key] += kg
            state["count"] += 1
            if state["count"] >= args.expect and not state["written"]:
                state["written"] = True
                t_last, cpu_last = time.monotonic(), time.process_time()
                await app.producer.flush()  # the changelog records of the last events
                result = {
                    "count": state["count"],
                    "t_first": state["t_first"], "t_last": t_last,
                    "t_flushed": time.monotonic(),
                    "cpu_first": state["cpu_first"], "cpu_last": cpu_last,
                    "cpu_flushed": time.process_time(), "rss_mb": _rss_mb(),
                    **_contents(args.layout, tables),
                }
                _write_json(args.result, result)

    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", "warn"]
    app.main()


if __name__ == "__main__":
    main()
