"""The queues' outlook, live: every few seconds one instance (whichever claims the tick in
Redis first; a killed one is replaced at the next tick) computes every queue's outlook,
keeps it as the current minute's point of the wallboard's charts and as the latest board
(what every instance's scrape reports), and puts it on the bus (`queue.outlook`) when it
differs from the board the previous tick kept, whichever instance took that one. A quiet
contact center publishes nothing (its first tick aside): the pages carry the last figures
into each new minute of their charts themselves."""

from __future__ import annotations

import asyncio
import logging

from callcenter.domain.queue_outlook import point_of
from callcenter.errors import StorageUnavailable
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.clock import Clock
from callcenter.services.live_events import OutlookBoard, OutlookUpdated
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.task_failures import log_failure
from callcenter.storage.queue_activity import QueueActivityRepository, minute_of, minute_start

logger = logging.getLogger(__name__)

TICK_SECONDS = 5.0
_TASK = "queue_outlook"


class OutlookFeed:
    def __init__(
        self,
        outlook: QueueOutlook,
        activity: QueueActivityRepository,
        bus: EventBus,
        *,
        clock: Clock,
        metrics: Metrics,
        every_seconds: float = TICK_SECONDS,
    ) -> None:
        self._outlook = outlook
        self._activity = activity
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._every = every_seconds

    async def tick(self) -> bool:
        """Run the current tick if this instance is the first to claim it (True), else
        nothing (False). Raises StorageUnavailable."""
        now = self._clock.now()
        if not await self._activity.claim_tick(int(now.timestamp() // self._every)):
            return False
        before = await self._activity.board()
        board = await self._outlook.queues()
        minute = minute_start(minute_of(now))
        points = {view.name: point_of(view, minute) for view in board}
        await self._activity.save_tick(now, points, board)
        # with no board kept (a first tick, or none for a minute), the pages were told of
        # no queue: an empty board is news to nobody
        if (before.queues if before is not None else []) != board:
            await self._bus.publish(OutlookUpdated(data=OutlookBoard(queues=board)))
        return True

    async def run(self) -> None:
        """Tick at every multiple of the interval until cancelled; failures are logged
        and counted, and the next tick comes all the same."""
        while True:
            into = self._clock.now().timestamp() % self._every
            await asyncio.sleep(max(0.05, self._every - into))
            try:
                await self.tick()
            except StorageUnavailable as error:
                logger.warning("queue outlook not published: %s", error)
                self._metrics.task_errors_total.labels(_TASK).inc()
            except Exception:
                # task boundary: a bug in one tick; the next one may do better
                log_failure(logger, "queue outlook tick failed")
                self._metrics.task_errors_total.labels(_TASK).inc()
