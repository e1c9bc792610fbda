"""The hub of this instance's live sockets: one subscription to the bus sorts each event
into the outbox of every page that wants it, and one flusher sends each page what waits
every FLUSH_SECONDS, as one frame (one write instead of one per event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from callcenter.services.bus import Delivered, EventBus
from callcenter.web.state import BUS, HUB

if TYPE_CHECKING:
    from callcenter.web.handlers.live_socket import LiveSocket

FLUSH_SECONDS = 0.025  # events wait at most this long for the next frame to their page


class LiveHub:
    """The live sockets of this instance and one flusher for all of them: events from the
    bus are sorted into each page's outbox as they arrive, and every FLUSH_SECONDS each
    page with something waiting gets it in one frame (one write instead of one per event)."""

    def __init__(self, bus: EventBus) -> None:
        self._sockets: set[LiveSocket] = set()
        self._pending: set[LiveSocket] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe = bus.subscribe(self.deliver, start_over=self.start_over)

    async def close(self) -> None:
        """Stop following the bus; let a flush under way finish."""
        self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)

    def add(self, socket: LiveSocket) -> None:
        self._sockets.add(socket)

    def discard(self, socket: LiveSocket) -> None:
        self._sockets.discard(socket)
        self._pending.discard(socket)

    def deliver(self, header: Delivered, text: str) -> None:
        for socket in self._sockets:
            if socket.take(header, text):
                self._pending.add(socket)
        self._schedule()

    def start_over(self) -> None:
        """The bus started a new epoch: every page starts over from a snapshot."""
        for socket in self._sockets:
            socket.start_over()
        self._pending.clear()

    def mark(self, socket: LiveSocket) -> None:
        """The socket has something to send (its snapshot went out meanwhile)."""
        self._pending.add(socket)
        self._schedule()

    def _schedule(self) -> None:
        if self._pending and self._timer is None and self._flushing is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, set()
        self._flushing = asyncio.get_running_loop().create_task(self._send(pending))

    async def _send(self, pending: set[LiveSocket]) -> None:
        try:
            for socket in pending:
                try:
                    await socket.flush()
                except ConnectionError:
                    self.discard(socket)  # closing: its receive loop ends it
        finally:
            self._flushing = None
            self._schedule()


async def live_hub(app: web.Application) -> AsyncIterator[None]:
    """The instance's hub, for as long as the bus runs (a cleanup context after it)."""
    hub = LiveHub(app[BUS])
    app[HUB] = hub
    yield
    await hub.close()


def hub_of(app: web.Application) -> LiveHub:
    return app[HUB]
