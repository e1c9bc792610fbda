"""What a PBX that places callbacks itself (Asterisk, FreeSWITCH) reports on an attempt's
legs: canonical events tagged with the attempt's `dial_id` (domain.callback_events), each
event id made from the leg, so a report heard twice is one."""

from __future__ import annotations

from datetime import datetime

from callcenter.domain.callback_events import DIAL_ATTRIBUTE
from callcenter.domain.events import CallAnswered, CallEnded, EndReason


def callback_answered(
    dialect: str, call_id: str, dial_id: str, agent_id: str, leg_id: str, at: datetime | None
) -> CallAnswered:
    """The customer called back talks to the agent (bridged with the agent's `leg_id`):
    the attempt is answered."""
    return CallAnswered(
        event_id=f"{dialect}:{leg_id}:answered",
        call_id=call_id,
        agent_id=agent_id,
        occurred_at=at,
        attributes={DIAL_ATTRIBUTE: dial_id},
    )


def callback_leg_ended(
    dialect: str, call_id: str, dial_id: str, leg_id: str, reason: EndReason, at: datetime | None
) -> CallEnded:
    """A leg of attempt `dial_id` ended: the customer's (before the answer, the attempt
    failed with `reason`; after it, the call is over), or the agent's before answering."""
    return CallEnded(
        event_id=f"{dialect}:{leg_id}:ended",
        call_id=call_id,
        occurred_at=at,
        end_reason=reason,
        attributes={DIAL_ATTRIBUTE: dial_id},
    )
