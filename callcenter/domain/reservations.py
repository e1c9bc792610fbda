"""Offers and their answers: a waiting call is reserved for one agent until it accepts,
rejects or the offer expires. Pure transitions of a (call, agent) pair."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.calls import Call, CallState, Reservation, transition
from callcenter.domain.messages import TEXT_CHANNELS
from callcenter.domain.routing_rules import QueueConfig
from callcenter.errors import Conflict


def offer(
    call: Call, agent: Agent, reservation_id: str, now: datetime, queue: QueueConfig
) -> tuple[Call, Agent]:
    """Reserve `agent` for `call` (queued → offered; a voice agent idle → reserved, a text
    task joins the agent's held tasks)."""
    reservation = Reservation(
        id=reservation_id,
        agent_id=agent.id,
        offered_at=now,
        expires_at=now + timedelta(seconds=queue.reservation_seconds),
    )
    offered = msgspec.structs.replace(
        call,
        state=transition(call, CallState.OFFERED),
        agent_id=agent.id,
        reservation=reservation,
        updated_at=now,
    )
    if call.channel in TEXT_CHANNELS:
        reserved = msgspec.structs.replace(agent, tasks={**agent.tasks, call.id: call.channel})
    else:
        reserved = agent_rules.set_activity(agent, Activity.RESERVED, now, call_id=call.id)
    return offered, msgspec.structs.replace(reserved, last_offered_at=now)


def holds(agent: Agent, call: Call) -> bool:
    """The agent holds the task: its voice call, or one of its text tasks."""
    if call.channel in TEXT_CHANNELS:
        return call.id in agent.tasks
    return agent.call_id == call.id


def release_task(agent: Agent, call_id: str) -> Agent:
    """The agent no longer holds text task `call_id`."""
    if call_id not in agent.tasks:
        return agent
    return msgspec.structs.replace(
        agent, tasks={task: channel for task, channel in agent.tasks.items() if task != call_id}
    )


def _check_pending(call: Call, agent: Agent, reservation_id: str) -> Reservation:
    reservation = call.reservation
    if (
        call.state is not CallState.OFFERED
        or reservation is None
        or (reservation.id != reservation_id)
    ):
        raise Conflict(f"reservation {reservation_id!r} is no longer pending")
    if agent.id != reservation.agent_id or not holds(agent, call):
        raise Conflict(f"reservation {reservation_id!r} belongs to another agent")
    return reservation


def accept(call: Call, agent: Agent, reservation_id: str, now: datetime) -> tuple[Call, Agent]:
    """The agent takes the call: connected / on_call. Raises Conflict if the offer is no
    longer pending or has expired (its timer may not have fired yet)."""
    reservation = _check_pending(call, agent, reservation_id)
    if now > reservation.expires_at:
        raise Conflict(f"reservation {reservation_id!r} expired at {reservation.expires_at}")
    connected = msgspec.structs.replace(
        call,
        state=transition(call, CallState.CONNECTED),
        reservation=None,
        answered_at=now,
        updated_at=now,
    )
    if call.channel in TEXT_CHANNELS:
        working = agent
    else:
        working = agent_rules.set_activity(agent, Activity.ON_CALL, now, call_id=call.id)
    return connected, msgspec.structs.replace(working, missed_offers=0, blocked_until=None)


def decline(
    call: Call,
    agent: Agent,
    reservation_id: str,
    now: datetime,
    queue: QueueConfig,
    *,
    timed_out: bool,
) -> tuple[Call, Agent]:
    """Rejected or expired: the call goes back to waiting in its old place; the agent is
    idle again. A missed (timed-out) offer makes the agent back off, and after the queue's
    `max_missed_offers` it is set away. A rejecting agent is not offered this call again."""
    _check_pending(call, agent, reservation_id)
    declined_by = call.declined_by if timed_out else (*call.declined_by, agent.id)
    requeued = msgspec.structs.replace(
        call,
        state=transition(call, CallState.QUEUED),
        reservation=None,
        agent_id=None,
        declined_by=declined_by,
        updated_at=now,
    )
    if call.channel in TEXT_CHANNELS:
        idle = release_task(agent, call.id)
    else:
        idle = agent_rules.set_activity(agent, Activity.IDLE, now)
    if not timed_out:
        return requeued, idle
    return requeued, missed_offer(idle, now, queue)


def missed_offer(agent: Agent, now: datetime, queue: QueueConfig) -> Agent:
    """Count an offer the agent missed (it timed out, or its phone did not answer): the
    agent backs off for longer each time, and after the queue's `max_missed_offers` it is
    set away."""
    missed = agent.missed_offers + 1
    backed_off = msgspec.structs.replace(
        agent,
        missed_offers=missed,
        blocked_until=now + timedelta(seconds=queue.missed_offer_backoff_seconds * missed),
    )
    if missed >= queue.max_missed_offers:
        backed_off = agent_rules.set_presence(backed_off, Presence.AWAY, now)
        backed_off = msgspec.structs.replace(backed_off, missed_offers=missed)
    return backed_off
