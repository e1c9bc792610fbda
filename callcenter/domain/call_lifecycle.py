"""How one canonical event changes a call (and the agents it touches).

`apply_call_event` is pure: it takes the stored call and agents and returns the change to
store. Duplicates and late events never move a call backwards: they come back as `stale`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain.agent_leg import leg_failed
from callcenter.domain.agents import Activity, Agent
from callcenter.domain.callback_events import CallbackStep, callback_step
from callcenter.domain.callbacks import final_outcome
from callcenter.domain.callers import CallSummary, caller_key
from callcenter.domain.calls import (
    Call,
    CallState,
    Direction,
    Outcome,
    Survey,
    channel_of,
    transition,
)
from callcenter.domain.events import (
    AgentLegFailed,
    CallAnswered,
    CallCreated,
    CallDtmf,
    CallEnded,
    CallEvent,
    CallRinging,
    CallTransferred,
    EndReason,
    SurveyCompleted,
)
from callcenter.domain.routing_rules import QueueConfig
from callcenter.errors import AgentBusy, IllegalTransition, NotFound

QueueConfigs = Callable[[str], QueueConfig]


class Disposition(StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"


class CallChange(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one event: what to store, and what it means for the caller's history."""

    disposition: Disposition
    call: Call
    agents: tuple[Agent, ...] = ()
    finished: CallSummary | None = None
    survey: Survey | None = None


_FINISHED_STATES = frozenset({CallState.WRAP_UP, CallState.ENDED})
_Ending = tuple[Outcome, CallState, tuple[Agent, ...]]  # outcome, next state, agents changed


def apply_call_event(
    call: Call | None,
    agents: Mapping[str, Agent],
    event: CallEvent,
    now: datetime,
    *,
    default_queue: str,
    queues: QueueConfigs = lambda name: QueueConfig(name=name),
) -> CallChange:
    """Return the change `event` makes to `call` (None: not seen yet).

    `agents` holds the stored agents named by the call or the event; `queues` gives a
    queue's settings (a callback's retry policy). Raises IllegalTransition or AgentBusy
    (conflicts), NotFound (a survey for an unknown call) and InvalidInput (a callback
    without a usable number)."""
    if isinstance(event, SurveyCompleted):
        return _survey(call, event, now)
    at = event.occurred_at or now
    if isinstance(event, AgentLegFailed):
        return _agent_leg_failed(call, agents, event, at, now, queues)
    if call is None:
        return _first_event(agents, event, at, now, default_queue, queues)
    step = callback_step(call, agents, event, at, now, queues(call.queue))
    if step is not None:
        return _callback_change(call, step, at, now)
    if isinstance(event, CallCreated | CallRinging):
        return _details(call, event, now)
    return _progress(call, agents, event, at, now)


def _callback_change(call: Call, step: CallbackStep, at: datetime, now: datetime) -> CallChange:
    if step.stale:  # nothing moves (a detail may be noted)
        return CallChange(disposition=Disposition.STALE, call=step.call)
    new = msgspec.structs.replace(step.call, last_event_at=max(call.last_event_at, at))
    finished = summarise(new) if new.state is CallState.ENDED else None
    return CallChange(
        disposition=Disposition.APPLIED, call=new, agents=step.agents, finished=finished
    )


def _first_event(
    agents: Mapping[str, Agent],
    event: CallEvent,
    at: datetime,
    now: datetime,
    default_queue: str,
    queues: QueueConfigs,
) -> CallChange:
    """The first event of a call we have not seen: it starts queued, whatever the event
    (an answer or hang-up that overtook the call's start then applies to it)."""
    call = _new_call(event, at, now, default_queue)
    if isinstance(event, CallCreated | CallRinging | CallTransferred | CallDtmf):
        return CallChange(disposition=Disposition.APPLIED, call=_with_dtmf(call, event))
    step = callback_step(call, agents, event, at, now, queues(call.queue))
    if step is not None:
        return _callback_change(call, step, at, now)
    return _progress(call, agents, event, at, now)


def _progress(
    call: Call, agents: Mapping[str, Agent], event: CallEvent, at: datetime, now: datetime
) -> CallChange:
    """An event that may move a known call on."""
    if isinstance(event, CallAnswered):
        return _answered(call, agents, event, at, now)
    if isinstance(event, CallEnded):
        return _ended(call, agents, event, at, now)
    if isinstance(event, CallTransferred):
        return _transferred(call, agents, event, at, now)
    if isinstance(event, CallDtmf):
        return _dtmf(call, event, at, now)
    raise AssertionError(f"unhandled event {type(event).__name__}")  # pragma: no cover


