"""The queue figures that committed changes move (the minute's traffic, today's answered
and abandoned calls), summed in memory for a moment and written together: one pipeline,
and one `QueueStats` per queue on the bus, however many calls moved meanwhile. Under load
that is a few writes a second instead of two or three per event. A batch lost with its
process (a crash within the moment) loses those counts, as a write lost in flight would."""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.live_events import QueueFigures, QueueStats
from callcenter.services.task_failures import log_failure
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.queue_stats import QueueDay, QueueStatsRepository

logger = logging.getLogger(__name__)

BATCH_SECONDS = 0.05


class FigureBatch:
    def __init__(
        self,
        activity: QueueActivityRepository,
        queue_stats: QueueStatsRepository,
        bus: EventBus,
        *,
        metrics: Metrics,
        batch_seconds: float = BATCH_SECONDS,
    ) -> None:
        self._activity = activity
        self._queue_stats = queue_stats
        self._bus = bus
        self._metrics = metrics
        self._batch_seconds = batch_seconds
        self._traffic: dict[tuple[int, str], QueueTraffic] = {}  # by minute and queue
        self._days: dict[tuple[date, str], QueueDay] = {}  # by day and queue
        self._writer: asyncio.Task[None] | None = None

    def add_traffic(self, minute: int, queue: str, traffic: QueueTraffic) -> None:
        """Count `traffic` in `queue`'s `minute` (written with the batch)."""
        where = (minute, queue)
        found = self._traffic.get(where)
        self._traffic[where] = traffic if found is None else found.plus(traffic)
        self._start()

    def add_day(self, day: date, queue: str, change: QueueDay) -> None:
        """Add `change` to `queue`'s figures of `day`; the figures go on the bus once
        written."""
        where = (day, queue)
        found = self._days.get(where)
        self._days[where] = change if found is None else found.plus(change)
        self._start()

    def _start(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())

    async def _write_batches(self) -> None:
        """One batch after another (so figures reach the bus in order) until none is left."""
        while self._traffic or self._days:
            await asyncio.sleep(self._batch_seconds)
            traffic, self._traffic = self._traffic, {}
            days, self._days = self._days, {}
            await asyncio.gather(self._write_traffic(traffic), self._write_days(days))

    async def _write_traffic(self, traffic: dict[tuple[int, str], QueueTraffic]) -> None:
        if not traffic:
            return
        try:
            await self._activity.record_many(traffic)
        except Exception:
            # task boundary: the minute's figures miss this batch; counted
            log_failure(logger, "queue traffic not recorded (%d queues)", len(traffic))
            self._metrics.task_errors_total.labels("queue_activity").inc()

    async def _write_days(self, days: dict[tuple[date, str], QueueDay]) -> None:
        if not days:
            return
        try:
            figures = await self._queue_stats.add_many(days)
        except Exception:
            # task boundary: today's figures miss this batch until the next snapshot
            log_failure(logger, "today's queue figures not updated (%d queues)", len(days))
            self._metrics.task_errors_total.labels("queue_stats").inc()
            return
        for (_, queue), today in sorted(figures.items()):
            self._bus.publish_soon(
                QueueStats(data=QueueFigures(name=queue, today=today), queue=queue)
            )

    async def drain(self) -> None:
        """Write what is pending now."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
