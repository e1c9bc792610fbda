"""jambonz call webhooks mapped onto canonical call events.

The call hook and the call-status hook share one JSON body
(`call_sid`, `from`, `to`, `direction`, `call_status`, `sip_status`...); each status
becomes at most one canonical event whose `event_id` is derived from the call and the
status, so a redelivered webhook is a duplicate. The legs jambonz places for a call (a
`dial`'s leg to the agent) report to the same status hook with `parent_call_sid` set:
they are not calls of their own, and map to nothing. Nor does an inbound caller going
`in-progress`: jambonz answered it (for a greeting or the hold), no agent did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypedDict

import msgspec

from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    CallAnswered,
    CallCreated,
    CallEnded,
    CallEvent,
    CallRinging,
    EndReason,
)
from callcenter.errors import InvalidInput, PayloadTooLarge, decoded

MAX_WEBHOOK_BYTES = 256 * 1024  # the call hook carries the whole SIP INVITE
SIP_REQUEST_TERMINATED = 487  # the caller hung up before the answer


class CallStatus(StrEnum):
    TRYING = "trying"
    RINGING = "ringing"
    EARLY_MEDIA = "early-media"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    QUEUED = "queued"


class JambonzCallHook(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a jambonz call or call-status webhook that the mapping uses."""

    call_sid: Annotated[
        str, msgspec.Meta(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:-]+(?!\n)$")
    ]
    call_status: CallStatus
    direction: Direction | None = None
    from_: Annotated[str, msgspec.Meta(max_length=256)] = msgspec.field(default="", name="from")
    to: Annotated[str, msgspec.Meta(max_length=256)] = ""
    caller_name: Annotated[str, msgspec.Meta(max_length=256)] = ""
    sip_status: Annotated[int, msgspec.Meta(ge=100, le=699)] | None = None
    sip_reason: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    parent_call_sid: Annotated[str, msgspec.Meta(max_length=96)] | None = None


_START_EVENTS: dict[CallStatus, type[CallEvent]] = {
    CallStatus.TRYING: CallCreated,
    CallStatus.RINGING: CallRinging,
    CallStatus.EARLY_MEDIA: CallRinging,
    CallStatus.IN_PROGRESS: CallAnswered,
}
END_REASONS: dict[CallStatus, EndReason] = {
    CallStatus.COMPLETED: EndReason.NORMAL,
    CallStatus.FAILED: EndReason.FAILED,
    CallStatus.BUSY: EndReason.BUSY,
    CallStatus.NO_ANSWER: EndReason.NO_ANSWER,
}


_HOOK = msgspec.json.Decoder(JambonzCallHook)


def decode_call_hook(body: bytes) -> JambonzCallHook:
    """The webhook body as a JambonzCallHook; unknown fields are ignored.

    Raises PayloadTooLarge, or InvalidInput with a JSON pointer to the bad field."""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(MAX_WEBHOOK_BYTES)
    if not body.strip():
        raise InvalidInput("request body is empty; a JSON object is required")
    return decoded(lambda: _HOOK.decode(body))


def event_id_for(hook: JambonzCallHook) -> str:
    """The deterministic id of the canonical event of this call and status."""
    return f"jambonz:{hook.call_sid}:{hook.call_status}"


class _CommonFields(TypedDict):
    event_id: str
    call_id: str
    occurred_at: datetime
    from_: str | None
    to: str | None
    direction: Direction | None


def to_canonical(hook: JambonzCallHook, *, received_at: datetime) -> CallEvent | None:
    """The canonical event for a webhook, or None for a status with no canonical meaning
    (`queued`: jambonz's own queueing; see `_not_a_call_event`). jambonz bodies carry no
    time: `received_at` (timezone-aware) is used as `occurred_at`. An unanswered end with
    SIP 487 is canceled."""
    if _not_a_call_event(hook):
        return None
    common = _CommonFields(
        event_id=event_id_for(hook),
        call_id=hook.call_sid,
        occurred_at=received_at,
        from_=hook.from_ or None,
        to=hook.to or None,
        direction=hook.direction,
    )
    start_event = _START_EVENTS.get(hook.call_status)
    if start_event is not None:
        caller: dict[str, str | int | float | bool] = {}
        if hook.caller_name:
            caller["caller_name"] = hook.caller_name
        return start_event(**common, attributes=caller)
    if hook.call_status not in END_REASONS:
        return None
    sip: dict[str, str | int | float | bool] = {}
    if hook.sip_status is not None:
        sip["sip_status"] = hook.sip_status
    if hook.sip_reason:
        sip["sip_reason"] = hook.sip_reason
    return CallEnded(**common, attributes=sip, end_reason=_end_reason(hook))


def _not_a_call_event(hook: JambonzCallHook) -> bool:
    """A leg placed for another call (`parent_call_sid` set: the dial to the agent, whose
    outcome reaches us through the dial's actionHook), or an inbound call going
    `in-progress`: jambonz answers the caller for its first verb that needs media (a
    greeting, the hold), which is no agent taking the call; that is the accept."""
    if hook.parent_call_sid:
        return True
    return hook.call_status is CallStatus.IN_PROGRESS and hook.direction is not Direction.OUTBOUND


def _end_reason(hook: JambonzCallHook) -> EndReason:
    reason = END_REASONS[hook.call_status]
    if reason is not EndReason.NORMAL and hook.sip_status == SIP_REQUEST_TERMINATED:
        return EndReason.CANCELED
    return reason


def map_call_webhook(body: bytes, *, received_at: datetime) -> CallEvent | None:
    """decode_call_hook then to_canonical; raises as decode_call_hook does."""
    return to_canonical(decode_call_hook(body), received_at=received_at)
