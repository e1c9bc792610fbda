"""Naming a slow shutdown step (`cleanup_watch.watched`) on a real aiohttp application: a
step is entered and left as it would be without the watch, and one that is slow to leave
is named in a warning while it lasts, and no longer watched once left; a quick one is not
named."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from callcenter.cleanup_watch import WATCH, watched
from tests.polling import eventually


async def test_a_step_slow_to_leave_is_named_while_it_lasts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="callcenter.cleanup_watch")
    release = asyncio.Event()
    seen: list[str] = []

    async def flushing_the_bus(app: web.Application) -> AsyncIterator[None]:
        seen.append("entered")
        yield
        seen.append("leaving")
        await release.wait()  # as a step waiting for a store that is down
        seen.append("left")

    async def quick(app: web.Application) -> AsyncIterator[None]:
        yield
        seen.append("quick left")

    app = web.Application()
    app.cleanup_ctx.extend(
        [watched(flushing_the_bus, slow_seconds=0.05), watched(quick, slow_seconds=0.05)]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    assert seen == ["entered"]
    cleanup = asyncio.create_task(runner.cleanup())

    def warned() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "callcenter.cleanup_watch"]

    await eventually(lambda: len(warned()) >= 2, seconds=10, every=0.02)  # while it lasts
    assert all(m.startswith("shutdown: flushing_the_bus still being left") for m in warned())
    assert not cleanup.done() and seen == ["entered", "quick left", "leaving"]
    release.set()
    await asyncio.wait_for(cleanup, 10)
    assert seen[-1] == "left"
    # the watch ended with the step
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(WATCH)]
