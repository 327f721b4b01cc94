"""SharedAnswers: one computation per key while fresh, shared by concurrent callers; failures
are never cached."""

from __future__ import annotations

import asyncio

from blo.api.shared import SharedAnswers


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_concurrent_callers_of_one_key_share_one_computation() -> None:
    shared: SharedAnswers[int] = SharedAnswers(1.0, clock=Clock())
    started = 0

    async def compute() -> int:
        nonlocal started
        started += 1
        await asyncio.sleep(0.05)
        return 42

    async def main() -> list[int]:
        return await asyncio.gather(*(shared.get("kz", compute) for _ in range(10)))

    assert asyncio.run(main()) == [42] * 10
    assert started == 1 == shared.computed


def test_fresh_answers_are_reused_stale_ones_recomputed_and_keys_kept_apart() -> None:
    clock = Clock()
    shared: SharedAnswers[str] = SharedAnswers(1.0, clock=clock)
    n = 0

    async def compute() -> str:
        nonlocal n
        n += 1
        return f"answer {n}"

    async def main() -> list[str]:
        out = [await shared.get("kz", compute)]
        clock.t += 0.9
        out.append(await shared.get("kz", compute))  # fresh: the same
        out.append(await shared.get("tj", compute))  # another key: its own
        clock.t += 0.2  # kz's is 1.1 s old now
        out.append(await shared.get("kz", compute))
        return out

    assert asyncio.run(main()) == ["answer 1", "answer 1", "answer 2", "answer 3"]


def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    shared: SharedAnswers[int] = SharedAnswers(60.0, clock=Clock())
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        if calls == 1:
            raise ConnectionError("ClickHouse is not answering")
        return 7

    async def main() -> tuple[list[object], int]:
        first = await asyncio.gather(*(shared.get("kz", flaky) for _ in range(3)),
                                     return_exceptions=True)
        return first, await shared.get("kz", flaky)

    first, again = asyncio.run(main())
    assert all(isinstance(e, ConnectionError) for e in first)
    assert again == 7 and calls == 2


def test_the_number_of_keys_is_bounded() -> None:
    clock = Clock()
    shared: SharedAnswers[int] = SharedAnswers(1.0, max_keys=4, clock=clock)

    async def one() -> int:
        return 1

    async def main() -> None:
        for i in range(50):
            await shared.get(i, one)
            clock.t += 0.01

    asyncio.run(main())
    assert len(shared._entries) <= 4


def test_a_zero_ttl_shares_only_what_is_running() -> None:
    shared: SharedAnswers[int] = SharedAnswers(0.0, clock=Clock())
    n = 0

    async def compute() -> int:
        nonlocal n
        n += 1
        return n

    async def main() -> list[int]:
        return [await shared.get("k", compute) for _ in range(3)]

    assert asyncio.run(main()) == [1, 2, 3]
