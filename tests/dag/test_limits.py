"""ModelLimits: one model budget shared by event loops on different threads; fairness; cancellation."""

from __future__ import annotations

import asyncio
import threading

from ddbuild.engine.llm.limits import ModelLimits


def _branch(limits: ModelLimits, key: str, limit: int, n: int, order: list[str], tag: str) -> None:
    async def one() -> None:
        async with limits.slot(key, limit):
            order.append(tag)
            await asyncio.sleep(0.002)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    asyncio.run(main())


def _two_loops(limits: ModelLimits, keys: tuple[str, str], limit: int = 3, n: int = 30) -> list[str]:
    order: list[str] = []
    threads = [threading.Thread(target=_branch, args=(limits, k, limit, n, order, t))
               for k, t in zip(keys, ("b", "c"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return order


def test_one_model_two_loops_never_exceed_the_limit():
    limits = ModelLimits()
    order = _two_loops(limits, ("m", "m"))
    assert len(order) == 60
    assert limits.peaks() == {"m": 3}
    assert limits.shared("m").in_flight == 0


def test_different_models_have_their_own_budgets():
    limits = ModelLimits()
    _two_loops(limits, ("m1", "m2"))
    assert limits.peaks() == {"m1": 3, "m2": 3}


def test_loops_take_turns_however_many_waiters_one_has_queued():
    limits = ModelLimits()
    order = "".join(_two_loops(limits, ("m", "m")))
    # The first loop queues all 30 rows before the other starts. FIFO would serve those 30 first;
    # turn-taking gives each branch about half of the grants while both are waiting.
    middle = order[5:35]
    assert 10 <= middle.count("c") <= 20, order


def test_a_cancelled_waiter_gives_its_place_back():
    limits = ModelLimits()

    async def main() -> None:
        holder = limits.slot("m", 1)
        await holder.__aenter__()
        waiter = asyncio.ensure_future(limits.shared("m").acquire(1))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await holder.__aexit__(None, None, None)
        async with limits.slot("m", 1):
            assert limits.shared("m").in_flight == 1

    asyncio.run(main())
    assert limits.shared("m").in_flight == 0
