"""Callbacks: a waiting customer who is called back instead of holding. Pure transitions.

A callback is a call that waits like any other: its ticket keeps the call's priority and
place in line (`queued_at`), so the routing order treats it exactly as a live caller. When
an agent accepts its offer the call is connected to that agent and a dial attempt starts;
the attempt is claimed by one instance (`claim_dial`) before the gateway is asked, and
the gateway's reports move it on (`dial_answered`, `dial_failed`). An attempt that is not
answered frees the agent at once and, while attempts are left, puts the callback back in
its place after the queue's retry pause."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain import calls
from callcenter.domain.agents import Activity, Agent
from callcenter.domain.callers import caller_key
from callcenter.domain.calls import (
    Attributes,
    Call,
    Callback,
    CallState,
    Dial,
    DialOutcome,
    DialState,
    Outcome,
    transition,
)
from callcenter.domain.events import E164, EndReason
from callcenter.domain.routing_rules import QueueConfig
from callcenter.errors import Conflict, InvalidInput

_E164 = re.compile(E164)
SCHEDULE_HORIZON = timedelta(days=30)
SCHEDULE_PAST_TOLERANCE = timedelta(seconds=60)
# An attempt claimed this long ago without a word from the gateway was never placed: the
# gateway reports a placed call within seconds (Twilio's `initiated`), so it is claimed
# and placed again, under the same dial id (the gateway's idempotency key).
CLAIM_TIMEOUT = timedelta(seconds=20)
CLAIMS_PER_ATTEMPT = 3
# A placed attempt that nobody reports on for this long counts as not answered.
RING_TIMEOUT = timedelta(seconds=90)
WAITING_STATES = frozenset({CallState.QUEUED, CallState.OFFERED})

_END_REASON_OUTCOME = {
    EndReason.BUSY: DialOutcome.BUSY,
    EndReason.FAILED: DialOutcome.FAILED,
    EndReason.NO_ANSWER: DialOutcome.NO_ANSWER,
    EndReason.CANCELED: DialOutcome.NO_ANSWER,
    EndReason.NORMAL: DialOutcome.NO_ANSWER,
}


def check_number(number: str, pointer: str = "/number") -> str:
    """`number` if it is E.164 (+ and 7 to 15 digits); raises InvalidInput naming the field."""
    if not _E164.fullmatch(number):
        raise InvalidInput("must be an E.164 number such as +15551234567", pointer)
    return number


def check_not_before(not_before: datetime | None, now: datetime) -> datetime | None:
    """A schedule within the next 30 days (a minute in the past is taken as now)."""
    if not_before is None:
        return None
    if not_before < now - SCHEDULE_PAST_TOLERANCE:
        raise InvalidInput("is in the past", "/not_before")
    if not_before > now + SCHEDULE_HORIZON:
        raise InvalidInput("is more than 30 days ahead", "/not_before")
    return max(not_before, now)


def new_callback(
    call_id: str,
    *,
    number: str,
    queue: str,
    attributes: Attributes,
    name: str | None,
    not_before: datetime | None,
    now: datetime,
) -> Call:
    """A callback asked for from outside a call (a web form, a CRM): it waits from
    `not_before` (scheduled) or from now. Its attempts are set once routing has chosen
    its queue (`with_policy`)."""
    return calls.waiting(
        call_id,
        queue=queue,
        customer=number,
        caller_key=caller_key(number),
        now=now,
        queued_at=not_before,
        attributes=attributes,
        callback=Callback(
            number=number,
            requested_at=now,
            source="api",
            name=name,
            not_before=not_before,
        ),
    )


def with_policy(call: Call, config: QueueConfig) -> Call:
    """The callback with the attempts its queue allows."""
    callback = _callback(call)
    policy = msgspec.structs.replace(callback, max_attempts=config.callback_max_attempts)
    return msgspec.structs.replace(call, callback=policy)


def request_callback(
    call: Call, number: str | None, now: datetime, *, source: str, max_attempts: int
) -> Call:
    """A waiting caller takes a callback: the call keeps its place and priority and waits
    on without them. A repeated request changes nothing. Raises Conflict for a call that
    is no longer waiting or has no number to call, InvalidInput for a number that is not
    E.164."""
    if call.callback is not None:
        return call
    if call.state not in WAITING_STATES:
        raise Conflict(f"call {call.id!r} is {call.state}: only a waiting call can be called back")
    if number is None and (call.from_ is None or not _E164.fullmatch(call.from_)):
        raise Conflict(f"call {call.id!r} has no caller number to call back: give `number`")
    chosen = number or call.from_
    assert chosen is not None
    callback = Callback(
        number=check_number(chosen),
        requested_at=now,
        source=source,
        max_attempts=max_attempts,
        first_leg=True,
    )
    return msgspec.structs.replace(call, callback=callback, updated_at=now)


def start_dial(call: Call, agent_id: str, dial_id: str, now: datetime) -> Call:
    """The agent accepted the callback: the next attempt waits to be placed."""
    callback = _callback(call)
    dial = Dial(
        id=dial_id,
        attempt=callback.attempts + 1,
        agent_id=agent_id,
        state=DialState.PENDING,
        created_at=now,
    )
    changed = msgspec.structs.replace(
        callback, attempts=callback.attempts + 1, dial=dial, not_before=None
    )
    # the customer is not on the line yet: answered_at is their answer's time
    return msgspec.structs.replace(call, callback=changed, answered_at=None, updated_at=now)


class NextStep(msgspec.Struct, frozen=True):
    """What an instance looking at an attempt should do: place it, wait until `at` and
    look again, give it up with `outcome`, or nothing (it is over, or not this one)."""

    action: str  # "place", "wait", "give_up", "nothing"
    at: datetime | None = None
    outcome: DialOutcome | None = None


def next_dial_step(call: Call, dial_id: str, now: datetime) -> NextStep:
    """Nobody has placed the attempt: place it. One instance set out to and went silent
    past the claim timeout: place it again (same dial id, the gateway's idempotency key),
    a few times at most. It was placed and nobody reported on it within the ring timeout:
    not answered."""
    dial = dialing(call)
    if dial is None or dial.id != dial_id or dial.state is DialState.ANSWERED:
        return NextStep("nothing")
    if dial.state is DialState.PENDING:
        return NextStep("place")
    claimed = dial.claimed_at or dial.created_at
    if dial.state is DialState.PLACING:
        if now < claimed + CLAIM_TIMEOUT:
            return NextStep("wait", at=claimed + CLAIM_TIMEOUT)
        if dial.claims < CLAIMS_PER_ATTEMPT:
            return NextStep("place")
        return NextStep("give_up", outcome=DialOutcome.FAILED)
    if now < claimed + RING_TIMEOUT:
        return NextStep("wait", at=claimed + RING_TIMEOUT)
    return NextStep("give_up", outcome=DialOutcome.NO_ANSWER)


def claim_dial(call: Call, dial_id: str, now: datetime) -> Call:
    """Mark the attempt as being placed by this instance (`next_dial_step` said "place")."""
    callback = _callback(call)
    assert callback.dial is not None and callback.dial.id == dial_id
    dial = msgspec.structs.replace(
        callback.dial, state=DialState.PLACING, claimed_at=now, claims=callback.dial.claims + 1
    )
    return _with_dial(call, callback, dial, now)


def dial_placed(call: Call, dial_id: str, gateway_call_id: str | None, now: datetime) -> Call:
    """The gateway took the attempt (a later report may already have moved it on)."""
    dial = call.callback.dial if call.callback else None
    if (
        dial is None
        or dial.id != dial_id
        or dial.state
        not in (
            DialState.PENDING,
            DialState.PLACING,
        )
    ):
        return call
    placed = msgspec.structs.replace(
        dial, state=DialState.PLACED, gateway_call_id=gateway_call_id or dial.gateway_call_id
    )
    return _with_dial(call, _callback(call), placed, now)


def dial_answered(call: Call, at: datetime, now: datetime) -> Call:
    """The customer picked up: the agent is talking to them from now."""
    callback = _callback(call)
    assert callback.dial is not None
    dial = msgspec.structs.replace(callback.dial, state=DialState.ANSWERED)
    answered = _with_dial(call, callback, dial, now)
    changed = msgspec.structs.replace(callback, dial=dial, last_outcome=DialOutcome.ANSWERED)
    return msgspec.structs.replace(answered, callback=changed, answered_at=at)


def outcome_of(reason: EndReason) -> DialOutcome:
    """How an attempt went, from the end reason the gateway gave for its leg."""
    return _END_REASON_OUTCOME[reason]


def dial_failed(
    call: Call, agent: Agent | None, outcome: DialOutcome, now: datetime, config: QueueConfig
) -> tuple[Call, Agent | None]:
    """An attempt that was not answered: the agent is free at once; the callback waits
    again (in its old place, after the retry pause) or, out of attempts, ends failed."""
    callback = _callback(call)
    freed = _free(agent, call.id, now)
    if callback.attempts < callback.max_attempts:
        retry_at = now + timedelta(seconds=config.callback_retry_seconds)
        waiting = msgspec.structs.replace(
            callback, dial=None, last_outcome=outcome, not_before=retry_at
        )
        requeued = msgspec.structs.replace(
            call,
            state=transition(call, CallState.QUEUED),
            callback=waiting,
            agent_id=None,
            answered_at=None,
            reservation=None,
            updated_at=now,
        )
        return requeued, freed
    done = msgspec.structs.replace(callback, dial=None, last_outcome=outcome)
    ended = msgspec.structs.replace(
        call,
        state=transition(call, CallState.ENDED),
        callback=done,
        answered_at=None,
        outcome=Outcome.FAILED,
        end_reason=f"callback_{outcome}",
        ended_at=now,
        updated_at=now,
    )
    return ended, freed


def cancel(call: Call, agent: Agent | None, now: datetime) -> tuple[Call, Agent | None]:
    """The customer no longer wants the callback: it ends (an offer of it is withdrawn).
    Raises Conflict once an agent has accepted it (the dial is under way)."""
    if call.callback is None:
        raise Conflict(f"call {call.id!r} is not a callback")
    if call.state not in WAITING_STATES:
        raise Conflict(f"callback {call.id!r} is {call.state}: it can no longer be canceled")
    ended = msgspec.structs.replace(
        call,
        state=transition(call, CallState.ENDED),
        outcome=Outcome.ABANDONED,
        end_reason="callback_canceled",
        ended_at=now,
        reservation=None,
        updated_at=now,
    )
    return ended, _release_offer(agent, call.id, now)


def dialing(call: Call) -> Dial | None:
    """The attempt under way, if the call is a callback being dialled."""
    if call.callback is None or call.state is not CallState.CONNECTED:
        return None
    return call.callback.dial


def final_outcome(call: Call) -> str | None:
    """What became of a callback that ended: answered, busy, no_answer, failed, canceled."""
    if call.callback is None:
        return None
    if call.end_reason == "callback_canceled":
        return "canceled"
    return str(call.callback.last_outcome or DialOutcome.FAILED)


def _callback(call: Call) -> Callback:
    if call.callback is None:
        raise Conflict(f"call {call.id!r} is not a callback")
    return call.callback


def _with_dial(call: Call, callback: Callback, dial: Dial, now: datetime) -> Call:
    return msgspec.structs.replace(
        call, callback=msgspec.structs.replace(callback, dial=dial), updated_at=now
    )


def _free(agent: Agent | None, call_id: str, now: datetime) -> Agent | None:
    """The agent of a failed attempt is idle again at once (no wrap-up)."""
    if agent is None or agent.call_id != call_id or agent.activity is not Activity.ON_CALL:
        return None
    return agent_rules.set_activity(agent, Activity.IDLE, now)


def _release_offer(agent: Agent | None, call_id: str, now: datetime) -> Agent | None:
    if agent is None or agent.call_id != call_id or agent.activity is not Activity.RESERVED:
        return None
    return agent_rules.set_activity(agent, Activity.IDLE, now)
