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
    ("parse_event (pydantic validation)", re.compile(r"^parse_event \(")),
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
