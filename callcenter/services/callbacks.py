"""Callback use cases: ask for one (the API, the Twilio hold menu; the generic dialect's
event goes through call events), cancel one, and place each dial attempt exactly once.

Exactly once: accepting a callback commits the attempt together with a durable DIAL timer
(storage leases each timer to one instance and hands it to another if that one dies). The
timer's instance claims the attempt in the call document (an optimistic commit: one
instance wins) before asking the gateway, so neither a second instance nor a retry places
it twice; an instance killed between the accept and the dial leaves the timer, and the
next instance places it. Only an instance that dies after its claim leaves a doubt; the
gateway resolves it (a placed call reports `ringing` within seconds) and otherwise the
attempt is placed again after the claim timeout under the same dial id."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Coroutine, Mapping
from datetime import datetime
from typing import Annotated, Any, Protocol

import msgspec

from callcenter.background import BackgroundTasks
from callcenter.domain.agents import Agent
from callcenter.domain.call_lifecycle import summarise
from callcenter.domain.callbacks import (
    CLAIM_TIMEOUT,
    cancel,
    check_not_before,
    check_number,
    claim_dial,
    dial_failed,
    dial_placed,
    new_callback,
    next_dial_step,
    request_callback,
    with_policy,
)
from callcenter.domain.callers import caller_key
from callcenter.domain.calls import Call, CallState, Dial, DialOutcome, DialState
from callcenter.domain.events import E164Checked, EventAttributes, QueueName, Timestamp
from callcenter.domain.routing import Decision
from callcenter.domain.routing_rules import QueueConfig
from callcenter.domain.timers import Timer, dial_timer, queue_timers
from callcenter.errors import DialRefused, NotFound
from callcenter.metrics import Metrics
from callcenter.services.callers import CallerService
from callcenter.services.clock import Clock
from callcenter.services.notify import CALLBACK_ACCEPTED
from callcenter.services.optimistic import Retry, with_retries
from callcenter.services.routing import RoutingService
from callcenter.services.task_failures import log_failure
from callcenter.storage.calls import CallRepository
from callcenter.storage.conversations import CallbackClaim
from callcenter.storage.documents import CommitResult
from callcenter.storage.keys import callback_claim

logger = logging.getLogger(__name__)


class CallbackRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /v1/callbacks`: call this number back when an agent is free."""

    number: E164Checked
    queue: QueueName | None = None
    attributes: EventAttributes = msgspec.field(default_factory=dict)
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    not_before: (
        Annotated[
            Timestamp,
            msgspec.Meta(description="Not called before this (at most 30 days ahead)."),
        ]
        | None
    ) = None


class CallbackAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The callback asked for (or, for a repeated request, the one already waiting)."""

    call_id: str
    queue: str
    state: CallState
    number: str
    not_before: datetime | None = None
    duplicate: bool = False


class CallbackDialer(Protocol):
    """A gateway that can call a customer back and bridge the accepting agent."""

    async def dial(self, call: Call, dial: Dial) -> str | None:
        """Place the attempt; return the gateway's id of the new leg when it gives one.
        Raise DialRefused when the gateway refuses (final for this attempt); anything
        else leaves unknown whether it was placed."""
        ...


class CallbackService:
    def __init__(
        self,
        calls: CallRepository,
        callers: CallerService,
        routing: RoutingService,
        dialers: Mapping[str, CallbackDialer],
        *,
        default_dialect: str | None,
        default_queue: str,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        """`dialers` by gateway dialect; a callback asked for through the API is placed
        by `default_dialect`'s dialer."""
        self._calls = calls
        self._callers = callers
        self._routing = routing
        self._dialers = dialers
        self._default_dialect = default_dialect
        self._default_queue = default_queue
        self._clock = clock
        self._metrics = metrics
        self._tasks = BackgroundTasks()

    async def request(self, body: CallbackRequest) -> CallbackAnswer:
        """A new callback; a repeated request (same number and queue, the earlier one not
        over yet) returns the earlier one. Raises InvalidInput for a bad `not_before`."""
        now = self._clock.now()
        check_number(body.number)
        not_before = check_not_before(body.not_before, now)
        queue = body.queue or self._default_queue
        key = caller_key(body.number)

        async def attempt() -> tuple[Call, bool]:
            claim = await self._calls.callback_claim(key, queue)
            earlier = await self._calls.get(claim.call_id) if claim else None
            if earlier is not None and earlier.state is not CallState.ENDED:
                return earlier, True
            call = new_callback(
                "cb-" + secrets.token_hex(8),
                number=body.number,
                queue=queue,
                attributes=body.attributes,
                name=body.name,
                not_before=not_before,
                now=now,
            )
            routed, timers = await self._routing.route_call(call)
            routed = with_policy(routed, self._queue(routed.queue))
            await self._store(None, routed, (), timers, claim=(callback_claim(key, queue), claim))
            return routed, False

        call, duplicate = await with_retries("callback", key, attempt)
        if not duplicate:
            self._routing.request_dispatch()
        return _answer(call, duplicate)

    async def request_for_call(self, call_id: str, number: str | None, *, source: str) -> Call:
        """The waiting caller of `call_id` takes a callback (the hold menu). Raises
        NotFound, Conflict (the call is no longer waiting, or has no number),
        InvalidInput (a number that is not E.164)."""

        async def attempt() -> Call:
            call = await self._existing(call_id)
            attempts = self._queue(call.queue).callback_max_attempts
            changed = request_callback(
                call, number, self._clock.now(), source=source, max_attempts=attempts
            )
            if changed is not call:
                await self._store(call, changed)
            return changed

        return await with_retries("call", call_id, attempt)

    async def cancel(self, call_id: str) -> Call:
        """Cancel a waiting callback. Raises NotFound, Conflict (not a callback, or an
        agent accepted it already)."""

        async def attempt() -> Call:
            call = await self._existing(call_id)
            if call.state is CallState.ENDED and call.end_reason == "callback_canceled":
                return call
            agent = await self._agent_of(call)
            ended, freed = cancel(call, agent, self._clock.now())
            await self._store(call, ended, _pairs(agent, freed))
            return ended

        call = await with_retries("call", call_id, attempt)
        await self._finished(call)
        return call

    async def fire(self, timer: Timer) -> None:
        """A DIAL timer: claim the attempt and place it (in the background, so a slow
        gateway never holds up the other timers), look again later, or give it up."""
        call_id, dial_id = timer.subject, timer.ref
        placing = await with_retries("call", call_id, lambda: self._step(call_id, dial_id))
        if placing is not None:
            self._spawn(self._place(placing, dial_id))

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        """RouteNotifier: a callback just accepted on this instance is claimed and placed
        at once (its DIAL timer, due now too, is the safety net; the claim keeps it single)."""
        dial = call.callback.dial if call.callback else None
        if kind == CALLBACK_ACCEPTED and dial is not None and dial.state is DialState.PENDING:
            self._spawn(self._start(call.id, dial.id))

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the attempts being placed finish, for `grace_seconds` at most; those still
        under way then are cancelled (their claim runs out and another instance places
        them again under the same dial id, which the gateway treats as the same request)."""
        await self._tasks.stop(grace_seconds)

    async def _start(self, call_id: str, dial_id: str) -> None:
        placing = await with_retries("call", call_id, lambda: self._step(call_id, dial_id))
        if placing is not None:
            await self._place(placing, dial_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                # task boundary: the attempt's DIAL timer looks at it again
                log_failure(logger, "placing a callback failed")
                self._metrics.task_errors_total.labels("callback_dial").inc()

        self._tasks.spawn(run())

    async def _step(self, call_id: str, dial_id: str) -> Call | None:
        """Take the next step of an attempt; return the call when this instance claimed
        the attempt and must place it now."""
        call = await self._calls.get(call_id)
        if call is None:
            return None
        now = self._clock.now()
        step = next_dial_step(call, dial_id, now)
        if step.action == "place":
            claimed = claim_dial(call, dial_id, now)
            await self._store(
                call, claimed, (), [dial_timer(call_id, dial_id, now + CLAIM_TIMEOUT)]
            )
            return claimed
        if step.action == "wait" and step.at is not None:
            await self._store(call, call, (), [dial_timer(call_id, dial_id, step.at)])
        elif step.action == "give_up" and step.outcome is not None:
            await self._give_up(call, step.outcome)
        return None

    async def _place(self, call: Call, dial_id: str) -> None:
        assert call.callback is not None and call.callback.dial is not None
        dialer = self._dialers.get(call.dialect) or self._dialers.get(self._default_dialect or "")
        try:
            if dialer is None:
                raise DialRefused("no gateway is configured to place callbacks")
            gateway_id = await dialer.dial(call, call.callback.dial)
        except DialRefused as refused:
            logger.warning("callback %s not placed: %s", call.id, refused)
            await with_retries("call", call.id, lambda: self._refused(call.id, dial_id))
            return
        except Exception as error:
            # not known whether the gateway placed it: its report, or the claim timeout, tells
            logger.warning("callback %s: placing it failed (%s)", call.id, error)
            return
        await with_retries("call", call.id, lambda: self._placed(call.id, dial_id, gateway_id))

    async def _placed(self, call_id: str, dial_id: str, gateway_id: str | None) -> None:
        call = await self._existing(call_id)
        placed = dial_placed(call, dial_id, gateway_id, self._clock.now())
        if placed is not call:
            await self._store(call, placed)

    async def _refused(self, call_id: str, dial_id: str) -> None:
        call = await self._existing(call_id)
        dial = call.callback.dial if call.callback else None
        if call.state is CallState.CONNECTED and dial is not None and dial.id == dial_id:
            await self._give_up(call, DialOutcome.FAILED)

    async def _give_up(self, call: Call, outcome: DialOutcome) -> None:
        """The attempt failed: free the agent; retry later or end the callback."""
        agent = await self._agent_of(call)
        now = self._clock.now()
        after, freed = dial_failed(call, agent, outcome, now, self._queue(call.queue))
        timers = queue_timers(after, self._routing.rules.current)
        await self._store(call, after, _pairs(agent, freed), timers)
        if freed is not None or after.state is CallState.QUEUED:
            self._routing.request_dispatch()
        await self._finished(after)

    async def _finished(self, call: Call) -> None:
        """An ended callback: counted and kept in the caller's history."""
        if call.state is not CallState.ENDED or call.outcome is None:
            return
        self._metrics.calls_total.labels(call.queue, str(call.outcome)).inc()
        if call.caller_key:
            await self._callers.record_call(call.caller_key, summarise(call))

    async def _store(
        self,
        old: Call | None,
        new: Call,
        agents: tuple[tuple[Agent, Agent], ...] = (),
        timers: list[Timer] | None = None,
        *,
        claim: tuple[str, CallbackClaim | None] | None = None,
    ) -> None:
        result, _ = await self._calls.commit(
            old, new, agents, event_id=None, now=self._clock.now(), timers=timers or (), claim=claim
        )
        if result is not CommitResult.COMMITTED:
            raise Retry

    def _queue(self, name: str) -> QueueConfig:
        return self._routing.rules.current.queue(name)

    async def _existing(self, call_id: str) -> Call:
        call = await self._calls.get(call_id)
        if call is None:
            raise NotFound("call", call_id)
        return call

    async def _agent_of(self, call: Call) -> Agent | None:
        holder = call.agent_id or (call.reservation.agent_id if call.reservation else None)
        if holder is None:
            return None
        return (await self._calls.get_agents([holder])).get(holder)


def _pairs(agent: Agent | None, after: Agent | None) -> tuple[tuple[Agent, Agent], ...]:
    return ((agent, after),) if agent is not None and after is not None else ()


def _answer(call: Call, duplicate: bool) -> CallbackAnswer:
    assert call.callback is not None
    return CallbackAnswer(
        call_id=call.id,
        queue=call.queue,
        state=call.state,
        number=call.callback.number,
        not_before=call.callback.not_before,
        duplicate=duplicate,
    )
