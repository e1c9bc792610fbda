"""What the two sides of each text conversation wait for: the server named the task, the
customer wrote, an agent accepted, it is over. Whoever changes a conversation's record
pulses it; whoever waits on it wakes and looks at the record again (the ledger holds the
facts, this only the wake-ups)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Conversations:
    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._changed: dict[str, asyncio.Event] = {}

    def event(self, task_id: str) -> asyncio.Event:
        """Set at the conversation's next change."""
        return self._changed.setdefault(task_id, asyncio.Event())

    def pulse(self, task_id: str) -> None:
        event = self._changed.pop(task_id, None)
        if event is not None:
            event.set()

    async def until(self, task_id: str, ready: Callable[[], bool], deadline: float) -> bool:
        """Wait until `ready()` or the run's clock reaches `deadline`; returns `ready()`."""
        while not ready() and self._clock() < deadline:
            event = self.event(task_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), deadline - self._clock())
        return ready()
