"""What tests read the event bus with: the subscription production uses (`subscribe`), its
events queued for the test to take in order, each live-page event checked against its
typed kind (`services/live_events.py`) on the way."""

from __future__ import annotations

import asyncio

import msgspec

from callcenter.services.bus import BusEvent, Delivered, EventBus, tag_of
from callcenter.services.live_events import LIVE_EVENT_TYPES, decode_live_event

LIVE_TAGS = frozenset(tag_of(kind) for kind in LIVE_EVENT_TYPES)


class Probe(BusEvent, frozen=True, tag="test.probe"):
    """An event of the tests' own kind: the bus carries any BusEvent."""

    data: dict[str, object] = msgspec.field(default_factory=dict)


class BusEvents:
    """Every event the bus delivers from now on, and how often it started over."""

    def __init__(self, bus: EventBus) -> None:
        self._queue: asyncio.Queue[tuple[Delivered, str]] = asyncio.Queue()
        self.started_over = 0
        self.close = bus.subscribe(self._deliver, start_over=self._start_over)

    def _deliver(self, header: Delivered, text: str) -> None:
        if header.type in LIVE_TAGS:
            decode_live_event(text)  # a publisher's event that is not its kind fails here
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
