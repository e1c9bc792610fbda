"""Sockets outlive requests, so the token a socket was opened with is checked again while it
is open: every `every` seconds (the token cache time, at least 1 s) each distinct token in
use is authenticated once more, and the sockets of a revoked or expired one are closed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from callcenter.errors import StorageUnavailable, Unauthorized
from callcenter.metrics import Metrics
from callcenter.services.auth import AuthService
from callcenter.services.task_failures import log_failure

logger = logging.getLogger(__name__)

Close = Callable[[], Coroutine[Any, Any, None]]


class TokenSessions:
    def __init__(self, auth: AuthService, *, every: float, metrics: Metrics) -> None:
        self._auth = auth
        self._every = max(1.0, every)
        self._metrics = metrics
        self._open: dict[str, set[Close]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # a slow peer must not stall a round

    def opened(self, token: str, close: Close) -> Callable[[], None]:
        """A socket opened with `token`; `close()` ends it (with 4401) if the token stops
        being valid. Returns the function to call when the socket ends."""
        self._open.setdefault(token, set()).add(close)

        def ended() -> None:
            closes = self._open.get(token)
            if closes is not None:
                closes.discard(close)
                if not closes:
                    del self._open[token]

        return ended

    async def check(self) -> int:
        """Authenticate every token in use again; start closing the sockets of those
        refused. Returns how many sockets are being closed."""
        closed = 0
        for token in list(self._open):
            try:
                await self._auth.authenticate(f"Bearer {token}")
            except Unauthorized:
                for close in self._open.pop(token, set()):
                    task = asyncio.get_running_loop().create_task(close())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
                    closed += 1
        return closed

    async def stop(self) -> None:
        """Wait for the closes under way."""
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def run(self) -> None:
        """Check every `every` seconds until cancelled; Redis being away skips a round."""
        while True:
            await asyncio.sleep(self._every)
            try:
                closed = await self.check()
            except StorageUnavailable as error:
                logger.debug("socket tokens not checked this round: %s", error)
                continue
            except Exception:  # task boundary: logged, counted, the loop goes on
                log_failure(logger, "socket tokens not checked")
                self._metrics.task_errors_total.labels("token_sessions").inc()
                continue
            if closed:
                logger.info("closed %d sockets whose token was revoked or expired", closed)
