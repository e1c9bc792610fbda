"""What the gateway's events mean for a callback: the request itself, and the reports on
a dial attempt (ringing: placed; answered; ended before an answer: busy, no answer or
failed). Pure; `call_lifecycle` asks here first for every event of a callback.

A report names its attempt by the attribute `dial_id` (the gateway's copy of the dial id
it was asked with). An untagged `call.ended` is the customer's own first leg leaving
while that leg has not reported its end yet, and the attempt's after that."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.callbacks import (
    dial_answered,
    dial_failed,
    dial_placed,
    dialing,
    outcome_of,
    request_callback,
)
from callcenter.domain.calls import Call, Dial, DialState
from callcenter.domain.events import (
    CallAnswered,
    CallbackRequested,
    CallEnded,
    CallEvent,
    CallRinging,
)
from callcenter.domain.routing_rules import QueueConfig

DIAL_ATTRIBUTE = "dial_id"


@dataclass(frozen=True, slots=True)
class CallbackStep:
    """The change an event makes to a callback; `stale` when it changes nothing."""

    call: Call
    agents: tuple[Agent, ...] = ()
    stale: bool = False


def callback_step(
    call: Call,
    agents: Mapping[str, Agent],
    event: CallEvent,
    at: datetime,
    now: datetime,
    config: QueueConfig,
) -> CallbackStep | None:
    """The event's meaning for a callback, or None when it is an ordinary event of the
    call (a survey, DTMF, the customer hanging up after the answer)."""
    if isinstance(event, CallbackRequested):
        return _requested(call, event, now, config)
    dial = dialing(call)
    if call.callback is None or _answered(dial):
        return None  # not a callback, or the customer is on the line: an ordinary call
    tagged = event.attributes.get(DIAL_ATTRIBUTE)
    if tagged is not None:  # the gateway names the attempt: its word is final
        if dial is None or tagged != dial.id:
            return CallbackStep(call, stale=True)  # an attempt that is over
        return _attempt_report(call, dial, agents, event, at, now, config)
    if dial is None or _first_leg_ends(call, event):
        return _first_leg(call, event)
    if at < dial.created_at:
        return CallbackStep(call, stale=True)  # about an earlier leg
    return _attempt_report(call, dial, agents, event, at, now, config)


def _answered(dial: Dial | None) -> bool:
    return dial is not None and dial.state is DialState.ANSWERED


def _first_leg(call: Call, event: CallEvent) -> CallbackStep | None:
    """The customer's first leg hanging up (to be called back) ends nothing; the next
    untagged end is the attempt's."""
    if isinstance(event, CallEnded):
        return CallbackStep(_first_leg_gone(call), stale=True)
    return None


def _requested(
    call: Call, event: CallbackRequested, now: datetime, config: QueueConfig
) -> CallbackStep:
    if call.callback is not None:
        return CallbackStep(call, stale=True)
    asked = request_callback(
        call, event.number, now, source="event", max_attempts=config.callback_max_attempts
    )
    return CallbackStep(asked)


def _first_leg_ends(call: Call, event: CallEvent) -> bool:
    return isinstance(event, CallEnded) and call.callback is not None and call.callback.first_leg


def _first_leg_gone(call: Call) -> Call:
    callback = call.callback
    if callback is None or not callback.first_leg:
        return call
    return msgspec.structs.replace(
        call, callback=msgspec.structs.replace(callback, first_leg=False)
    )


def _attempt_report(
    call: Call,
    dial: Dial,
    agents: Mapping[str, Agent],
    event: CallEvent,
    at: datetime,
    now: datetime,
    config: QueueConfig,
) -> CallbackStep | None:
    """The gateway's word on the attempt under way: ringing, answered, or over unanswered."""
    if isinstance(event, CallRinging):
        return CallbackStep(dial_placed(call, dial.id, None, now))
    if isinstance(event, CallAnswered):
        return CallbackStep(dial_answered(call, at, now))
    if isinstance(event, CallEnded):
        agent = agents.get(dial.agent_id)
        failed, freed = dial_failed(call, agent, outcome_of(event.end_reason), now, config)
        return CallbackStep(failed, (freed,) if freed is not None else ())
    return None
