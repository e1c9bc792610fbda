"""Canonical call events: the generic dialect that every gateway maps onto.

These types are both the validator of `POST /v1/events` and the source of its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.domain.calls import Direction

EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
CallId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Party = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
QueueName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+(?!\n)$")
]
AgentId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=rf"^{AGENT_ID_PATTERN}(?!\n)$")
]
E164 = r"\+[1-9][0-9]{6,14}"  # + and 7 to 15 digits, the first not 0
E164_DESCRIPTION = "E.164: + and 7 to 15 digits, such as +15551234567"
E164Number = Annotated[str, msgspec.Meta(pattern=rf"^{E164}(?!\n)$", description=E164_DESCRIPTION)]
# The same, documented but checked by callbacks.check_number, whose message is plainer
# than a regular expression's (for a single request; a batch of events is decoded whole).
E164Checked = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        description=E164_DESCRIPTION,
        extra_json_schema={"pattern": f"^{E164}$"},
    ),
]
AttributeValue = str | int | float | bool
EventAttributes = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=64)], AttributeValue], msgspec.Meta(max_length=64)
]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
OccurredAt = Annotated[
    Timestamp,
    msgspec.Meta(
        description=(
            "When it happened (with a timezone). Taken within the server's clock tolerance "
            "(300 s by default); older than the dedupe window (24 h) is refused as a replay."
        )
    ),
]


class EndReason(StrEnum):
    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELED = "canceled"
    FAILED = "failed"


class CallEvent(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    """Fields shared by every canonical event."""

    event_id: EventId
    call_id: CallId
    occurred_at: OccurredAt | None = None
    from_: Party | None = msgspec.field(default=None, name="from")
    to: Party | None = None
    direction: Direction | None = None
    queue: QueueName | None = None
    agent_id: AgentId | None = None
    attributes: EventAttributes = msgspec.field(default_factory=dict)


class CallCreated(CallEvent, frozen=True, tag="call.created"):
    """A new call reached the gateway and wants an agent."""


class CallRinging(CallEvent, frozen=True, tag="call.ringing"):
    """The call is ringing (at the gateway or an agent's device); informational."""


class CallAnswered(CallEvent, frozen=True, tag="call.answered"):
    """An agent is talking to the caller; `agent_id` names them unless routing chose them."""


class CallEnded(CallEvent, frozen=True, tag="call.ended"):
    """The caller's leg is gone; before an answer this is an abandoned call."""

    end_reason: EndReason = EndReason.NORMAL


class CallTransferred(CallEvent, frozen=True, tag="call.transferred"):
    """The connected call goes back to a queue (`queue`, else the one it was in)."""


class AgentLegFailed(CallEvent, frozen=True, tag="call.agent_failed"):
    """The PBX could not connect the caller to the agent who accepted (`agent_id`): the
    agent's leg was not answered, busy or failed. The caller goes back to their place in
    line and the agent's offer counts as missed (as an offer that timed out)."""

    agent_id: AgentId  # required here: whose leg failed
    end_reason: EndReason = EndReason.NO_ANSWER


class CallDtmf(CallEvent, frozen=True, tag="call.dtmf"):
    """Digits the caller pressed; appended to the call's `dtmf` attribute."""

    digits: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[0-9A-D*#]+(?!\n)$")
    ]


class CallbackRequested(CallEvent, frozen=True, tag="call.callback_requested"):
    """The waiting caller takes a callback and hangs up: the call keeps its place in line
    and the customer is called at `number` (else the caller's own number) when an agent
    accepts it."""

    number: E164Number | None = None


class SurveyCompleted(CallEvent, frozen=True, tag="survey.completed"):
    """Post-call survey answers for a call (CSAT 1-5, NPS 0-10, CES 1-7)."""

    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    nps: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None
    ces: Annotated[int, msgspec.Meta(ge=1, le=7)] | None = None


AnyCallEvent = (
    CallCreated
    | CallRinging
    | CallAnswered
    | CallEnded
    | CallTransferred
    | AgentLegFailed
    | CallDtmf
    | CallbackRequested
    | SurveyCompleted
)
EVENT_TYPES: tuple[type[CallEvent], ...] = (
    CallCreated,
    CallRinging,
    CallAnswered,
    CallEnded,
    CallTransferred,
    AgentLegFailed,
    CallDtmf,
    CallbackRequested,
    SurveyCompleted,
)


def event_type(event: CallEvent) -> str:
    """The wire `type` of an event, e.g. "call.created"."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag
