"""streams.tasks: the guarded timer step and background tasks of both processes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.tasks import Background, every, guarded


class _Owner:
    def __init__(self) -> None:
        self.stopping = False
        self.fatal: BaseException | None = None

    def fail(self, exc: BaseException) -> None:
        self.fatal = exc


def test_a_failing_step_stops_the_owner_and_later_ticks_are_skipped() -> None:
    owner, calls = _Owner(), []
    boom = RuntimeError("refused produce")

    async def step() -> None:
        calls.append(1)
        raise boom

    async def scenario() -> None:
        await guarded(owner, "window tick", step)
        await guarded(owner, "window tick", step)

    asyncio.run(scenario())
    assert owner.fatal is boom
    assert calls == [1]  # the second tick did not run: the worker is stopping for good


def test_a_step_cut_by_the_shutdown_is_not_fatal() -> None:
    owner = _Owner()

    async def step() -> None:
        owner.stopping = True  # the shutdown began while it ran
        raise ConnectionError("producer closed")

    asyncio.run(guarded(owner, "alert tick", step))
    assert owner.fatal is None


def test_every_runs_its_step_until_cancelled() -> None:
    owner, calls = _Owner(), []

    async def step() -> None:
        calls.append(1)

    async def scenario() -> None:
        task = asyncio.ensure_future(every(0.01, owner, "lag", step))
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert len(calls) >= 3


def test_a_background_task_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise ValueError("no such table")

    async def scenario() -> None:
        Background().spawn(fails(), "writing station rows")
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.ERROR, logger="blo.tasks"):
        asyncio.run(scenario())
    assert "writing station rows failed: no such table" in caplog.text
