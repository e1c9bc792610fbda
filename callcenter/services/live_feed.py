"""Every committed call and agent change goes on the event bus as it happens, today's
queue figures move when a call is answered or abandoned, and the queue's traffic of the
minute (arrivals, answers, abandons, handle times: `storage/queue_activity.py`) with
it. The repositories are made with this feed's methods as their change hooks
(`on_change`).

Deltas are whole documents with their version, so a page applies them idempotently (the
higher version wins) whatever order two instances' events arrive in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.messages import TEXT_CHANNELS
from callcenter.domain.queue_traffic import traffic_key, traffic_of
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.clock import Clock
from callcenter.services.live_events import (
    AgentGone,
    AgentRemoved,
    AgentUpdated,
    CallUpdated,
    QueueFigures,
    QueueStats,
)
from callcenter.services.live_views import call_view
from callcenter.services.rules_source import RulesSource
from callcenter.services.task_failures import log_failure
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.queue_stats import QueueDay, QueueStatsRepository

logger = logging.getLogger(__name__)


class LiveFeed:
    def __init__(
        self,
        bus: EventBus,
        queue_stats: QueueStatsRepository,
        *,
        rules: RulesSource,
        clock: Clock,
        metrics: Metrics,
        activity: QueueActivityRepository,
    ) -> None:
        self._bus = bus
        self._queue_stats = queue_stats
        self._activity = activity
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    def calls_changed(
        self,
        calls: Sequence[tuple[Call | None, Call]],
        agents: Sequence[tuple[Agent | None, Agent]],
    ) -> None:
        """CallRepository's hook (on the loop, right after the commit)."""
        for before, call in calls:
            self._bus.publish_soon(
                CallUpdated(
                    data=call_view(call),
                    call_id=call.id,
                    agent_id=agent_of(call) or (agent_of(before) if before else None),
                    queue=call.queue,
                )
            )
            self._count(before, call)
        for was, agent in agents:
            self.agent_changed(was, agent)

    def agent_changed(self, before: Agent | None, after: Agent | None) -> None:
        """AgentRepository's hook; `after` is None when the agent was removed."""
        if after is None:
            if before is not None:
                self._bus.publish_soon(AgentRemoved(data=AgentGone(before.id), agent_id=before.id))
            return
        self._bus.publish_soon(AgentUpdated(data=after, agent_id=after.id))

    def _count(self, before: Call | None, call: Call) -> None:
        """Today's queue figures move when a call is answered or abandoned; the minute's
        traffic when it also joins the queue or ends handled."""
        now = self._clock.now()
        threshold = self._rules.current.queue(call.queue).service_level_seconds
        traffic = traffic_of(before, call, threshold)
        if not traffic.empty:
            key = traffic_key(call)
            self._spawn("queue_activity", self._activity.record(now, key, traffic))
        if call.channel not in TEXT_CHANNELS:  # today's figures are the queue's callers'
            self._count_today(before, call, threshold, now)

    def _count_today(
        self, before: Call | None, call: Call, threshold: float, now: datetime
    ) -> None:
        if call.answered_at is not None and (before is None or before.answered_at is None):
            waited_from = call.queued_at or call.created_at
            wait_s = max(0.0, (call.answered_at - waited_from).total_seconds())
            self._after(
                call.queue,
                self._queue_stats.answered(now.date(), call.queue, wait_s, wait_s <= threshold),
            )
        elif (
            call.state is CallState.ENDED
            and call.outcome is Outcome.ABANDONED
            and (before is None or before.state is not CallState.ENDED)
        ):
            self._after(call.queue, self._queue_stats.abandoned(now.date(), call.queue))

    def _after(self, queue: str, update: Awaitable[QueueDay]) -> None:
        async def run() -> None:
            figures = QueueFigures(name=queue, today=await update)
            await self._bus.publish(QueueStats(data=figures, queue=queue))

        self._spawn("queue_stats", run(), queue)

    def _spawn(self, task_name: str, work: Awaitable[None], queue: str | None = None) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                # task boundary: the figure is wrong until the next snapshot; counted
                log_failure(logger, "%s not updated", task_name, extra={"queue": queue})
                self._metrics.task_errors_total.labels(task_name).inc()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def agent_of(call: Call) -> str | None:
    """The agent a call is with or offered to, if any."""
    return call.agent_id or (call.reservation.agent_id if call.reservation else None)
