"""The live bench's load generator: offers records from a file to a topic at a steady rate,
in its own process (``bench/live_bench.py`` starts it beside the worker).

    python bench/loadgen.py --bootstrap H:P --topic T --records FILE --rate 1000 --result OUT

``FILE``: one record a line, ``key<TAB>value`` (compact JSON has no raw tab). It loads
them, connects, prints ``READY`` and waits for a line on stdin; then sends record ``i`` at
``t0 + i / rate`` (in bursts every ~2 ms) and writes ``OUT`` as JSON: ``t0``, the send time
of every record (``time.time()`` just after the producer accepted it, the clock the bench's
visibility polls use), the producer used and this process's CPU seconds. It imports
nothing of the project, so it runs under any interpreter with confluent-kafka (librdkafka,
preferred: ~10× cheaper per record) or kafka-python; ``linger`` 50 ms by default, as an SDK
publisher would batch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _producer(bootstrap: str, linger_ms: int, prefer: str) -> tuple[str, Any, Any, Any]:
    """(name, send(topic, key, value), poll(), flush())."""
    if prefer in ("auto", "confluent"):
        try:
            from confluent_kafka import Producer
        except ImportError:
            if prefer == "confluent":
                raise
        else:
            p = Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms, "acks": 1,
                          "queue.buffering.max.messages": 1_000_000})

            def send_c(topic: str, key: bytes, value: bytes) -> None:
                p.produce(topic, value=value, key=key)

            return ("confluent-kafka", send_c, lambda: p.poll(0), lambda: p.flush(60))
    from kafka import KafkaProducer

    kp = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=linger_ms,
                       client_id="blo-bench-loadgen")

    def send_k(topic: str, key: bytes, value: bytes) -> None:
        kp.send(topic, key=key, value=value)

    return ("kafka-python", send_k, lambda: None, lambda: kp.flush(60))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--records", type=Path, required=True)
    ap.add_argument("--rate", type=float, required=True, help="records per second")
    ap.add_argument("--result", type=Path, required=True)
    ap.add_argument("--linger-ms", type=int, default=50)
    ap.add_argument("--producer", choices=("auto", "confluent", "kafka-python"), default="auto")
    args = ap.parse_args()
    records = []
    for line in args.records.read_bytes().splitlines():
        k, _, v = line.partition(b"\t")
        records.append((k, v))
    name, send, poll, flush = _producer(args.bootstrap, args.linger_ms, args.producer)
    print("READY", flush=True)
    sys.stdin.readline()
    n = len(records)
    sent = [0.0] * n
    t0 = time.time()
    i = 0
    behind = 0.0
    while i < n:
        now = time.time()
        due = min(n, int((now - t0) * args.rate) + 1)
        if due > i:
            behind = max(behind, now - (t0 + i / args.rate))
        while i < due:
            k, v = records[i]
            send(args.topic, k, v)
            sent[i] = time.time()
            i += 1
        poll()
        time.sleep(0.002)
    t_end = time.time()
    flush()
    cpu = os.times()
    args.result.write_text(json.dumps({
        "t0": t0, "t_end": t_end, "rate": args.rate, "n": n, "producer": name,
        "max_behind_s": behind, "cpu_s": cpu.user + cpu.system, "sent": sent,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
