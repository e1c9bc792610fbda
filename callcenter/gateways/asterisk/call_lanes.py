"""Events of one call in order, calls side by side. Each call's jobs run one after another
(a DTMF never overtakes the call's creation); jobs of different calls run concurrently, so
a burst of callers is not held up behind each other's REST round trips. At most `limit`
jobs are submitted and not finished; the next submit waits (the reader pauses: back-pressure,
nothing dropped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

_TASK = "asterisk_ari"


class CallLanes:
    def __init__(self, *, metrics: Metrics, limit: int = 64) -> None:
        self._metrics = metrics
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[str, asyncio.Task[None]] = {}

    async def submit(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` after the jobs already submitted for `key`."""
        await self._slots.acquire()
        previous = self._tails.get(key)
        task = asyncio.get_running_loop().create_task(self._run(previous, job))
        self._tails[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    async def _run(
        self, previous: asyncio.Task[None] | None, job: Callable[[], Awaitable[None]]
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait({previous})
            await job()
        except Exception:  # the task boundary: one call's bug does not stop the others
            logger.exception("an ARI event failed")
            self._metrics.task_errors_total.labels(_TASK).inc()
        finally:
            self._slots.release()

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(key) is task:
            del self._tails[key]

    async def drain(self) -> None:
        """Wait for every job submitted so far."""
        while self._tails:
            await asyncio.wait(set(self._tails.values()))

    async def close(self) -> None:
        """Cancel what has not finished."""
        tasks = list(self._tails.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
