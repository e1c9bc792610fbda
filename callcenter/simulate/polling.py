"""Waiting, in the loopback fakes and the simulator, until something they can see holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_SECONDS = 0.01


async def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    """Until `predicate()` holds; TimeoutError naming `what` after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} did not get there in {seconds} s")
        await asyncio.sleep(POLL_SECONDS)
