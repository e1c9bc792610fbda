"""Tasks a component starts and owns (a ring placed on accept, a callback attempt, a write
off the request path): each kept until it is done, so none is collected while it runs,
and waited for when the component stops, within a grace after which the rest is
cancelled, so that a stalled peer never holds up a shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` as a task of ours (call on the event loop)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Wait for the tasks under way, `grace_seconds` at most (None: until they are
        done); cancel those still running then. Their errors are theirs to report."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
