"""BatchingSink against the in-memory database: thresholds, ordering, retries, backpressure."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import pytest

from blo.metrics import Metrics
from blo.settings import BatchSettings
from sinks.base import Row, SinkError, SinkTimeout, SinkWriteError
from sinks.batching import BatchingSink
from sinks.memory import MemoryDatabase
from sinks.retrier import WRITE_ERROR_RETRIES

COLUMNS = {"events": ("id", "text"), "dlq": ("id", "reason")}

pytestmark = pytest.mark.timeout(60)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def settings(**kw: Any) -> BatchSettings:
    base: dict[str, Any] = {
        "sink_max_rows": 10,
        "sink_max_bytes": 10_000_000,
        "sink_max_age_s": 60.0,
        "sink_max_in_flight": 2,
        "sink_retry_initial_s": 0.01,
        "sink_retry_max_s": 0.05,
        "sink_write_when_idle": False,  # the thresholds alone; adaptive: test_adaptive_batching
    }
    return BatchSettings.model_validate({**base, **kw})


def make_sink(db: MemoryDatabase, metrics: Metrics | None = None, **kw: Any) -> BatchingSink:
    return BatchingSink(db, settings(**kw), metrics or Metrics(), columns=COLUMNS)


def rows(start: int, n: int, table: str = "events") -> list[Row]:
    return [(i, f"{table}-{i}") for i in range(start, start + n)]


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def test_flush_by_rows_keeps_the_short_tail_buffered() -> None:
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = make_sink(db, m)
        await sink.submit({"events": rows(0, 25)})
        await until(lambda: len(db.rows("events")) == 20, "two full batches")
        assert db.batch_sizes("events") == [10, 10]
        assert sink.unwritten_rows == 5
        await sink.flush()
        assert db.batch_sizes("events") == [10, 10, 5]
        assert [r[0] for r in db.rows("events")] == list(range(25))
        await sink.close()

    run(main())
    assert sample(m, "blo_sink_flushes_total", table="events", reason="rows") == 2
    assert sample(m, "blo_sink_flushes_total", table="events", reason="flush") == 1
    assert sample(m, "blo_sink_rows_written_total", table="events") == 25
    assert db.closed


def test_small_submissions_accumulate_into_one_batch() -> None:
    db = MemoryDatabase()

    async def main() -> None:
        sink = make_sink(db)
        for i in range(10):
            await sink.submit({"events": rows(i, 1)})
        await until(lambda: len(db.rows("events")) == 10, "the batch")
        assert db.batch_sizes("events") == [10]
        await sink.close()

    run(main())


def test_flush_by_age() -> None:
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = make_sink(db, m, sink_max_age_s=0.05)
        await sink.submit({"events": rows(0, 3)})
        await until(lambda: len(db.rows("events")) == 3, "the age flush")
        assert sink.unwritten_rows == 0
        await sink.close()

    run(main())
    assert sample(m, "blo_sink_flushes_total", table="events", reason="age") == 1
    assert sample(m, "blo_sink_flushes_total", table="events", reason="rows") == 0


def test_flush_by_bytes() -> None:
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = make_sink(db, m, sink_max_rows=1000, sink_max_bytes=2048)
        big = [(i, "x" * 300) for i in range(8)]  # ~2.4 kB
        await sink.submit({"events": big})
        await until(lambda: len(db.rows("events")) == 8, "the bytes flush")
        await sink.close()

    run(main())
    assert sample(m, "blo_sink_flushes_total", table="events", reason="bytes") == 1


class GatedDatabase(MemoryDatabase):
    """Inserts into a gated table wait until its gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, threading.Event] = {}

    def insert(self, table: str, column_names: Sequence[str], rows: Sequence[Row]) -> None:
        gate = self.gates.get(table)
        if gate is not None:
            assert gate.wait(30)
        super().insert(table, column_names, rows)


