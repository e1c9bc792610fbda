"""Timers that routing starts: when each fires and what it is about. Pure values; storage
keeps them in a sorted set and any instance may fire them."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from callcenter.domain.calls import Call, CallState
from callcenter.domain.routing_rules import RoutingRules, Rule


class TimerKind(StrEnum):
    STEP = "step"  # the call's eligible pool widens: dispatch again
    PREFER = "prefer"  # the wait for the preferred agent is over: dispatch again
    MAX_WAIT = "max_wait"  # overflow the call
    OFFER = "offer"  # the reservation expires
    WRAP_UP = "wrap_up"  # the agent's wrap-up time is over
    BACKOFF = "backoff"  # the agent may take offers again: dispatch again
    DISPATCH = "dispatch"  # a call was queued or an agent freed: some instance must match
    NOT_BEFORE = "not_before"  # a held-back callback may be offered now: dispatch again
    DIAL = "dial"  # a callback attempt: place it, or see that its gateway answered for it


class Timer(msgspec.Struct, frozen=True):
    kind: TimerKind
    subject: str  # call id, or agent id for WRAP_UP and BACKOFF
    ref: str  # step index, reservation id, dial id, call id for WRAP_UP, "" otherwise
    at: datetime


def queue_timers(call: Call, rules: RoutingRules) -> list[Timer]:
    """Timers for a call that just entered the queue: step widening, the preferred-agent
    window and max wait, each counted from its place in line (`queued_at`)."""
    if call.state is not CallState.QUEUED or call.queued_at is None:
        return []
    rule = rules.rule(call.rule) or Rule(name="none", queue=call.queue)
    start = call.queued_at
    timers = [
        Timer(TimerKind.STEP, call.id, str(i), start + timedelta(seconds=step.after))
        for i, step in enumerate(rule.steps)
        if step.after > 0
    ]
    if call.prefer_agent:
        timers.append(
            Timer(TimerKind.PREFER, call.id, "", start + timedelta(seconds=rule.prefer_seconds))
        )
    not_before = call.callback.not_before if call.callback else None
    if not_before is not None:
        timers.append(Timer(TimerKind.NOT_BEFORE, call.id, "", not_before))
    max_wait = rules.queue(call.queue).max_wait_seconds
    if max_wait is not None:
        timers.append(
            Timer(TimerKind.MAX_WAIT, call.id, call.queue, start + timedelta(seconds=max_wait))
        )
    return timers


def wrap_up_timer(agent_id: str, call: Call, rules: RoutingRules, now: datetime) -> Timer:
    seconds = rules.queue(call.queue).wrap_up_seconds
    return Timer(TimerKind.WRAP_UP, agent_id, call.id, now + timedelta(seconds=seconds))


def dispatch_due(now: datetime) -> Timer:
    """The durable twin of an in-process dispatch request: whichever instance takes it runs
    a pass, so a change acknowledged by an instance that dies at once is still matched."""
    return Timer(TimerKind.DISPATCH, "", "", now)


def dial_timer(call_id: str, dial_id: str, at: datetime) -> Timer:
    """When to look at a callback attempt again (place it, or give up waiting on it)."""
    return Timer(TimerKind.DIAL, call_id, dial_id, at)
