"""The cost of one ``AlertEngine.on_sequence`` (the shipped ``sequence_gap`` rule's
bounds: ``min_gap: 1``, ``max_gap: 100000``, ``reorder_s: 300``) while a station has an
open gap waiting for ``reorder_s`` of event time, by the number of numbers held above it.

    .venv/bin/python bench/alert_gap_probe.py

Live, a station sending 60 events/s (1,000 events/s over 16 stations) holds up to 18,000
numbers above one lost number during those 5 minutes; in a backlog, event time runs ahead
and the gap is judged after a few hundred numbers.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.unit.streams.alerts.factories import T0, engine, rule_yaml


def main() -> int:
    e = engine(rule_yaml("min_gap: 1\n    max_gap: 100000\n    reorder_s: 300",
                         kind="sequence_gap", message="{station_id} lost {gap_size}"))
    station = "TJ-PYANJ"
    for seq in range(1, 101):
        e.on_sequence(station, seq, T0 + seq // 100)
    held = 0
    seq = 102  # 101 lost
    print(f"{'numbers held':>12}  µs per on_sequence")
    for target in (0, 1_000, 5_000, 10_000, 20_000):
        while held < target:
            e.on_sequence(station, seq, T0 + 1)
            seq += 1
            held += 1
        n = 500
        t = time.perf_counter()
        for _ in range(n):
            e.on_sequence(station, seq, T0 + 1)
            seq += 1
        held += n
        print(f"{target:>12,}  {(time.perf_counter() - t) / n * 1e6:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