def test_on_durable_runs_in_submission_order_after_all_tables() -> None:
    db = GatedDatabase()
    db.gates["dlq"] = threading.Event()
    done: list[int] = []
    seen_at_callback: dict[int, tuple[int, int]] = {}

    def callback(n: int) -> Callable[[], Awaitable[None]]:
        async def on_durable() -> None:
            seen_at_callback[n] = (len(db.rows("events")), len(db.rows("dlq")))
            done.append(n)

        return on_durable

    async def main() -> None:
        sink = make_sink(db, sink_max_rows=5)
        # 1: events + dlq (the dlq write is held); 2 and 3: events only, written at once
        await sink.submit({"events": rows(0, 5), "dlq": rows(0, 5, "dlq")}, callback(1))
        await sink.submit({"events": rows(5, 5)}, callback(2))
        await sink.submit({}, callback(3))  # nothing to write: still waits its turn
        await until(lambda: len(db.rows("events")) == 10, "events written")
        await asyncio.sleep(0.05)
        assert done == []  # submission 1 is not durable: its dlq rows are not written
        db.gates["dlq"].set()
        await until(lambda: done == [1, 2, 3], "callbacks")
        await sink.flush()
        await sink.close()

    run(main())
    assert done == [1, 2, 3]  # each exactly once
    assert seen_at_callback[1] == (10, 5)


def test_submission_split_across_batches_is_durable_once_all_pieces_are() -> None:
    db = MemoryDatabase()
    done: list[str] = []

    async def cb_a() -> None:
        done.append("a")

    async def cb_b() -> None:
        done.append("b")

    async def main() -> None:
        sink = make_sink(db, sink_max_rows=4)
        await sink.submit({"events": rows(0, 3)}, cb_a)
        await sink.submit({"events": rows(3, 7)}, cb_b)  # 10 rows: 4 + 4 written, 2 buffered
        await until(lambda: len(db.rows("events")) == 8, "two batches")
        await asyncio.sleep(0.02)
        assert done == ["a"]  # b still has 2 rows buffered
        await sink.flush()
        assert done == ["a", "b"]
        await sink.close()

    run(main())
    assert [r[0] for r in db.rows("events")] == list(range(10))


def test_unavailable_is_retried_until_success() -> None:
    db, m = MemoryDatabase(), Metrics()
    db.fail_next(4)
    done: list[bool] = []

    async def on_durable() -> None:
        done.append(True)

    async def main() -> None:
        sink = make_sink(db, m)
        await sink.submit({"events": rows(0, 3)}, on_durable)
        await sink.flush()
        await sink.close()

    run(main())
    assert [r[0] for r in db.rows("events")] == [0, 1, 2]  # written once
    assert db.attempts == 5
    assert done == [True]
    assert sample(m, "blo_sink_retries_total", table="events", error="unavailable") == 4


def test_backpressure_blocks_submit_while_failing_and_releases_after() -> None:
    db, m = MemoryDatabase(), Metrics()
    db.fail_next(10_000)
    events: list[bool] = []

    async def main() -> None:
        sink = make_sink(db, m)
        sink.add_backpressure_listener(events.append)
        await sink.submit({"events": rows(0, 10)})  # a full batch: written, and failing
        await until(lambda: sink.backpressured, "backpressure")
        blocked = asyncio.create_task(sink.submit({"events": rows(10, 1)}))
        await asyncio.sleep(0.1)
        assert not blocked.done()
        assert sample(m, "blo_sink_backpressured") == 1
        assert sample(m, "blo_sink_retries_total", table="events", error="unavailable") > 0
        db.clear_failures()  # ClickHouse comes back
        await asyncio.wait_for(blocked, 10)
        assert not sink.backpressured
        await sink.flush()
        await sink.close()

    run(main())
    assert events == [True, False]
    assert sorted(r[0] for r in db.rows("events")) == list(range(11))
    assert sample(m, "blo_sink_backpressured") == 0


def test_backpressure_when_too_many_rows_are_unwritten() -> None:
    db = MemoryDatabase()
    db.hold()

    async def main() -> None:
        sink = make_sink(db, sink_max_rows=10, sink_max_in_flight=1)
        await sink.submit({"events": rows(0, 21)})  # > (1 + 1) * 10
        assert sink.backpressured
        blocked = asyncio.create_task(sink.submit({"events": rows(21, 1)}))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        db.release()
        await asyncio.wait_for(blocked, 10)
        await sink.close()

    run(main())
    assert len(db.rows("events")) == 22


