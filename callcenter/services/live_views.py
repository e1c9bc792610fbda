"""What the live pages read: calls, offers, queue figures and alerts as the pages show
them, and the snapshot each page gets when it connects. The events that follow a snapshot
are in `live_events.py`."""

from __future__ import annotations

from datetime import datetime

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.callers import CallerView
from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.mood import Mood
from callcenter.domain.queue_outlook import OutlookPoint, QueueOutlookView
from callcenter.domain.routing import Decision
from callcenter.domain.transcripts import TranscriptEntry
from callcenter.storage.queue_stats import QueueDay


class CallbackView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A callback as the live pages show it: whom to call, since when, which attempt."""

    number: str
    requested_at: datetime
    attempt: int  # the attempt under way, or the one accepting the offer starts
    max_attempts: int
    name: str | None = None
    last_outcome: str | None = None
    dial: str | None = None  # the attempt's state while one is under way


def callback_view(call: Call) -> CallbackView | None:
    callback = call.callback
    if callback is None:
        return None
    dial = callback.dial if call.state is CallState.CONNECTED else None
    return CallbackView(
        number=callback.number,
        requested_at=callback.requested_at,
        attempt=dial.attempt if dial is not None else callback.attempts + 1,
        max_attempts=callback.max_attempts,
        name=callback.name,
        last_outcome=callback.last_outcome,
        dial=dial.state if dial is not None else None,
    )


class CallView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A call as the live pages show it."""

    id: str
    state: CallState
    queue: str
    priority: int
    created_at: datetime
    version: int
    from_: str | None = msgspec.field(default=None, name="from")
    caller_key: str | None = None
    agent_id: str | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    outcome: Outcome | None = None
    moods: dict[str, Mood] | None = None
    callback: CallbackView | None = None
    channel: str = "voice"  # chat, sms and email tasks are listed with the calls


def call_view(call: Call, moods: dict[str, Mood] | None = None) -> CallView:
    return CallView(
        id=call.id,
        state=call.state,
        queue=call.queue,
        priority=call.priority,
        created_at=call.created_at,
        version=call.version,
        from_=call.from_,
        caller_key=call.caller_key,
        agent_id=call.agent_id,
        queued_at=call.queued_at,
        answered_at=call.answered_at,
        outcome=call.outcome,
        moods=moods,
        callback=callback_view(call),
        channel=str(call.channel),
    )


class ReservationView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    expires_at: datetime


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """The screen pop: the call, who is calling, until when, and why this agent."""

    call: CallView
    caller: CallerView | None
    reservation: ReservationView
    decision: Decision | None


class QueueToday(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    service_level_seconds: float
    today: QueueDay


class AlertView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    call_id: str
    rule: str
    kind: str
    severity: str
    reason: str
    at: datetime
    speaker: str | None
    queue: str | None
    agent_id: str | None
    caller: str | None
    acked: bool


class WallboardSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    epoch: str
    now: datetime
    queues: list[QueueToday]
    agents: list[Agent]
    calls: list[CallView]
    alerts: list[AlertView]
    # every queue's outlook now, and each queue's stored minute points of the last hour
    outlook: list[QueueOutlookView] = msgspec.field(default_factory=list)
    outlook_history: dict[str, list[OutlookPoint]] = msgspec.field(default_factory=dict)
    type: str = "snapshot"


class AgentSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    epoch: str
    now: datetime
    agent: Agent
    offer: Offer | None
    call: CallView | None
    caller: CallerView | None
    transcript: list[TranscriptEntry]
    moods: dict[str, Mood]
    # why the agent's current call came to it (for a pending offer: in `offer`), so a
    # desktop opened or reloaded mid-call shows what the live offer showed
    decision: Decision | None = None
    type: str = "snapshot"
