"""What a live page gets when it connects: a snapshot (then the bus events that
`live_feed.py` and `screen_pops.py` publish), and the supervisor's actions on alerts."""

from __future__ import annotations

import logging

import msgspec

from callcenter.domain.alerts import Ack, Alert
from callcenter.domain.calls import Call, CallState
from callcenter.domain.mood import Mood
from callcenter.domain.routing import Decision
from callcenter.domain.transcripts import TranscriptEntry
from callcenter.errors import NotFound
from callcenter.services.bus import EventBus
from callcenter.services.callers import CallerService
from callcenter.services.clock import Clock
from callcenter.services.live_events import (
    AlertAcked,
)
from callcenter.services.live_views import (
    AgentSnapshot,
    AlertView,
    QueueToday,
    WallboardSnapshot,
    call_view,
)
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.rules_source import RulesSource
from callcenter.services.screen_pops import ScreenPops
from callcenter.storage.agents import AgentRepository
from callcenter.storage.alerts import AlertRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.moods import LiveMoodRepository
from callcenter.storage.queue_stats import QueueStatsRepository
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


class LiveViews:
    """Snapshots for pages that connect, and the supervisor's actions on alerts."""

    def __init__(
        self,
        bus: EventBus,
        stores: LiveStores,
        pops: ScreenPops,
        callers: CallerService,
        *,
        rules: RulesSource,
        clock: Clock,
        outlook: QueueOutlook,
    ) -> None:
        self._bus = bus
        self._outlook = outlook
        self._stores = stores
        self._pops = pops
        self._callers = callers
        self._rules = rules
        self._clock = clock

    async def wallboard(self, seq: int, epoch: str) -> WallboardSnapshot:
        """Everything a wallboard shows; `epoch` and `seq`: the bus position it is as
        recent as."""
        now = self._clock.now()
        rules = self._rules.current
        calls = await self._live_calls()
        # the board the last outlook tick kept (a few seconds old; the next tick's
        # queue.outlook brings it up to date): not recomputed from every waiting ticket
        outlook = await self._outlook.latest()
        names = sorted(
            set(rules.queues) | {call.queue for call in calls} | {view.name for view in outlook}
        )
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
            outlook=outlook,
            outlook_history=await self._outlook.history(names),
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
        decision = None
        if call is not None:
            if call.state is CallState.OFFERED and call.reservation is not None:
                offer = await self._pops.offer_of(call, None)
                caller = offer.caller
            else:
                decision = await self._pops.decision_of(call.id)
            if offer is None and call.caller_key:
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
            decision=decision,
        )

    async def decision_of(self, call_id: str) -> Decision | None:
        """Why a call or task went to its agent (the routing decision kept with it)."""
        return await self._pops.decision_of(call_id)

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