def test_write_error_surfaces_after_bounded_retries() -> None:
    db, m = MemoryDatabase(), Metrics()
    db.fail_next(100, SinkWriteError)
    called: list[bool] = []

    async def on_durable() -> None:
        called.append(True)

    async def main() -> None:
        sink = make_sink(db, m)
        await sink.submit({"events": rows(0, 3)}, on_durable)
        with pytest.raises(SinkWriteError, match="injected"):
            await sink.flush()
        with pytest.raises(SinkWriteError):
            await sink.submit({"events": rows(3, 1)})
        with pytest.raises(SinkWriteError):
            await sink.close()

    run(main())
    assert db.attempts == 1 + WRITE_ERROR_RETRIES
    assert called == []
    assert db.rows("events") == []
    assert sample(m, "blo_sink_retries_total", table="events", error="write") == 3


def test_write_error_raised_from_a_blocked_submit() -> None:
    db = MemoryDatabase()
    db.fail_next(100, SinkWriteError)

    async def main() -> None:
        sink = make_sink(db)
        await sink.submit({"events": rows(0, 10)})
        await until(lambda: sink.backpressured, "backpressure while retrying")
        with pytest.raises(SinkWriteError):
            await asyncio.wait_for(sink.submit({"events": rows(10, 1)}), 10)

    run(main())


def test_unknown_table_and_wrong_width_are_refused_at_submit() -> None:
    async def main() -> None:
        sink = make_sink(MemoryDatabase())
        with pytest.raises(SinkWriteError, match="unknown table"):
            await sink.submit({"nope": [(1,)]})
        with pytest.raises(SinkWriteError, match="values"):
            await sink.submit({"events": [(1, 2, 3)]})
        await sink.close()
        with pytest.raises(SinkError, match="closed"):
            await sink.submit({"events": rows(0, 1)})

    run(main())


def test_callback_failure_stops_the_sink() -> None:
    async def boom() -> None:
        raise RuntimeError("ack failed")

    async def main() -> None:
        sink = make_sink(MemoryDatabase())
        await sink.submit({"events": rows(0, 1)}, boom)
        with pytest.raises(RuntimeError, match="ack failed"):
            await sink.flush()

    run(main())


def test_inserts_never_run_on_the_event_loop_thread() -> None:
    threads: list[str] = []

    class Recording(MemoryDatabase):
        def insert(self, table: str, column_names: Sequence[str], rows: Sequence[Row]) -> None:
            threads.append(threading.current_thread().name)
            super().insert(table, column_names, rows)

    async def main() -> None:
        sink = make_sink(Recording())
        await sink.submit({"events": rows(0, 25)})
        await sink.close()

    run(main())
    assert threads and all(t.startswith("blo-sink") for t in threads)


def test_default_columns_come_from_the_table_contract() -> None:
    from sinks.tables import EVENTS

    db = MemoryDatabase()

    async def main() -> None:
        sink = BatchingSink(db, settings(), Metrics())
        await sink.submit({"events": [tuple(range(len(EVENTS.columns)))]})
        await sink.close()

    run(main())
    assert db.inserts[0][1] == EVENTS.column_names


def test_a_write_error_reaches_the_failure_listener_without_another_submit() -> None:
    async def scenario() -> None:
        db = MemoryDatabase()
        sink = make_sink(db, sink_max_age_s=0.02)
        seen: list[BaseException] = []
        sink.add_failure_listener(seen.append)
        db.fail_next(WRITE_ERROR_RETRIES + 5, error=SinkWriteError)
        await sink.submit({"events": rows(0, 3)})  # below max_rows: flushed by age
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert len(seen) == 1 and isinstance(seen[0], SinkWriteError)
        assert sink.failed is seen[0]
        with pytest.raises(SinkWriteError):
            await sink.submit({"events": rows(3, 1)})

    run(scenario())