def complete_wrap_up(call: Call | None, agent: Agent, now: datetime) -> tuple[Agent, Call | None]:
    """The agent finished wrap-up: the agent goes idle and its call, if still in wrap-up, ends.

    Returns the new agent and the new call (None when there is no call to change)."""
    if agent.activity is not Activity.WRAP_UP:
        raise IllegalTransition("agent", agent.id, str(agent.activity), str(Activity.IDLE))
    idle = agent_rules.set_activity(agent, Activity.IDLE, now)
    if call is None or call.state is not CallState.WRAP_UP or call.agent_id != agent.id:
        return idle, None  # e.g. wrap-up after a transfer: the call went on without us
    ended = msgspec.structs.replace(call, state=transition(call, CallState.ENDED), updated_at=now)
    return idle, ended


def _new_call(event: CallEvent, at: datetime, now: datetime, default_queue: str) -> Call:
    return Call(
        id=event.call_id,
        gateway_call_id=event.call_id,
        state=CallState.QUEUED,
        queue=event.queue or default_queue,
        queue_hint=event.queue,
        created_at=at,
        updated_at=now,
        last_event_at=at,
        from_=event.from_,
        to=event.to,
        caller_key=caller_key(event.from_) if event.from_ else None,
        direction=event.direction or Direction.INBOUND,
        attributes=dict(event.attributes),
        queued_at=at,
    )


def _applied(call: Call, at: datetime, now: datetime, **changes: object) -> CallChange:
    return CallChange(
        disposition=Disposition.APPLIED,
        call=msgspec.structs.replace(
            call, updated_at=now, last_event_at=max(call.last_event_at, at), **changes
        ),
    )


def _details(call: Call, event: CallEvent, now: datetime) -> CallChange:
    """A repeated or late created/ringing: fill in what we did not know, move nothing."""
    missing: dict[str, object] = {}
    if call.from_ is None and event.from_:
        missing.update(from_=event.from_, caller_key=caller_key(event.from_))
    if call.to is None and event.to:
        missing["to"] = event.to
    new_attributes = {k: v for k, v in event.attributes.items() if k not in call.attributes}
    if new_attributes:
        missing["attributes"] = {**call.attributes, **new_attributes}
    if not missing:
        return CallChange(disposition=Disposition.STALE, call=call)
    return CallChange(
        disposition=Disposition.STALE,
        call=msgspec.structs.replace(call, updated_at=now, **missing),
    )


def _with_dtmf(call: Call, event: CallEvent) -> Call:
    if not isinstance(event, CallDtmf):
        return call
    pressed = str(call.attributes.get("dtmf", "")) + event.digits
    return msgspec.structs.replace(call, attributes={**call.attributes, "dtmf": pressed[-64:]})


def _dtmf(call: Call, event: CallDtmf, at: datetime, now: datetime) -> CallChange:
    if call.state in _FINISHED_STATES:
        return CallChange(disposition=Disposition.STALE, call=call)
    return _applied(_with_dtmf(call, event), at, now)


def _is_late(call: Call, at: datetime) -> bool:
    return at < call.last_event_at


def _answered(
    call: Call, agents: Mapping[str, Agent], event: CallAnswered, at: datetime, now: datetime
) -> CallChange:
    if call.state not in (CallState.CREATED, CallState.QUEUED, CallState.OFFERED) or _is_late(
        call, at
    ):
        return CallChange(disposition=Disposition.STALE, call=call)
    agent_id = event.agent_id or call.agent_id
    changed: list[Agent] = []
    if call.agent_id and call.agent_id != agent_id and call.agent_id in agents:
        changed.append(_release(agents[call.agent_id], call.id, now))
    if agent_id and agent_id in agents:
        changed.append(_take_call(agents[agent_id], call.id, now))
    change = _applied(
        call,
        at,
        now,
        state=transition(call, CallState.CONNECTED),
        agent_id=agent_id,
        answered_at=at,
    )
    return msgspec.structs.replace(change, agents=tuple(changed))


def _take_call(agent: Agent, call_id: str, now: datetime) -> Agent:
    if agent.call_id not in (None, call_id) or agent.activity in (
        Activity.ON_CALL,
        Activity.WRAP_UP,
    ):
        raise AgentBusy(agent.id, agent.call_id or "")
    return agent_rules.set_activity(agent, Activity.ON_CALL, now, call_id=call_id)


def _release(agent: Agent, call_id: str, now: datetime) -> Agent:
    """Free an agent that was reserved for (not yet talking on) `call_id`."""
    if agent.call_id != call_id or agent.activity is not Activity.RESERVED:
        return agent
    return agent_rules.set_activity(agent, Activity.IDLE, now)


def _finish_talk(agent: Agent, call: Call, at: datetime, now: datetime) -> Agent:
    """The agent's part of the call is over: count the talk time and start wrap-up."""
    if agent.call_id != call.id or agent.activity is not Activity.ON_CALL:
        return agent
    talk = (at - call.answered_at).total_seconds() if call.answered_at else 0.0
    wrapped = agent_rules.set_activity(agent, Activity.WRAP_UP, now, call_id=call.id)
    return agent_rules.record_talk(wrapped, talk, now)


