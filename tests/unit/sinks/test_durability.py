"""The durability tracker: callbacks in submission order, each only once all its rows and all
earlier submissions' rows are written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sinks.durability import DurabilityTracker


def recorder(log: list[str], name: str) -> Callable[[], Awaitable[None]]:
    async def on_durable() -> None:
        log.append(name)

    return on_durable


def run_callbacks(t: DurabilityTracker, errors: list[Exception] | None = None) -> None:
    errs = [] if errors is None else errors
    asyncio.run(t.run_callbacks(lambda: bool(errs), errs.append))


def test_a_later_submission_written_first_waits_for_the_earlier_one() -> None:
    t, log = DurabilityTracker(), []
    a = t.open(5, recorder(log, "a"), now=1.0)
    b = t.open(3, recorder(log, "b"), now=2.0)
    t.written([(b, 3)])
    run_callbacks(t)
    assert log == []
    t.written([(a, 4)])
    run_callbacks(t)
    assert log == []  # one row of a still unwritten
    t.written([(a, 1)])
    run_callbacks(t)
    assert log == ["a", "b"]
    assert len(t) == 0


def test_pieces_from_several_batches_and_tables_add_up() -> None:
    t, log = DurabilityTracker(), []
    s = t.open(12, recorder(log, "s"), now=0.0)  # e.g. 10 events + 2 dead letters
    t.written([(s, 6)])
    t.written([(s, 2)])  # the dlq batch
    run_callbacks(t)
    assert log == []
    t.written([(s, 4)])
    run_callbacks(t)
    assert log == ["s"]


def test_a_submission_without_rows_is_durable_once_the_earlier_ones_are() -> None:
    t, log = DurabilityTracker(), []
    a = t.open(1, recorder(log, "a"), now=0.0)
    t.open(0, recorder(log, "empty"), now=0.0)
    run_callbacks(t)
    assert log == []
    t.written([(a, 1)])
    run_callbacks(t)
    assert log == ["a", "empty"]


def test_submissions_without_a_callback_keep_their_place() -> None:
    t, log = DurabilityTracker(), []
    a = t.open(1, None, now=0.0)
    b = t.open(1, recorder(log, "b"), now=0.0)
    t.written([(b, 1)])
    run_callbacks(t)
    assert log == []
    t.written([(a, 1)])
    run_callbacks(t)
    assert log == ["b"]


def test_oldest_since_is_the_oldest_submission_whose_callback_has_not_run() -> None:
    t = DurabilityTracker()
    assert t.oldest_since() is None
    a = t.open(1, None, now=10.0)
    b = t.open(1, None, now=20.0)
    t.written([(b, 1)])
    assert t.oldest_since() == 10.0
    t.written([(a, 1)])
    assert t.oldest_since() == 10.0  # written, but not yet handed on
    assert t.pop_durable() == (True, None)
    assert t.oldest_since() == 20.0
    assert t.pop_durable() == (True, None)
    assert t.pop_durable() == (False, None)
    assert t.oldest_since() is None


def test_a_failing_callback_stops_the_ones_after_it() -> None:
    t, log = DurabilityTracker(), []

    async def boom() -> None:
        raise RuntimeError("ack failed")

    a = t.open(1, boom, now=0.0)
    b = t.open(1, recorder(log, "b"), now=0.0)
    t.written([(a, 1), (b, 1)])
    errors: list[Exception] = []
    run_callbacks(t, errors)
    assert [str(e) for e in errors] == ["ack failed"]
    assert log == []
    assert len(t) == 1  # b is never handed on while the sink is stopped


def test_callbacks_run_one_caller_at_a_time_in_order() -> None:
    t, log = DurabilityTracker(), []

    async def slow() -> None:
        await asyncio.sleep(0.05)
        log.append("a")

    async def main() -> None:
        a = t.open(1, slow, now=0.0)
        b = t.open(1, recorder(log, "b"), now=0.0)
        t.written([(a, 1), (b, 1)])
        # two writes finishing together both drain: b must not overtake a's slow callback
        await asyncio.gather(t.run_callbacks(lambda: False, log.append),
                             t.run_callbacks(lambda: False, log.append))

    asyncio.run(main())
    assert log == ["a", "b"]