# -- the id-conflict lookup (stored_body_hashes) and query: reads with the writes' retries --
LOOKUP_COLUMNS = ("event_id", "station_id", "body_hash")


def stored_events(db: MemoryDatabase, n: int, station: str = "ST-1") -> list[uuid.UUID]:
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"{station}:{i}") for i in range(n)]
    db.insert("events", LOOKUP_COLUMNS, [(u, station, f"h{i}") for i, u in enumerate(ids)])
    return ids


def test_lookup_asks_the_database_once_per_call_off_the_event_loop() -> None:
    threads: list[str] = []

    class Recording(MemoryDatabase):
        def stored_body_hashes(
            self, station_ids: Sequence[str], event_ids: Sequence[uuid.UUID]
        ) -> dict[uuid.UUID, str]:
            threads.append(threading.current_thread().name)
            return super().stored_body_hashes(station_ids, event_ids)

    db = Recording()
    ours, theirs = stored_events(db, 3), stored_events(db, 2, "ST-2")
    asked = ours + theirs + [uuid.uuid4() for _ in range(10_000)]

    async def main() -> dict[uuid.UUID, str]:
        sink = make_sink(db)
        got = await sink.stored_body_hashes(["ST-1"], asked)
        assert await sink.stored_body_hashes(["ST-1"], []) == {}
        await sink.close()
        return got

    got = asyncio.run(main())
    assert got == {ours[0]: "h0", ours[1]: "h1", ours[2]: "h2"}
    assert db.lookups == [(("ST-1",), tuple(asked))]  # one call for all 10,005 ids
    assert threads and threading.main_thread().name not in threads


def test_lookup_while_unavailable_is_retried_with_backpressure_until_it_answers() -> None:
    db, m = MemoryDatabase(), Metrics()
    ids = stored_events(db, 2)
    db.fail_next_reads(10_000)
    states: list[bool] = []

    async def main() -> None:
        sink = make_sink(db, m)
        sink.add_backpressure_listener(states.append)
        lookup = asyncio.create_task(sink.stored_body_hashes(["ST-1"], ids))
        await until(lambda: sink.backpressured, "backpressure while the lookup fails")
        blocked = asyncio.create_task(sink.submit({"events": rows(0, 1)}))
        await asyncio.sleep(0.1)
        assert not lookup.done() and not blocked.done()
        assert db.read_attempts > 1
        db.clear_failures()  # ClickHouse comes back
        assert await asyncio.wait_for(lookup, 10) == {ids[0]: "h0", ids[1]: "h1"}
        await asyncio.wait_for(blocked, 10)
        assert not sink.backpressured
        await sink.close()

    run(main())
    assert states == [True, False]
    retries = sample(m, "blo_sink_retries_total", table="events", error="unavailable")
    assert retries == db.read_attempts - 1
    assert sample(m, "blo_sink_backpressured") == 0


def test_lookup_errors_that_retrying_cannot_fix_are_raised_at_once() -> None:
    db, m = MemoryDatabase(), Metrics()
    ids = stored_events(db, 1)
    db.fail_next_reads(1, SinkWriteError)

    async def main() -> None:
        sink = make_sink(db, m)
        with pytest.raises(SinkWriteError, match="injected read failure"):
            await sink.stored_body_hashes(["ST-1"], ids)
        assert sink.failed is None and not sink.backpressured  # the sink itself goes on
        assert await sink.stored_body_hashes(["ST-1"], ids) == {ids[0]: "h0"}
        await sink.close()

    run(main())
    assert db.read_attempts == 2
    assert sample(m, "blo_sink_retries_total", table="events", error="unavailable") == 0


def test_lookup_raises_the_sinks_own_failure_without_asking() -> None:
    db = MemoryDatabase()
    ids = stored_events(db, 1)

    async def main() -> None:
        sink = make_sink(db)
        db.fail_next(100, SinkWriteError)
        await sink.submit({"events": rows(0, 3)})
        with pytest.raises(SinkWriteError):
            await sink.flush()
        with pytest.raises(SinkWriteError, match="injected failure"):
            await sink.stored_body_hashes(["ST-1"], ids)

    run(main())
    assert db.read_attempts == 0


