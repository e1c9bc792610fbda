"""What tests read the event bus with: the subscription production uses (`subscribe`), its
events queued for the test to take in order."""

from __future__ import annotations

import asyncio

from callcenter.services.bus import Delivered, EventBus


class BusEvents:
    """Every event the bus delivers from now on, and how often it started over."""

    def __init__(self, bus: EventBus) -> None:
        self._queue: asyncio.Queue[tuple[Delivered, str]] = asyncio.Queue()
        self.started_over = 0
        self.close = bus.subscribe(self._deliver, start_over=self._start_over)

    def _deliver(self, header: Delivered, text: str) -> None:
        self._queue.put_nowait((header, text))

    def _start_over(self) -> None:
        self.started_over += 1

    async def get(self) -> tuple[Delivered, str]:
        return await self._queue.get()

    def get_nowait(self) -> tuple[Delivered, str] | None:
        """The next event if one is waiting, else None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
