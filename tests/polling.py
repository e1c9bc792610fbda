"""Waiting for a condition in tests: poll until it holds, within a generous deadline (no
timing is asserted; a condition never reached fails with what was last seen)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], object | Awaitable[object]], seconds: float = 5, every: float = 0.01
) -> None:
    """Return once `check()` (a function or a coroutine function) gives a truthy value;
    AssertionError after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached in {seconds} s (last: {result!r})")
        await asyncio.sleep(every)
