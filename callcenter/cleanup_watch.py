"""Naming a slow shutdown step: each of the application's `cleanup_ctx` steps is watched
while it is left, and one that takes longer than `SLOW_STEP_SECONDS` is named in a warning
(and again every as long, while it lasts). A shutdown that hangs (a step waiting for
something that will not come, say Redis while it is down) then says where it hangs."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress

from aiohttp import web

logger = logging.getLogger(__name__)

SLOW_STEP_SECONDS = 10.0
WATCH = "shutdown-watch:"  # the watching task's name, before the step's

CleanupStep = Callable[[web.Application], AsyncIterator[None]]


def watched(step: CleanupStep, *, slow_seconds: float = SLOW_STEP_SECONDS) -> CleanupStep:
    """`step` as it is, but warned about by name when leaving it takes over
    `slow_seconds`."""

    @functools.wraps(step)
    async def leaving_watched(app: web.Application) -> AsyncIterator[None]:
        stages = aiter(step(app))
        await anext(stages, None)  # entering: as the step does it
        yield
        name = step.__name__
        watch = asyncio.create_task(_warn_while(name, slow_seconds), name=f"{WATCH}{name}")
        try:
            await anext(stages, None)
        finally:
            watch.cancel()
            with suppress(asyncio.CancelledError):
                await watch

    return leaving_watched


async def _warn_while(name: str, slow_seconds: float) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(slow_seconds)
        logger.warning(
            "shutdown: %s still being left after %.0f s", name, time.monotonic() - started
        )
