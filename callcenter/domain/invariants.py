"""What must always hold between agents, calls and timers, and what to do when it does not.

Every change commits agents and calls together, so these never fail in normal operation;
the periodic sweep (services.invariant_sweep) looks anyway, after a crash mid-way through
a multi-step repair, a restored backup or a bug, and repairs what it finds. Pure: the
sweep reads, these functions judge, the sweep repairs one finding at a time under the
usual optimistic checks (and judges again on what it re-read, so a change that raced the
sweep's reads is never taken for an inconsistency)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from callcenter.domain.agents import Activity, Agent, set_activity
from callcenter.domain.calls import Call, CallState
from callcenter.domain.reservations import release_task
from callcenter.domain.tasks import holder_id
from callcenter.domain.timers import Timer

# younger than this, an apparent inconsistency may be a change in flight: left alone
GRACE = timedelta(seconds=30)


class FindingKind(StrEnum):
    AGENT_RESERVED_WITHOUT_OFFER = "agent_reserved_without_offer"
    TASK_HELD_WITHOUT_OFFER = "task_held_without_offer"
    OFFER_PAST_EXPIRY = "offer_past_expiry"
    TIMER_OVERDUE = "timer_overdue"


class Finding(msgspec.Struct, frozen=True):
    kind: FindingKind
    subject: str  # the agent's id (agent findings), the call's (offers), the timer's member
    ref: str = ""  # the call the agent holds, the offer's reservation id


def findings(
    agents: Iterable[Agent],
    calls: Mapping[str, Call | None],
    overdue: Iterable[tuple[str, Timer]],
    now: datetime,
) -> list[Finding]:
    """Every inconsistency among `agents`, the `calls` they and the offered list name (None:
    gone), and the timers due longer ago than GRACE (`overdue`: member and timer)."""
    found: list[Finding] = []
    for agent in agents:
        found += agent_findings(agent, calls, now)
    for call in calls.values():
        if call is not None and offer_expired(call, now):
            assert call.reservation is not None
            found.append(Finding(FindingKind.OFFER_PAST_EXPIRY, call.id, call.reservation.id))
    found += [Finding(FindingKind.TIMER_OVERDUE, member) for member, _ in overdue]
    return found


def agent_findings(agent: Agent, calls: Mapping[str, Call | None], now: datetime) -> list[Finding]:
    """An agent reserved for a call not offered to it; text tasks it holds that are
    neither offered to it nor worked by it."""
    found = []
    if agent.activity is Activity.RESERVED and agent.activity_since + GRACE < now:
        call = calls.get(agent.call_id or "")
        if not offered_to(call, agent.id):
            kind = FindingKind.AGENT_RESERVED_WITHOUT_OFFER
            found.append(Finding(kind, agent.id, agent.call_id or ""))
    for task_id in agent.tasks:
        task = calls.get(task_id)
        if task_id in calls and not _held_by(task, agent.id, now):
            found.append(Finding(FindingKind.TASK_HELD_WITHOUT_OFFER, agent.id, task_id))
    return found


def offered_to(call: Call | None, agent_id: str) -> bool:
    return (
        call is not None
        and call.state is CallState.OFFERED
        and call.reservation is not None
        and call.reservation.agent_id == agent_id
    )


def offer_expired(call: Call, now: datetime) -> bool:
    """Offered, and its reservation expired longer ago than GRACE (its timer should have
    taken it back)."""
    reservation = call.reservation
    return (
        call.state is CallState.OFFERED
        and reservation is not None
        and reservation.expires_at + GRACE < now
    )


def repaired(agent: Agent, finding: Finding, now: datetime) -> Agent:
    """The agent freed of what it holds without an offer behind it."""
    if finding.kind is FindingKind.AGENT_RESERVED_WITHOUT_OFFER:
        return set_activity(agent, Activity.IDLE, now)
    return release_task(agent, finding.ref)


def _held_by(task: Call | None, agent_id: str, now: datetime) -> bool:
    """The task is offered to or worked by the agent (or changed too recently to judge)."""
    if task is None:
        return False
    if task.updated_at + GRACE > now:
        return True
    return task.state is not CallState.ENDED and holder_id(task) == agent_id
