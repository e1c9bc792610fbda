"""Waiting for a condition in tests: poll until it holds, within a generous deadline (no
timing is asserted; a condition never reached fails with what was last seen)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(check: Callable[[], object], seconds: float = 5, every: float = 0.01) -> None:
    """Return once `check()` is truthy; AssertionError after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if check():
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached in {seconds} s")
        await asyncio.sleep(every)
