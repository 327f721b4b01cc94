"""Where the worker's time goes: py-spy's collapsed stacks summed into named buckets."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

# Every sample goes to the first bucket (in this order) that any frame of its stack matches:
# our own steps before the runtime glue that calls them, aiokafka before the Faust code that
# calls it. py-spy frames look like "IngestRuntime._ack (streams/runtime.py:144)".
_BUCKETS: list[tuple[str, re.Pattern[str]]] = [
    ("acks: stream.ack per record (IngestRuntime._ack)", re.compile(r"IngestRuntime\._ack \(")),
    ("conflict lookup SELECT (IngestRuntime._lookup_hashes, executor thread)",
     re.compile(r"_lookup_hashes|(ServerDatabase|ChdbDatabase)\.stored_body_hashes \(")),
    ("sink insert: rows→columns + clickhouse-driver (ServerDatabase.insert, sink thread)",
     re.compile(r"ServerDatabase\.insert \(")),
    ("validation: parse_valid_json (a clean record) or parse_event (pydantic)",
     re.compile(r"^(parse_valid_json|parse_event) \(")),
    ("canonical_json_and_hash", re.compile(r"^canonical_json_and_hash \(")),
    ("event_row (enrichment)", re.compile(r"^event_row \(")),
    ("decode_record (orjson)", re.compile(r"^decode_record \(")),
    ("ingest step, rest (IngestProcessor: registry, cache, bookkeeping)",
     re.compile(r"^IngestProcessor\.")),
    ("sink buffering/retries/callbacks (sinks/batching.py and its parts)",
     re.compile(r"\(sinks/(batching|batcher|retrier|durability|reader)\.py")),
    ("runtime glue + prometheus counters (IngestRuntime.handle/_count/_write)",
     re.compile(r"^IngestRuntime\.|\(prometheus_client/")),
    ("/metrics + aiohttp (the bench polls every 0.1 s)", re.compile(r"metrics_page|\(aiohttp/")),
    ("aiokafka: fetch, gzip, record decode (Faust's consumer thread)",
     re.compile(r"\(aiokafka/")),
    ("Faust/mode: stream, take buffer, conductor, event objects",
     re.compile(r"\((faust|mode)/")),
]
_OTHER = "asyncio loop itself, logging, other"
# The live bench (bench/live_bench.py) profiles the whole worker tree (py-spy
# --subprocesses): a sample's bucket is prefixed with its process ("faust" or "ingest",
# the child running streams.engine_process). Per-take and per-flush costs first, then the
# per-event steps, then the framework.
LIVE_BUCKETS: list[tuple[str, re.Pattern[str]]] = [
    ("alert engine (alert agent: AlertRuntime, rules, gap tracker)",
     re.compile(r"^AlertRuntime\.|\(streams/alerts/")),
    ("window tick (per timer: close, emit window rows, gauges)",
     re.compile(r"^(IngestRuntime\.tick_windows|WindowRuntime\.(tick|_emit|_gauges)) \(")),
    ("station progress + window rows to the alert input (encode, produce)",
     re.compile(r"^(station_progress_record|window_input_records|window_records) \("
                r"|^IngestServer\.(produce|_produce_once) \(")),
    ("conflict lookup SELECT per slice (stored_body_hashes, executor thread)",
     re.compile(r"_lookup_hashes|_lookup_live|\.stored_body_hashes \(")),
    ("sink flush: rows→columns + clickhouse-driver INSERT (sink thread)",
     re.compile(r"^ServerDatabase\.insert \(")),
    ("channel between the processes (SeparateBackend / IngestServer send, read, acks, pickle)",
     re.compile(r"^SeparateBackend\.|^IngestServer\.(_post|_ack|_flush_acks|_read_loop) \("
                r"|\(streams/channel\.py")),
    ("decode_record (orjson)", re.compile(r"^decode_record \(")),
    ("validation: parse_valid_json (a clean record) or parse_event (pydantic)",
     re.compile(r"^(parse_valid_json|parse_event) \(")),
    ("canonical_json_and_hash", re.compile(r"^canonical_json_and_hash \(")),
    ("conflict candidate per event (stages/conflicts.py)", re.compile(r"\(streams/stages/conflicts\.py")),
    ("event_row (enrichment, rows)", re.compile(r"^event_row \(|\(streams/stages/rows\.py")),
    ("window add per event", re.compile(r"^(WindowRuntime|WindowState)\.add \(")),
    ("ingest step, rest (IngestProcessor: registry, cache, bookkeeping)",
     re.compile(r"^IngestProcessor\.")),
    ("sink buffering/retries/callbacks", re.compile(r"\(sinks/(batching|batcher|retrier|durability|reader)\.py")),
    ("runtime glue + prometheus counters", re.compile(r"^IngestRuntime\.|\(prometheus_client/")),
    ("/metrics + aiohttp (the bench scrapes twice per phase)", re.compile(r"metrics_page|\(aiohttp/")),
    ("aiokafka: fetch, decode, produce", re.compile(r"\(aiokafka/")),
    ("Faust/mode: stream, take buffer, conductor, event objects", re.compile(r"\((faust|mode)/")),
    ("clickhouse-driver, other", re.compile(r"\(clickhouse_driver/")),
]


def summarize_profile(path: Path,
                      buckets_of: list[tuple[str, re.Pattern[str]]] | None = None
                      ) -> dict[str, Any]:
    """Aggregate py-spy raw (collapsed) stacks into buckets (``buckets_of``, default the
    backlog bench's), and samples per thread."""
    buckets: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")
        tname, proc = "", ""
        n_proc = 0
        while frames and frames[0].startswith(("thread (", "process ")):
            if frames[0].startswith("thread ("):
                tname = frames[0].split(": ", 1)[-1]
            else:
                n_proc += 1
                proc = "ingest" if "engine_process" in frames[0] else "faust"
            frames = frames[1:]
        if n_proc > 1 or (proc and buckets_of is not None):  # py-spy --subprocesses
            tname = f"{proc} {tname}"
        total += count
        threads[re.sub(r"_\d+$", "_N", tname) or "?"] += count
        bucket = _OTHER
        for name, rx in (buckets_of or _BUCKETS):
            if any(rx.search(f) for f in frames):
                bucket = name
                break
        buckets[f"{proc}: {bucket}" if buckets_of is not None and proc else bucket] += count
    return {"samples": total, "buckets": dict(buckets.most_common()),
            "threads": dict(threads.most_common())}
