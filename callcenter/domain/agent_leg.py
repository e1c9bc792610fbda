"""The leg to an accepting agent failed (`call.agent_failed`): a PBX placed the agent's
call after the accept and it was not answered, busy or failed. The caller never spoke to
the agent, so the call goes back to waiting in its old place (its `queued_at` kept, as a
declined offer's is) and the agent is idle again with the offer counted as missed."""

from __future__ import annotations

from datetime import datetime

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Activity, Agent
from callcenter.domain.calls import Call, CallState, transition
from callcenter.domain.events import AgentLegFailed
from callcenter.domain.reservations import missed_offer
from callcenter.domain.routing_rules import QueueConfig


def leg_failed(
    call: Call,
    agent: Agent | None,
    event: AgentLegFailed,
    at: datetime,
    now: datetime,
    queue: QueueConfig,
) -> tuple[Call, tuple[Agent, ...]] | None:
    """The call back in line and the agent freed, or None when the event is not about the
    call as it stands (not connected, connected to another agent, or older than the
    call's last event: a late report). `at` is when it happened."""
    stands = call.state is CallState.CONNECTED and call.agent_id == event.agent_id
    if not stands or at < call.last_event_at:
        return None
    requeued = msgspec.structs.replace(
        call,
        state=transition(call, CallState.QUEUED),
        agent_id=None,
        answered_at=None,
        updated_at=now,
        last_event_at=at,
    )
    if agent is None or agent.call_id != call.id or agent.activity is not Activity.ON_CALL:
        return requeued, ()
    idle = agent_rules.set_activity(agent, Activity.IDLE, now)
    return requeued, (missed_offer(idle, now, queue),)
