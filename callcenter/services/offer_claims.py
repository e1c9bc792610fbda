"""A dispatch pass's claims: a decided call offered to its agent, the agent reserved, the
offer's expiry timer started and the decision kept, in one atomic commit that goes through
only if neither the call nor the agent changed since they were read (instances race
safely). A claim may carry another command in its round trip: the last claim of a pass
gives up the dispatch turn so (see `Dispatcher._passes`)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call, CallState
from callcenter.domain.reservations import offer
from callcenter.domain.routing import Decision
from callcenter.domain.timers import Timer, TimerKind
from callcenter.metrics import Metrics
from callcenter.services.clock import Clock
from callcenter.services.notify import RouteNotifier
from callcenter.services.rules_source import RulesSource
from callcenter.storage.agents import bump_agent
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import CommitResult
from callcenter.storage.joint_reads import Read

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Outcome(Enum):
    OFFERED = "offered"
    LOST_RACE = "lost_race"  # the call or the agent changed since they were read
    NOT_WAITING = "not_waiting"  # the call left its lines after they were read


@dataclass(frozen=True, slots=True)
class Claimed(Generic[T]):
    """What a claim did: the agent as stored after the offer (when made), and what the
    command sent with it read (None when nothing was sent: the call was not waiting)."""

    outcome: Outcome
    agent: Agent | None = None
    then: T | None = None


class OfferClaims:
    def __init__(
        self,
        calls: CallRepository,
        rules: RulesSource,
        *,
        clock: Clock,
        metrics: Metrics,
        notify: RouteNotifier,
    ) -> None:
        self._calls = calls
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._notify = notify

    async def claim(
        self, call: Call, agent: Agent, decision: Decision, then: Read[T] | None = None
    ) -> Claimed[T]:
        """Offer `call` (as read) to `agent` (as read); `then`: sent after the commit in
        the same round trip (run whether or not the commit went through)."""
        if call.state is not CallState.QUEUED:
            return Claimed(Outcome.NOT_WAITING)
        now = self._clock.now()
        queue = self._rules.current.queue(call.queue)
        offered, reserved = offer(call, agent, "r" + secrets.token_hex(8), now, queue)
        assert offered.reservation is not None
        expiry = Timer(
            TimerKind.OFFER, call.id, offered.reservation.id, offered.reservation.expires_at
        )
        (result, _), found = await self._calls.commit_then(
            then, call, offered, ((agent, reserved),), now=now, timers=(expiry,), decision=decision
        )
        if result is not CommitResult.COMMITTED:
            self._metrics.routing_decisions_total.labels(call.queue, "lost_race").inc()
            return Claimed(Outcome.LOST_RACE, then=found)
        self._metrics.routing_decisions_total.labels(call.queue, "offered").inc()
        logger.info(
            "offered call %s to agent %s",
            call.id,
            agent.id,
            extra={"call_id": call.id, "agent_id": agent.id, "rule": decision.rule},
        )
        await self._notify.route_event("route.offered", offered, decision)
        return Claimed(Outcome.OFFERED, bump_agent(agent, reserved), found)
