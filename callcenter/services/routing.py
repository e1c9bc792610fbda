"""Routing use cases: choose a rule for a new call, answer offers, fire timers, explain
decisions, and re-evaluate waiting calls when the rules change."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

import msgspec

from callcenter.domain.agents import Activity, Agent
from callcenter.domain.callbacks import start_dial
from callcenter.domain.callers import CallerView
from callcenter.domain.calls import Call, CallState
from callcenter.domain.reservations import accept, decline
from callcenter.domain.routing import Decision, active_step, next_step_at, rule_of, why_not
from callcenter.domain.routing_context import route, rule_context, select_rule, ticket_of
from callcenter.domain.timers import Timer, TimerKind, dial_timer, queue_timers
from callcenter.errors import Conflict, NotFound
from callcenter.metrics import Metrics
from callcenter.services.callers import MISSING, CallerService, Missing
from callcenter.services.clock import Clock
from callcenter.services.dispatch import Dispatcher
from callcenter.services.notify import CALLBACK_ACCEPTED, RouteNotifier
from callcenter.services.optimistic import Retry, with_retries
from callcenter.services.rules_source import RulesSource
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import CommitResult

logger = logging.getLogger(__name__)
CANDIDATES_EXPLAINED = 20


class AgentVerdict(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    eligible: bool
    reason: str


class RoutingExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """Where a call stands in routing and why: for the API and the agent's screen pop."""

    call_id: str
    state: CallState
    queue: str
    rule: str | None
    priority: int
    waited_seconds: float | None = None
    step: int | None = None
    required: dict[str, int] | None = None
    next_widening_in_seconds: float | None = None
    preferred_agent: str | None = None
    ready_agents: list[AgentVerdict] = msgspec.field(default_factory=list)
    last_decision: Decision | None = None


