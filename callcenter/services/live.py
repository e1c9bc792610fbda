"""What the live pages see: every committed call and agent change, today's queue figures
and routing offers go on the event bus as they happen (`LiveFeed`); a page that connects
gets a snapshot first (`LiveViews`), then those events.

Deltas are whole documents with their version, so a page applies them idempotently (the
higher version wins) whatever order two instances' events arrive in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.alerts import Ack, Alert
from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.mood import Mood
from callcenter.domain.routing import Decision
from callcenter.domain.transcripts import TranscriptEntry
from callcenter.errors import NotFound
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.callers import CallerService
from callcenter.services.clock import Clock
from callcenter.services.live_events import (
    AgentGone,
    AgentRemoved,
    AgentUpdated,
    AlertAcked,
    CallUpdated,
    QueueFigures,
    QueueStats,
    RouteOffered,
)
from callcenter.services.live_views import (
    AgentSnapshot,
    AlertView,
    Offer,
    QueueToday,
    ReservationView,
    WallboardSnapshot,
    call_view,
)
from callcenter.services.rules_source import RulesSource
from callcenter.storage.agents import AgentRepository
from callcenter.storage.alerts import AlertRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.moods import LiveMoodRepository
from callcenter.storage.queue_stats import QueueDay, QueueStatsRepository
from callcenter.storage.transcripts import TranscriptRepository

logger = logging.getLogger(__name__)

LIVE_CALLS_LIMIT = 2_000
ALERTS_SHOWN = 100


class LiveStores(msgspec.Struct, frozen=True):
    calls: CallRepository
    agents: AgentRepository
    alerts: AlertRepository
    live_moods: LiveMoodRepository
    transcripts: TranscriptRepository
    queue_stats: QueueStatsRepository


class LiveFeed:
    """Puts committed changes on the bus: hook it to the repositories (`on_change`) and
    add it to the route notifiers."""

    def __init__(
        self,
        bus: EventBus,
        stores: LiveStores,
        callers: CallerService,
        *,
        rules: RulesSource,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._bus = bus
        self._stores = stores
        self._callers = callers
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
                    agent_id=_agent_of(call) or (_agent_of(before) if before else None),
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
        """Today's queue figures move when a call is answered or abandoned."""
        now = self._clock.now()
        if call.answered_at is not None and (before is None or before.answered_at is None):
            waited_from = call.queued_at or call.created_at
            wait_s = max(0.0, (call.answered_at - waited_from).total_seconds())
            threshold = self._rules.current.queue(call.queue).service_level_seconds
            self._after(
                call.queue,
                self._stores.queue_stats.answered(
                    now.date(), call.queue, wait_s, wait_s <= threshold
                ),
            )
        elif (
            call.state is CallState.ENDED
            and call.outcome is Outcome.ABANDONED
            and (before is None or before.state is not CallState.ENDED)
        ):
            self._after(call.queue, self._stores.queue_stats.abandoned(now.date(), call.queue))

    def _after(self, queue: str, update: Any) -> None:
        async def run() -> None:
            try:
                day: QueueDay = await update
                figures = QueueFigures(name=queue, today=day)
                await self._bus.publish(QueueStats(data=figures, queue=queue))
            except Exception:
                # task boundary: the figure is wrong until the next snapshot; counted
                logger.exception("queue figures not updated", extra={"queue": queue})
                self._metrics.task_errors_total.labels("queue_stats").inc()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        """RouteNotifier: an offer goes to the agent's desktop with the caller's context."""
        if kind != "route.offered" or call.reservation is None:
            return
        try:
            offer = await self.offer_of(call, decision)
            await self._bus.publish(
                RouteOffered(
                    data=offer,
                    call_id=call.id,
                    agent_id=call.reservation.agent_id,
                    queue=call.queue,
                )
            )
        except Exception:
            # the notifier must not raise: the pop is lost, the offer stands (the page's
            # snapshot shows it on reconnect)
            logger.exception("screen pop not published", extra={"call_id": call.id})
            self._metrics.task_errors_total.labels("screen_pop").inc()

    async def offer_of(self, call: Call, decision: Decision | None) -> Offer:
        assert call.reservation is not None
        caller = None
        if call.caller_key:
            try:
                caller = await self._callers.view(call.caller_key)
            except NotFound:
                caller = None
        if decision is None:
            decision = await self._stores.calls.decision(call.id)
        return Offer(
            call=call_view(call),
            caller=caller,
            reservation=ReservationView(
                id=call.reservation.id, expires_at=call.reservation.expires_at
            ),
            decision=decision,
        )

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class LiveViews:
    """Snapshots for pages that connect, and the supervisor's actions on alerts."""

    def __init__(
        self,
        bus: EventBus,
        stores: LiveStores,
        feed: LiveFeed,
        callers: CallerService,
        *,
        rules: RulesSource,
        clock: Clock,
    ) -> None:
        self._bus = bus
        self._stores = stores
        self._feed = feed
        self._callers = callers
        self._rules = rules
        self._clock = clock

    async def wallboard(self, seq: int, epoch: str) -> WallboardSnapshot:
        """Everything a wallboard shows; `epoch` and `seq`: the bus position it is as
        recent as."""
        now = self._clock.now()
        rules = self._rules.current
        calls = await self._live_calls()
        names = sorted(set(rules.queues) | {call.queue for call in calls})
        days = await self._stores.queue_stats.today(now.date(), names)
        moods = await self._stores.live_moods.of_calls([call.id for call in calls])
        alerts = await self._stores.alerts.recent(ALERTS_SHOWN)
        return WallboardSnapshot(
            seq=seq,
            epoch=epoch,
            now=now,
            queues=[
                QueueToday(
                    name=name,
                    service_level_seconds=rules.queue(name).service_level_seconds,
                    today=days[name],
                )
                for name in names
            ],
            agents=await self._stores.agents.all(),
            calls=[call_view(call, moods.get(call.id)) for call in calls],
            alerts=[_alert_view(alert, ack) for alert, ack in alerts],
        )

    async def _live_calls(self) -> list[Call]:
        return await self._stores.calls.recent(None, LIVE_CALLS_LIMIT)

    async def agent(self, agent_id: str, seq: int, epoch: str) -> AgentSnapshot:
        """What an agent's desktop shows now. Raises NotFound for an unknown agent."""
        agent = await self._stores.agents.get(agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        call = await self._stores.calls.get(agent.call_id) if agent.call_id else None
        offer = None
        caller = None
        transcript: list[TranscriptEntry] = []
        moods: dict[str, Mood] = {}
        if call is not None:
            if call.state is CallState.OFFERED and call.reservation is not None:
                offer = await self._feed.offer_of(call, None)
                caller = offer.caller
            elif call.caller_key:
                try:
                    caller = await self._callers.view(call.caller_key)
                except NotFound:
                    caller = None
            transcript = await self._stores.transcripts.read(call.id)
            moods = (await self._stores.live_moods.of_calls([call.id])).get(call.id, {})
        return AgentSnapshot(
            seq=seq,
            epoch=epoch,
            now=self._clock.now(),
            agent=agent,
            offer=offer,
            call=call_view(call) if call is not None else None,
            caller=caller,
            transcript=transcript,
            moods=moods,
        )

    async def transcript(self, call_id: str) -> list[TranscriptEntry]:
        return await self._stores.transcripts.read(call_id)

    async def call_of(self, call_id: str) -> Call | None:
        return await self._stores.calls.get(call_id)

    async def acknowledge(self, alert_id: str, by: str) -> Ack:
        """Acknowledge an alert (NotFound if it is not among the recent ones); everybody's
        wallboard hears of it. Acknowledging twice keeps the first."""
        alert = await self._stores.alerts.find(alert_id)
        if alert is None:
            raise NotFound("alert", alert_id)
        ack = Ack(id=alert_id, by=by, at=self._clock.now())
        if await self._stores.alerts.acknowledge(ack):
            await self._bus.publish(AlertAcked(data=ack, call_id=alert.call_id))
        return ack

    async def alerts(self, limit: int) -> list[AlertView]:
        return [_alert_view(a, ack) for a, ack in await self._stores.alerts.recent(limit)]


def _alert_view(alert: Alert, ack: Ack | None) -> AlertView:
    return AlertView(
        id=alert.id,
        call_id=alert.call_id,
        rule=alert.rule,
        kind=str(alert.kind),
        severity=str(alert.severity),
        reason=alert.reason,
        at=alert.at,
        speaker=alert.speaker,
        queue=alert.queue,
        agent_id=alert.agent_id,
        caller=alert.caller,
        acked=ack is not None,
    )


def _agent_of(call: Call) -> str | None:
    """The agent a call concerns: the one holding it, else the one it is offered to."""
    if call.agent_id:
        return call.agent_id
    return call.reservation.agent_id if call.reservation is not None else None
