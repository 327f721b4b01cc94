"""The sink's flow control on its own: what turns backpressure on and off, and stalls."""

from __future__ import annotations

import asyncio

import pytest

from blo.metrics import Metrics
from sinks.flow import FlowControl


def flow(metrics: Metrics | None = None) -> FlowControl:
    return FlowControl(metrics or Metrics(), limit_rows=100, stall_s=5.0)


def update(f: FlowControl, *, unwritten: int = 0, retrying: int = 0, age: float = 0.0,
           failed: bool = False) -> None:
    f.update(unwritten=unwritten, retrying=retrying, oldest_pending_s=age, in_flight=1,
             failed=failed)


def test_backpressure_follows_rows_retries_and_stalls_and_is_heard_once_per_change() -> None:
    m = Metrics()
    f = flow(m)
    heard: list[bool] = []
    f.add_backpressure_listener(heard.append)
    update(f, unwritten=100)
    assert not f.backpressured
    update(f, unwritten=101)
    update(f, unwritten=150)
    assert f.backpressured
    update(f, unwritten=10)
    update(f, unwritten=10, retrying=1)
    update(f, unwritten=10)
    update(f, unwritten=10, age=5.1)
    update(f, unwritten=10)
    assert heard == [True, False, True, False, True, False]
    assert m.registry.get_sample_value("blo_sink_backpressured") == 0
    assert m.registry.get_sample_value("blo_sink_buffered_rows") == 10


def test_a_stall_is_heard_when_it_starts_and_when_it_ends() -> None:
    m = Metrics()
    f = flow(m)
    heard: list[tuple[bool, float]] = []
    f.add_stall_listener(lambda stalled, age: heard.append((stalled, age)))
    update(f, unwritten=1, age=4.9)
    update(f, unwritten=1, age=6.0)
    update(f, unwritten=1, age=7.0)
    assert heard == [(True, 6.0)]
    assert m.registry.get_sample_value("blo_sink_stalled") == 1
    update(f, unwritten=0, age=0.0)
    assert [s for s, _ in heard] == [True, False]
    assert heard[1][1] >= 6.0  # how long the stall lasted, from its oldest write
    assert m.registry.get_sample_value("blo_sink_stalled") == 0


def test_a_waiting_submitter_goes_on_when_room_comes_back_and_raises_when_released() -> None:
    async def main() -> None:
        f = flow()
        update(f, unwritten=500)
        passed = asyncio.Event()

        async def submitter(check: list[BaseException]) -> None:
            def raise_if_failed() -> None:
                if check:
                    raise check[0]

            await f.wait_for_room(raise_if_failed)
            passed.set()

        task = asyncio.create_task(submitter([]))
        await asyncio.sleep(0.02)
        assert not passed.is_set()
        update(f, unwritten=0)
        await asyncio.wait_for(passed.wait(), 1)

        update(f, unwritten=500)
        failure: list[BaseException] = []
        stuck = asyncio.create_task(submitter(failure))
        await asyncio.sleep(0.02)
        failure.append(RuntimeError("the sink failed"))
        f.release()
        with pytest.raises(RuntimeError, match="the sink failed"):
            await asyncio.wait_for(stuck, 1)
        await task

    asyncio.run(main())
