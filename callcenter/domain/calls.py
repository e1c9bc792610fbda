"""The call record and its state machine: created, queued, offered, connected, wrap_up, ended."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from callcenter.domain.messages import Channel, Conversation
from callcenter.errors import IllegalTransition

Attributes = dict[str, str | int | float | bool]


class CallState(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    ENDED = "ended"


class Outcome(StrEnum):
    HANDLED = "handled"
    ABANDONED = "abandoned"
    FAILED = "failed"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


ALLOWED_TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.CREATED: frozenset({CallState.QUEUED, CallState.CONNECTED, CallState.ENDED}),
    CallState.QUEUED: frozenset({CallState.OFFERED, CallState.CONNECTED, CallState.ENDED}),
    CallState.OFFERED: frozenset({CallState.QUEUED, CallState.CONNECTED, CallState.ENDED}),
    CallState.CONNECTED: frozenset({CallState.WRAP_UP, CallState.QUEUED, CallState.ENDED}),
    CallState.WRAP_UP: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}

# Calls still holding a caller or an agent; everything else is history.
ACTIVE_STATES = frozenset(
    {CallState.CREATED, CallState.QUEUED, CallState.OFFERED, CallState.CONNECTED}
)


class Survey(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Post-call survey answers: CSAT 1-5, NPS 0-10, CES 1-7 (each optional)."""

    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    nps: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None
    ces: Annotated[int, msgspec.Meta(ge=1, le=7)] | None = None


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """The call is offered to one agent until `expires_at`."""

    id: str
    agent_id: str
    offered_at: datetime
    expires_at: datetime


class DialOutcome(StrEnum):
    """How one callback attempt went."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class DialState(StrEnum):
    PENDING = "pending"  # an agent accepted; nobody has asked the gateway yet
    PLACING = "placing"  # one instance claimed the attempt and is asking the gateway
    PLACED = "placed"  # the gateway took it (and may have told us its id)
    ANSWERED = "answered"  # the customer picked up


class Dial(msgspec.Struct, frozen=True, kw_only=True):
    """One outbound attempt of a callback: `id` is its idempotency key at the gateway."""

    id: str
    attempt: int
    agent_id: str
    state: DialState
    created_at: datetime
    claimed_at: datetime | None = None
    claims: int = 0  # how many times an instance set out to place it
    gateway_call_id: str | None = None


class Callback(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The customer is not holding: call them back at `number` when an agent is free.

    The call keeps its place in line (`Call.queued_at`); `not_before` holds it back (a
    scheduled callback, or the pause after an unanswered attempt)."""

    number: str
    requested_at: datetime
    source: str  # "api", "event" (the gateway), "ivr" (pressed on hold)
    max_attempts: int = 3  # the queue's policy when it was asked for
    name: str | None = None
    not_before: datetime | None = None
    attempts: int = 0  # attempts started so far
    # the customer's own leg (the call they asked from) has not reported its end yet
    first_leg: bool = False
    last_outcome: DialOutcome | None = None
    dial: Dial | None = None


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """One task as the service knows it: a call (channel voice, the default), or a chat,
    SMS or email conversation (`conversation` set). `version` increases with every
    stored change."""

    id: str
    gateway_call_id: str
    state: CallState
    queue: str
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    caller_key: str | None = None
    direction: Direction = Direction.INBOUND
    dialect: str = "generic"  # the gateway dialect that reported the call first
    priority: int = 0
    attributes: Attributes = msgspec.field(default_factory=dict)
    agent_id: str | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Outcome | None = None
    end_reason: str | None = None
    survey: Survey | None = None
    queue_hint: str | None = None  # the queue the gateway asked for, if any
    rule: str | None = None
    prefer_agent: str | None = None
    declined_by: tuple[str, ...] = ()
    reservation: Reservation | None = None
    overflowed_from: str | None = None
    callback: Callback | None = None
    channel: Channel = Channel.VOICE
    conversation: Conversation | None = None
    resolved_at: datetime | None = None
    version: int = 0


def waiting(
    call_id: str,
    *,
    queue: str,
    customer: str,
    caller_key: str | None,
    now: datetime,
    queued_at: datetime | None = None,
    dialect: str = "api",
    attributes: Attributes | None = None,
    to: str | None = None,
    channel: Channel = Channel.VOICE,
    conversation: Conversation | None = None,
    callback: Callback | None = None,
) -> Call:
    """A call or task that did not come from a gateway's call (a callback asked for, a
    conversation opened), waiting in `queue` from `queued_at` (else now)."""
    return Call(
        id=call_id,
        gateway_call_id=call_id,
        state=CallState.QUEUED,
        queue=queue,
        queue_hint=queue,
        created_at=now,
        updated_at=now,
        last_event_at=now,
        from_=customer,
        caller_key=caller_key,
        dialect=dialect,
        attributes=dict(attributes or {}),
        queued_at=queued_at or now,
        to=to,
        channel=channel,
        conversation=conversation,
        callback=callback,
    )


def transition(call: Call, to: CallState) -> CallState:
    """Return `to` if the state machine allows `call.state → to`; raise IllegalTransition."""
    if to not in ALLOWED_TRANSITIONS[call.state]:
        raise IllegalTransition("call", call.id, str(call.state), str(to))
    return to


def channel_of(call: Call) -> Channel:
    """The task's channel for routing and capacity: a voice call turned callback is one."""
    return Channel.CALLBACK if call.callback is not None else call.channel