def test_query_shares_the_read_retries() -> None:
    db, m = MemoryDatabase(), Metrics()
    db.fail_next_reads(2)

    async def main() -> None:
        sink = make_sink(db, m)
        assert await sink.query("SELECT 1", table="dlq") == [(1,)]
        await sink.close()

    run(main())
    assert db.read_attempts == 3
    assert sample(m, "blo_sink_retries_total", table="dlq", error="unavailable") == 2


# -- stalls: ClickHouse takes the connection and then says nothing ----------------------
def test_a_held_insert_stalls_the_sink_past_the_bound_and_it_recovers_by_itself() -> None:
    db, m = MemoryDatabase(), Metrics()
    stalls: list[bool] = []
    pauses: list[bool] = []
    durable: list[int] = []

    async def main() -> None:
        sink = make_sink(db, m, sink_max_age_s=0.02, sink_stall_s=0.3)
        sink.add_stall_listener(lambda stalled, age: stalls.append(stalled))
        sink.add_backpressure_listener(pauses.append)
        await sink.submit({"events": rows(0, 3)})
        await sink.flush()
        assert sink.oldest_pending_s() == 0.0 and not sink.stalled  # nothing pending
        db.hold()  # the server is paused: the insert neither answers nor fails

        async def ack() -> None:
            durable.append(1)

        await sink.submit({"events": rows(3, 3)}, ack)
        await until(lambda: sample(m, "blo_sink_batches_in_flight") == 1, "the insert")
        assert not sink.stalled and not sink.backpressured  # not yet past the bound
        await until(lambda: sink.stalled, "the stall")
        await until(lambda: sample(m, "blo_sink_stalled") == 1, "the stall gauge")
        assert sink.oldest_pending_s() > 0.3
        assert sample(m, "blo_sink_oldest_pending_seconds") > 0.3
        assert sink.backpressured and sample(m, "blo_sink_backpressured") == 1
        blocked = asyncio.create_task(sink.submit({"events": rows(6, 1)}))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # a stalled sink takes no more rows
        assert durable == []
        db.release()  # the server wakes
        await asyncio.wait_for(blocked, 10)
        await until(lambda: not sink.stalled and sample(m, "blo_sink_stalled") == 0,
                    "the end of the stall")
        await sink.flush()
        assert sink.oldest_pending_s() == 0.0
        await sink.close()

    run(main())
    assert stalls == [True, False]
    assert pauses == [True, False]
    assert durable == [1]
    assert [r[0] for r in db.rows("events")] == list(range(7))
    assert sample(m, "blo_sink_oldest_pending_seconds") < 0.3
    assert sample(m, "blo_sink_backpressured") == 0


def test_steady_writes_never_stall() -> None:
    db, m = MemoryDatabase(), Metrics()
    stalls: list[bool] = []

    async def main() -> None:
        sink = make_sink(db, m, sink_max_age_s=0.01, sink_stall_s=0.5)
        sink.add_stall_listener(lambda stalled, age: stalls.append(stalled))
        for i in range(40):  # ~1 s of small submissions, each written within max_age
            await sink.submit({"events": rows(i, 1)})
            await asyncio.sleep(0.025)
            assert not sink.stalled
        await sink.close()

    run(main())
    assert stalls == []
    assert sample(m, "blo_sink_stalled") == 0
    assert len(db.rows("events")) == 40


def test_timed_out_inserts_are_counted_and_retried() -> None:
    db, m = MemoryDatabase(), Metrics()
    db.fail_next(2, SinkTimeout)

    async def main() -> None:
        sink = make_sink(db, m)
        await sink.submit({"events": rows(0, 4)})
        await sink.flush()
        await sink.close()

    run(main())
    assert db.attempts == 3
    assert [r[0] for r in db.rows("events")] == [0, 1, 2, 3]
    assert sample(m, "blo_sink_write_timeouts_total", table="events") == 2
    assert sample(m, "blo_sink_retries_total", table="events", error="timeout") == 2
    assert sample(m, "blo_sink_retries_total", table="events", error="unavailable") == 0


