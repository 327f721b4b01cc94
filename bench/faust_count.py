"""The framework floor: a Faust agent that only counts records (run by pipeline_bench.py).

    python bench/faust_count.py --bootstrap 127.0.0.1:PORT --topic T --group G \
        --expect N --result result.json --datadir DIR [--take 10000] [--within 0.5]

Its own app (nothing of streams/ is imported), configured like the worker's where it
matters for throughput: raw serializers, ``stream_wait_empty=False``, no leader topic,
in-memory tables, ``earliest`` offsets, and a stream buffer of 2× the take size. The agent
does ``stream.take(TAKE, within=WITHIN)`` and only counts; Faust acknowledges (and commits)
as usual for ``take``. When ``--expect`` records are counted it writes ``--result`` (JSON:
monotonic times of the first batch and of the last one, the first batch's size, the
number of batches) and keeps running until it is sent SIGTERM. The web server is off
(``--without-web``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _write_json(path: str, data: dict[str, object]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)  # the bench polls for the file: never let it see half of it


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--datadir", required=True)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--take", type=int, default=10_000)
    ap.add_argument("--within", type=float, default=0.5)
    args = ap.parse_args()

    import faust

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=args.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        broker_commit_interval=2.0,
        stream_wait_empty=False,
        stream_buffer_maxsize=max(4096, args.take * 2),
        web_enabled=False,
        datadir=args.datadir,
        store="memory://",
    )
    topic = app.topic(args.topic, partitions=args.partitions)
    state = {"count": 0, "batches": 0, "t_first": None, "first_batch": 0, "written": False}

    @app.agent(topic, name="bench.count")
    async def count(stream: faust.StreamT) -> None:
        async for batch in stream.take(args.take, within=args.within):
            now = time.monotonic()
            if state["t_first"] is None:
                state["t_first"] = now
                state["first_batch"] = len(batch)
                state["cpu_first"] = time.process_time()
            state["count"] += len(batch)
            state["batches"] += 1
            if state["count"] >= args.expect and not state["written"]:
                state["written"] = True
                result = {
                    "count": state["count"], "batches": state["batches"],
                    "first_batch": state["first_batch"],
                    "t_first": state["t_first"], "t_last": now,
                    "cpu_first": state["cpu_first"], "cpu_last": time.process_time(),
                }
                _write_json(args.result, result)

    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", "warn"]
    app.main()


if __name__ == "__main__":
    main()
