"""BackgroundTasks: a task is kept while it runs and waited for at stop, within a grace
after which the rest is cancelled."""

from __future__ import annotations

import asyncio

from callcenter.background import BackgroundTasks


async def test_stop_waits_for_what_finishes_and_cancels_what_does_not() -> None:
    tasks = BackgroundTasks()
    finished: list[str] = []
    started = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.append("quick")

    async def stalled() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            finished.append("stalled cancelled")

    tasks.spawn(quick())
    hung = tasks.spawn(stalled())
    await started.wait()
    assert len(tasks) == 2
    async with asyncio.timeout(10):  # the stalled one would take an hour
        await tasks.stop(0.2)
    assert finished == ["quick", "stalled cancelled"] and hung.cancelled()
    assert len(tasks) == 0


async def test_without_a_grace_stop_waits_until_done() -> None:
    tasks = BackgroundTasks()
    done = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.05)
        done.set()

    tasks.spawn(work())
    await tasks.stop()
    assert done.is_set()
    await tasks.stop()  # nothing left: returns at once