def test_a_lookup_failing_since_longer_than_the_bound_stalls_the_sink() -> None:
    db, m = MemoryDatabase(), Metrics()
    ids = stored_events(db, 1)
    db.fail_next_reads(10_000, SinkTimeout)
    stalls: list[bool] = []

    async def main() -> None:
        sink = make_sink(db, m, sink_stall_s=0.2)
        sink.add_stall_listener(lambda stalled, age: stalls.append(stalled))
        lookup = asyncio.create_task(sink.stored_body_hashes(["ST-1"], ids))
        await until(lambda: sink.stalled, "the stall of a failing lookup")
        await until(lambda: stalls == [True], "the stall heard by the listener")
        db.clear_failures()
        assert await asyncio.wait_for(lookup, 10) == {ids[0]: "h0"}
        assert not sink.stalled and sink.oldest_pending_s() == 0.0
        await until(lambda: stalls == [True, False], "the end of the stall")
        await sink.close()

    run(main())
    assert sample(m, "blo_sink_retries_total", table="events", error="timeout") >= 1


def test_an_ordered_tables_batches_land_in_the_order_they_were_cut() -> None:
    """window_stats must be durable in a prefix (a restore reads how far it is written):
    two batches cut at once go out one after the other (one retrying would hold the next
    back), while other tables are not held."""
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = BatchingSink(db, settings(sink_max_rows=4), m, columns=COLUMNS,
                            ordered=("events",))
        db.hold()
        await sink.submit({"events": rows(0, 8)})  # two batches of 4, cut together
        await until(lambda: sample(m, "blo_sink_batches_in_flight") >= 1, "a write")
        await asyncio.sleep(0.1)
        assert sample(m, "blo_sink_batches_in_flight") == 1  # the second waits its turn
        await sink.submit({"dlq": rows(0, 4, "dlq")})  # a full batch: cut at once
        # not ordered: written beside it
        await until(lambda: sample(m, "blo_sink_batches_in_flight") == 2, "the dlq write")
        db.release()
        await sink.flush()
        await sink.close()

    run(main())
    events = [[r[0] for r in rs] for t, _, rs in db.inserts if t == "events"]
    assert events == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_an_ordered_table_writes_nothing_after_an_earlier_batch_failed_for_good() -> None:
    """A batch that failed beyond retrying fails the sink; the batch cut after it must not
    land behind the hole it leaves."""
    db = MemoryDatabase()
    db.fail_next(WRITE_ERROR_RETRIES + 1, SinkWriteError)

    async def main() -> None:
        sink = BatchingSink(db, settings(sink_max_rows=4), Metrics(), columns=COLUMNS,
                            ordered=("events",))
        await sink.submit({"events": rows(0, 8)})
        await until(lambda: sink.failed is not None, "the sink to fail")
        await asyncio.sleep(0.1)
        with pytest.raises(SinkWriteError):
            await sink.close()

    run(main())
    assert db.inserts == []


def test_an_ordered_tables_rows_gather_behind_its_write_in_flight() -> None:
    """While an ordered table's insert is in flight, rows that come of age are not cut into
    small inserts queued one behind the other: they gather and go out as one after it."""
    db, m = MemoryDatabase(), Metrics()

    async def main() -> None:
        sink = BatchingSink(db, settings(sink_max_age_s=0.05), m, columns=COLUMNS,
                            ordered=("events",))
        db.hold()
        await sink.submit({"events": rows(0, 2)})
        await until(lambda: sample(m, "blo_sink_batches_in_flight") == 1, "the first write")
        for k in range(3):  # each of age while the first write is held
            await sink.submit({"events": rows(2 + 2 * k, 2)})
            await asyncio.sleep(0.15)
        assert sample(m, "blo_sink_flushes_total", table="events", reason="age") == 1
        db.release()
        await until(lambda: len(db.inserts) == 2, "the gathered rows")
        await sink.close()

    run(main())
    assert [[r[0] for r in rs] for _, _, rs in db.inserts] == [[0, 1], [2, 3, 4, 5, 6, 7]]
