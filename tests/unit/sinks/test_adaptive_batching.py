"""Adaptive batching (``sink_write_when_idle``): idle tables are written at once, busy ones
gather their rows into the next insert, and small inserts of one table are spaced by
``sink_min_interval_s``. Against the in-memory database, writes held by its gate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from blo.metrics import Metrics
from sinks.batching import BatchingSink
from sinks.memory import MemoryDatabase
from tests.unit.sinks.test_batching import rows, run, sample, settings, until

pytestmark = pytest.mark.timeout(60)
COLUMNS = {"events": ("id", "text"), "dlq": ("id", "reason")}


def adaptive_sink(db: MemoryDatabase, metrics: Metrics, **kw: Any) -> BatchingSink:
    cfg = {"sink_write_when_idle": True, "sink_min_interval_s": 0.0,
           "sink_max_rows": 1000, "sink_max_age_s": 60.0, **kw}
    return BatchingSink(db, settings(**cfg), metrics, columns=COLUMNS)


def test_an_idle_table_is_written_at_once_not_after_the_age() -> None:
    db, m = MemoryDatabase(), Metrics()
    durable: list[float] = []

    async def main() -> None:
        sink = adaptive_sink(db, m)  # max age 60 s: only the idle rule can write this
        start = time.monotonic()

        async def on_durable() -> None:
            durable.append(time.monotonic() - start)

        await sink.submit({"events": rows(0, 3)}, on_durable)
        await until(lambda: bool(durable), "the idle write")
        await sink.close()

    run(main())
    assert db.batch_sizes("events") == [3]
    assert sample(m, "blo_sink_flushes_total", table="events", reason="idle") == 1
    assert sample(m, "blo_sink_flushes_total", table="events", reason="age") == 0


def test_rows_submitted_while_a_write_is_in_flight_go_out_together_when_it_ends() -> None:
    db, m = MemoryDatabase(), Metrics()
    done: list[int] = []

    def mark(n: int) -> Any:
        async def on_durable() -> None:
            done.append(n)
        return on_durable

    async def main() -> None:
        sink = adaptive_sink(db, m)
        db.hold()  # the first write starts and waits in its thread
        await sink.submit({"events": rows(0, 1)}, mark(0))
        await until(lambda: sample(m, "blo_sink_batches_in_flight") == 1, "the first write")
        for i in range(1, 8):  # busy: these gather
            await sink.submit({"events": rows(i, 1)}, mark(i))
        await asyncio.sleep(0.05)
        assert sample(m, "blo_sink_flushes_total", table="events", reason="idle") == 1
        db.release()
        await until(lambda: len(done) == 8, "all durable")
        await sink.close()

    run(main())
    assert db.batch_sizes("events") == [1, 7]  # group commit, not seven more inserts
    assert done == list(range(8))  # still in submission order


def test_each_table_is_idle_or_busy_on_its_own() -> None:
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = adaptive_sink(db, m)
        await sink.submit({"events": rows(0, 2), "dlq": rows(0, 1, "dlq")})
        await until(lambda: len(db.rows("events")) == 2 and len(db.rows("dlq")) == 1,
                    "both tables written without a flush")
        await sink.close()

    run(main())
    assert db.batch_sizes("events") == [2] and db.batch_sizes("dlq") == [1]


def test_small_writes_of_a_table_are_spaced_by_the_min_interval() -> None:
    db, m = MemoryDatabase(), Metrics()
    interval = 0.3

    async def main() -> None:
        sink = adaptive_sink(db, m, sink_min_interval_s=interval)
        await sink.submit({"events": rows(0, 1)})
        await until(lambda: len(db.rows("events")) == 1, "the first idle write")
        first = time.monotonic()
        for i in range(1, 6):  # idle again, but within the interval: one write, later
            await sink.submit({"events": rows(i, 1)})
            await asyncio.sleep(0.01)
        assert len(db.rows("events")) == 1
        await until(lambda: len(db.rows("events")) == 6, "the spaced write")
        assert time.monotonic() - first >= interval * 0.9
        await sink.close()

    run(main())
    assert db.batch_sizes("events") == [1, 5]


def test_off_it_waits_for_the_thresholds_as_before() -> None:
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = adaptive_sink(db, m, sink_write_when_idle=False, sink_max_age_s=0.2)
        await sink.submit({"events": rows(0, 2)})
        await asyncio.sleep(0.05)
        assert db.rows("events") == []
        await until(lambda: len(db.rows("events")) == 2, "the age flush")
        await sink.close()

    run(main())
    assert sample(m, "blo_sink_flushes_total", table="events", reason="age") == 1


def test_full_batches_still_cut_by_rows_and_the_tail_waits_for_the_write() -> None:
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = adaptive_sink(db, m, sink_max_rows=10)
        db.hold()
        await sink.submit({"events": rows(0, 25)})  # 2 full batches by rows, 5 left
        await asyncio.sleep(0.05)
        assert sample(m, "blo_sink_flushes_total", table="events", reason="rows") == 2
        db.release()
        await until(lambda: len(db.rows("events")) == 25, "the tail")
        await sink.close()

    run(main())
    assert sorted(db.batch_sizes("events")) == [5, 10, 10]
    assert sample(m, "blo_sink_flushes_total", table="events", reason="idle") == 1


# -- writable(): when a take should be taken (BLO_BATCH_TAKE_FOLLOWS_SINK_S) ---------------

def test_writable_answers_at_once_for_a_table_that_would_be_written_at_once() -> None:
    db, m = MemoryDatabase(), Metrics()
    waited: list[float] = []

    async def main() -> None:
        sink = adaptive_sink(db, m, sink_min_interval_s=5.0)
        start = time.monotonic()
        await sink.writable("events", 2.0)  # never written: writable now
        waited.append(time.monotonic() - start)
        await sink.close()

    run(main())
    assert waited[0] < 0.5


def test_writable_waits_for_the_write_in_flight_to_end() -> None:
    db, m = MemoryDatabase(), Metrics()
    order: list[str] = []

    async def main() -> None:
        sink = adaptive_sink(db, m)
        db.hold()
        await sink.submit({"events": rows(0, 1)})
        await until(lambda: sample(m, "blo_sink_batches_in_flight") == 1, "the write")

        async def taker() -> None:
            await sink.writable("events", 30.0)
            order.append("writable")

        waiting = asyncio.ensure_future(taker())
        await asyncio.sleep(0.2)
        assert not order  # still in flight: rows taken now would only gather
        order.append("released")
        db.release()
        await asyncio.wait_for(waiting, 10)
        await sink.close()

    run(main())
    assert order == ["released", "writable"]


def test_writable_waits_out_the_min_interval_since_the_last_write() -> None:
    db, m = MemoryDatabase(), Metrics()
    waited: list[float] = []

    async def main() -> None:
        sink = adaptive_sink(db, m, sink_min_interval_s=0.6)
        await sink.submit({"events": rows(0, 1)})
        await until(lambda: db.batch_sizes("events") == [1], "the first write")
        start = time.monotonic()
        await sink.writable("events", 30.0)
        waited.append(time.monotonic() - start)
        await sink.submit({"events": rows(1, 1)})
        await until(lambda: db.batch_sizes("events") == [1, 1], "the second write")
        await sink.close()

    run(main())
    assert 0.2 < waited[0] < 5.0  # most of the 0.6 s interval, not the 30 s ceiling
    # the rows submitted right after were written at once, as the idle write they waited for
    assert sample(m, "blo_sink_flushes_total", table="events", reason="idle") == 2


def test_writable_waits_at_most_max_wait_and_not_at_all_without_adaptive_batching() -> None:
    db, m = MemoryDatabase(), Metrics()
    waited: dict[str, float] = {}

    async def main() -> None:
        sink = adaptive_sink(db, m)
        db.hold()
        await sink.submit({"events": rows(0, 1)})
        await until(lambda: sample(m, "blo_sink_batches_in_flight") == 1, "the write")
        start = time.monotonic()
        await sink.writable("events", 0.3)  # the write never ends while this waits
        waited["capped"] = time.monotonic() - start
        start = time.monotonic()
        await sink.writable("events", 0.0)
        waited["zero"] = time.monotonic() - start
        db.release()
        await sink.close()

        off = BatchingSink(MemoryDatabase(), settings(sink_write_when_idle=False,
                                                      sink_max_age_s=60.0), m,
                           columns=COLUMNS)
        start = time.monotonic()
        await off.writable("events", 10.0)
        waited["off"] = time.monotonic() - start
        await off.close()

    run(main())
    assert 0.25 <= waited["capped"] < 3.0
    assert waited["zero"] < 0.2
    assert waited["off"] < 0.5