class RoutingService:
    def __init__(
        self,
        calls: CallRepository,
        agents: AgentRepository,
        callers: CallerService,
        rules: RulesSource,
        dispatcher: Dispatcher,
        *,
        clock: Clock,
        metrics: Metrics,
        notify: RouteNotifier,
    ) -> None:
        self._calls = calls
        self._agents = agents
        self._callers = callers
        self._rules = rules
        self._dispatcher = dispatcher
        self._clock = clock
        self._metrics = metrics
        self._notify = notify

    @property
    def rules(self) -> RulesSource:
        return self._rules

    async def route_call(
        self, call: Call, caller: CallerView | Missing | None = MISSING
    ) -> tuple[Call, list[Timer]]:
        """Choose the rule for a call entering the queue; return it routed, with its timers.

        `caller` may be passed when already read; otherwise it is read here."""
        if isinstance(caller, Missing):
            caller = await self._caller_of(call)
        rules = self._rules.current
        rule, match = select_rule(rules, rule_context(call, caller, self._clock.now()))
        for error in match.errors:
            logger.warning("routing condition failed: %s", error, extra={"call_id": call.id})
        routed = route(call, rule, caller)
        return routed, queue_timers(routed, rules)

    async def _caller_of(self, call: Call) -> CallerView | None:
        if not call.caller_key:
            return None
        try:
            return await self._callers.view(call.caller_key)
        except NotFound:
            return None

    def request_dispatch(self) -> None:
        self._dispatcher.request()

    async def raise_priority(self, call_id: str, by: int) -> Call | None:
        """Raise a waiting call's priority by `by` (an alert's action): it keeps its place
        among calls of its new priority. None when the call is no longer queued."""

        async def attempt() -> Call | None:
            call = await self._calls.get(call_id)
            if call is None or call.state is not CallState.QUEUED:
                return None
            raised = msgspec.structs.replace(call, priority=call.priority + by)
            result, _ = await self._calls.commit(
                call, raised, (), event_id=None, now=self._clock.now()
            )
            if result is not CommitResult.COMMITTED:
                raise Retry
            return raised

        raised = await with_retries("call", call_id, attempt)
        if raised is not None:
            self._dispatcher.request()
        return raised

    async def answer_offer(self, reservation_id: str, *, accepted: bool) -> Call:
        """Accept or reject a pending offer; raises NotFound, Conflict."""
        call_id = await self._calls.call_of_reservation(reservation_id)
        if call_id is None:
            raise NotFound("reservation", reservation_id)

        async def attempt() -> Call:
            call = await self._calls.get(call_id)
            if call is None or call.reservation is None or call.reservation.id != reservation_id:
                raise Conflict(f"reservation {reservation_id!r} is no longer pending")
            agent = await self._agent(call.reservation.agent_id)
            now = self._clock.now()
            timers: list[Timer] = []
            if accepted:
                new_call, new_agent = accept(call, agent, reservation_id, now)
                if new_call.callback is not None:
                    dial_id = "d" + secrets.token_hex(8)
                    new_call = start_dial(new_call, agent.id, dial_id, now)
                    timers.append(dial_timer(call.id, dial_id, now))
            else:
                queue = self._rules.current.queue(call.queue)
                new_call, new_agent = decline(
                    call, agent, reservation_id, now, queue, timed_out=False
                )
            await self._commit(call, new_call, agent, new_agent, timers)
            return new_call

        result = await with_retries("call", call_id, attempt)
        self._metrics.reservations_total.labels("accepted" if accepted else "rejected").inc()
        await self._notify.route_event(_answered_kind(result, accepted=accepted), result, None)
        if not accepted:
            self._dispatcher.request()
        return result

    async def _agent(self, agent_id: str) -> Agent:
        agent = await self._agents.get(agent_id)
        if agent is None:
            raise Conflict(f"agent {agent_id!r} no longer exists")
        return agent

    async def _commit(
        self,
        old: Call,
        new: Call,
        agent: Agent,
        new_agent: Agent,
        timers: list[Timer] | None = None,
    ) -> None:
        result, _ = await self._calls.commit(
            old,
            new,
            ((agent, new_agent),),
            event_id=None,
            now=self._clock.now(),
            timers=timers or (),
        )
        if result is not CommitResult.COMMITTED:
            raise Retry

    async def fire(self, timer: Timer) -> None:
        """Handle one due timer. Stale timers (the call moved on) do nothing."""
        if timer.kind is TimerKind.DISPATCH:
            await self._dispatcher.run_now()
        elif timer.kind in (
            TimerKind.STEP,
            TimerKind.PREFER,
            TimerKind.BACKOFF,
            TimerKind.NOT_BEFORE,
        ):
            self._dispatcher.request()
        elif timer.kind is TimerKind.OFFER:
            await self.expire_offer(timer.subject, timer.ref)
        elif timer.kind is TimerKind.MAX_WAIT:
            await self._max_wait(timer.subject)
        # WRAP_UP is handled by the agent service (it owns wrap-up completion), DIAL by
        # the callback service

    async def expire_offer(self, call_id: str, reservation_id: str) -> bool:
        """The offer's time is up: the call goes back to its place, the agent is free
        (and may be held back). False if the offer was settled meanwhile."""

        async def attempt() -> Call | None:
            call = await self._calls.get(call_id)
            pending = call.reservation if call else None
            if call is None or pending is None or pending.id != reservation_id:
                return None
            agent = await self._agents.get(pending.agent_id)
            if agent is None:
                return None
            now = self._clock.now()
            queue = self._rules.current.queue(call.queue)
            new_call, new_agent = decline(call, agent, reservation_id, now, queue, timed_out=True)
            timers = []
            if new_agent.blocked_until is not None:
                until = new_agent.blocked_until
                timers.append(Timer(TimerKind.BACKOFF, agent.id, until.isoformat(), until))
            await self._commit(call, new_call, agent, new_agent, timers)
            return new_call

        expired = await with_retries("call", call_id, attempt)
        if expired is None:
            return False
        self._metrics.reservations_total.labels("timeout").inc()
        await self._notify.route_event("route.timeout", expired, None)
        self._dispatcher.request()
        return True

    async def _max_wait(self, call_id: str) -> None:
        async def attempt() -> tuple[str, Call] | None:
            call = await self._calls.get(call_id)
            if call is None or call.state is not CallState.QUEUED or call.queued_at is None:
                return None
            now = self._clock.now()
            queue = self._rules.current.queue(call.queue)
            waited = (now - call.queued_at).total_seconds()
            if queue.max_wait_seconds is None or waited < queue.max_wait_seconds:
                return None  # the rules changed since the timer was set
            if queue.overflow is None:
                if call.overflowed_from == call.queue:
                    return None
                new = msgspec.structs.replace(call, overflowed_from=call.queue, updated_at=now)
                kind = "route.overflow"
            else:
                new = msgspec.structs.replace(
                    call,
                    queue=queue.overflow,
                    rule=None,
                    prefer_agent=None,
                    overflowed_from=call.queue,
                    updated_at=now,
                )
                kind = "route.queued"
            result, _ = await self._calls.commit(
                call,
                new,
                (),
                event_id=None,
                now=now,
                timers=queue_timers(new, self._rules.current) if queue.overflow else (),
            )
            if result is not CommitResult.COMMITTED:
                raise Retry
            return kind, new

        done = await with_retries("call", call_id, attempt)
        if done is not None:
            await self._notify.route_event(done[0], done[1], None)
            self._dispatcher.request()

    async def explain(self, call: Call) -> RoutingExplanation:
        """The call's routing state now, with a verdict for each ready agent."""
        decision = await self._calls.decision(call.id)
        explanation = RoutingExplanation(
            call_id=call.id,
            state=call.state,
            queue=call.queue,
            rule=call.rule,
            priority=call.priority,
            preferred_agent=call.prefer_agent,
            last_decision=decision,
        )
        if call.state is not CallState.QUEUED:
            return explanation
        return await self._explain_waiting(call, explanation, self._clock.now())

    async def _explain_waiting(
        self, call: Call, explanation: RoutingExplanation, now: datetime
    ) -> RoutingExplanation:
        rules = self._rules.current
        ticket = ticket_of(call)
        rule = rule_of(ticket, rules)
        waited = max(0.0, (now - ticket.queued_at).total_seconds())
        index, step = active_step(rule, waited)
        widen = next_step_at(rule, waited)
        verdicts = []
        # agents on a call too: "why not" tells them apart (e.g. no chat during voice)
        ready = await self._agents.ready(on_voice=True)
        for agent in sorted(ready, key=lambda a: a.id)[:CANDIDATES_EXPLAINED]:
            reason = why_not(ticket, agent, rules, now)
            verdicts.append(
                AgentVerdict(
                    agent_id=agent.id, eligible=reason is None, reason=reason or "eligible"
                )
            )
        return msgspec.structs.replace(
            explanation,
            waited_seconds=round(waited, 3),
            step=index,
            required=dict(step.require),
            next_widening_in_seconds=None if widen is None else round(widen - waited, 3),
            ready_agents=verdicts,
        )

    async def reload_rules(self) -> str:
        """Reload the rules (RulesInvalid keeps the old ones) and re-route waiting calls."""
        rules = await self._rules.reload()
        for ticket in await self._calls.waiting():
            try:
                await self._reroute(ticket.call_id)
            except Conflict:
                logger.warning("could not re-route call %s", ticket.call_id)
        self._dispatcher.request()
        return rules.version

    async def _reroute(self, call_id: str) -> None:
        async def attempt() -> None:
            call = await self._calls.get(call_id)
            if call is None or call.state is not CallState.QUEUED or call.overflowed_from:
                return
            routed, timers = await self.route_call(call)
            if routed == call:
                return
            result, _ = await self._calls.commit(
                call, routed, (), event_id=None, now=self._clock.now(), timers=timers
            )
            if result is not CommitResult.COMMITTED:
                raise Retry

        await with_retries("call", call_id, attempt)


def _answered_kind(call: Call, *, accepted: bool) -> str:
    if not accepted:
        return "route.queued"
    return CALLBACK_ACCEPTED if call.callback is not None else "route.assigned"


def went_to_wrap_up(before: Agent, after: Agent) -> bool:
    return after.activity is Activity.WRAP_UP and before.activity is not Activity.WRAP_UP