def _ended(
    call: Call, agents: Mapping[str, Agent], event: CallEnded, at: datetime, now: datetime
) -> CallChange:
    if call.state in _FINISHED_STATES:
        return CallChange(disposition=Disposition.STALE, call=call)
    agent = _holder(call, agents)
    if call.state is CallState.CONNECTED:
        outcome, state, changed = _hung_up(call, agent, at, now)
    else:
        outcome, state, changed = _gave_up(call, agent, event.end_reason, now)
    change = _applied(
        call,
        at,
        now,
        state=transition(call, state),
        ended_at=at,
        outcome=outcome,
        end_reason=str(event.end_reason),
        reservation=None,  # an offer of an ended call is over: its expiry has nothing to do
    )
    return msgspec.structs.replace(change, agents=changed, finished=summarise(change.call))


def _holder(call: Call, agents: Mapping[str, Agent]) -> Agent | None:
    """The stored agent talking on the call, or else the one it is offered to."""
    holder = call.agent_id or (call.reservation.agent_id if call.reservation else None)
    return agents.get(holder) if holder else None


def _hung_up(call: Call, agent: Agent | None, at: datetime, now: datetime) -> _Ending:
    """A connected call ended: handled; its agent, if still on it, goes to wrap-up."""
    if agent is not None and agent.call_id == call.id:
        return Outcome.HANDLED, CallState.WRAP_UP, (_finish_talk(agent, call, at, now),)
    return Outcome.HANDLED, CallState.ENDED, ()


def _gave_up(call: Call, agent: Agent | None, reason: EndReason, now: datetime) -> _Ending:
    """A call ended before anyone answered: failed or abandoned; an offer is withdrawn."""
    outcome = Outcome.FAILED if reason in (EndReason.FAILED, EndReason.BUSY) else Outcome.ABANDONED
    changed = (_release(agent, call.id, now),) if agent is not None else ()
    return outcome, CallState.ENDED, changed


def summarise(call: Call) -> CallSummary:
    """The history entry of a call that has ended (outcome and ended_at set)."""
    outcome = call.outcome or Outcome.ABANDONED
    at = call.ended_at or call.updated_at
    wait_from = call.queued_at or call.created_at
    wait_to = call.answered_at or at
    return CallSummary(
        call_id=call.id,
        at=call.created_at,
        queue=call.queue,
        outcome=outcome,
        agent_id=call.agent_id if outcome is Outcome.HANDLED else None,
        wait_seconds=max(0.0, (wait_to - wait_from).total_seconds()),
        talk_seconds=max(0.0, (at - call.answered_at).total_seconds())
        if call.answered_at
        else None,
        survey=call.survey,
        callback=final_outcome(call),
        channel=str(channel_of(call)),
    )


def _transferred(
    call: Call, agents: Mapping[str, Agent], event: CallTransferred, at: datetime, now: datetime
) -> CallChange:
    if call.state in _FINISHED_STATES or _is_late(call, at):
        return CallChange(disposition=Disposition.STALE, call=call)
    if call.state is not CallState.CONNECTED:
        raise IllegalTransition("call", call.id, str(call.state), "transferred")
    agent = agents.get(call.agent_id) if call.agent_id else None
    changed = (_finish_talk(agent, call, at, now),) if agent is not None else ()
    change = _applied(
        call,
        at,
        now,
        state=transition(call, CallState.QUEUED),
        queue=event.queue or call.queue,
        queue_hint=event.queue or call.queue,
        rule=None,
        prefer_agent=None,
        declined_by=(),
        agent_id=None,
        answered_at=None,
        queued_at=at,
    )
    return msgspec.structs.replace(change, agents=changed)


def _agent_leg_failed(
    call: Call | None,
    agents: Mapping[str, Agent],
    event: AgentLegFailed,
    at: datetime,
    now: datetime,
    queues: QueueConfigs,
) -> CallChange:
    if call is None:
        raise NotFound("call", event.call_id)
    failed = leg_failed(call, agents.get(event.agent_id), event, at, now, queues(call.queue))
    if failed is None:
        return CallChange(disposition=Disposition.STALE, call=call)
    return CallChange(disposition=Disposition.APPLIED, call=failed[0], agents=failed[1])


def _survey(call: Call | None, event: SurveyCompleted, now: datetime) -> CallChange:
    if call is None:
        raise NotFound("call", event.call_id)
    old = call.survey or Survey()
    survey = Survey(
        csat=event.csat if event.csat is not None else old.csat,
        nps=event.nps if event.nps is not None else old.nps,
        ces=event.ces if event.ces is not None else old.ces,
    )
    updated = msgspec.structs.replace(call, survey=survey, updated_at=now)
    return CallChange(disposition=Disposition.APPLIED, call=updated, survey=survey)
