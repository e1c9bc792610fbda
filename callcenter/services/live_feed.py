"""Every committed call and agent change goes on the event bus as it happens, today's
queue figures move when a call is answered or abandoned, and the queue's traffic of the
minute (arrivals, answers, abandons, handle times: `storage/queue_activity.py`) with
it, both written in short batches (`figure_batch.py`). The repositories are made with
this feed's methods as their change hooks (`on_change`).

Deltas are whole documents with their version, so a page applies them idempotently (the
higher version wins) whatever order two instances' events arrive in."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.messages import TEXT_CHANNELS
from callcenter.domain.queue_traffic import traffic_key, traffic_of
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.clock import Clock
from callcenter.services.figure_batch import FigureBatch
from callcenter.services.live_events import AgentGone, AgentRemoved, AgentUpdated, CallUpdated
from callcenter.services.live_views import call_view
from callcenter.services.rules_source import RulesSource
from callcenter.storage.queue_activity import QueueActivityRepository, minute_of
from callcenter.storage.queue_stats import QueueDay, QueueStatsRepository


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
        self._figures = FigureBatch(activity, queue_stats, bus, metrics=metrics)
        self._rules = rules
        self._clock = clock

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
        traffic when it also joins the queue or ends handled (both written in batches)."""
        now = self._clock.now()
        threshold = self._rules.current.queue(call.queue).service_level_seconds
        traffic = traffic_of(before, call, threshold)
        if not traffic.empty:
            self._figures.add_traffic(minute_of(now), traffic_key(call), traffic)
        if call.channel not in TEXT_CHANNELS:  # today's figures are the queue's callers'
            change = _today(before, call, threshold)
            if change is not None:
                self._figures.add_day(now.date(), call.queue, change)

    async def drain(self) -> None:
        await self._figures.drain()


def _today(before: Call | None, call: Call, threshold: float) -> QueueDay | None:
    """What a change adds to its queue's figures of today: an answer (with its wait), or
    an abandon."""
    if call.answered_at is not None and (before is None or before.answered_at is None):
        waited_from = call.queued_at or call.created_at
        wait_s = max(0.0, (call.answered_at - waited_from).total_seconds())
        return QueueDay(
            answered=1, answered_in_sl=int(wait_s <= threshold), wait_seconds_sum=wait_s
        )
    if (
        call.state is CallState.ENDED
        and call.outcome is Outcome.ABANDONED
        and (before is None or before.state is not CallState.ENDED)
    ):
        return QueueDay(abandoned=1)
    return None


def agent_of(call: Call) -> str | None:
    """The agent a call is with or offered to, if any."""
    return call.agent_id or (call.reservation.agent_id if call.reservation else None)
