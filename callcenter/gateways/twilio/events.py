"""Twilio voice webhooks and status callbacks, mapped onto canonical call events.

The canonical call is the caller's Twilio call (`call_id` = its CallSid). A child leg
that <Dial> opens to an agent (it carries ParentCallSid) reports on its parent: its
ringing is `call.ringing` and its answer is `call.answered`; its end is not the caller's
end and maps to nothing (the parent's own callback, or the reservation timer, decides).

A callback's leg (the call we place to the customer, see gateways.twilio.callback_dial)
is a call of its own at Twilio; its status callbacks name our call in their URL and report
on the callback's dial attempt (`callback_leg_event`).

`event_id` is derived from (CallSid, CallStatus, SequenceNumber), so a callback Twilio
retries maps to the same id and the dedupe window drops it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypedDict

from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    CallAnswered,
    CallCreated,
    CallDtmf,
    CallEnded,
    CallRinging,
    EndReason,
)
from callcenter.errors import InvalidInput

Form = Mapping[str, str]
StatusEvent = CallCreated | CallRinging | CallAnswered | CallEnded

_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
_DIGITS = re.compile(r"[0-9A-D*#]{1,64}")
_STEP = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_PARTY_MAX = 256
_ATTRIBUTE_MAX = 256

# CallStatus values that end a call, with the canonical reason.
END_REASONS: Mapping[str, EndReason] = {
    "completed": EndReason.NORMAL,
    "busy": EndReason.BUSY,
    "no-answer": EndReason.NO_ANSWER,
    "canceled": EndReason.CANCELED,
    "failed": EndReason.FAILED,
}
STARTING_STATUSES = frozenset({"queued", "initiated", "ringing"})
DIRECTIONS: Mapping[str, Direction] = {
    "inbound": Direction.INBOUND,
    "outbound-api": Direction.OUTBOUND,
    "outbound-dial": Direction.OUTBOUND,
}
# Caller details Twilio adds to a new call that routing rules may want (CEL: call.attributes).
CREATED_ATTRIBUTES: Mapping[str, str] = {
    "CallerName": "caller_name",
    "FromCountry": "from_country",
    "FromState": "from_state",
    "FromCity": "from_city",
    "ForwardedFrom": "forwarded_from",
}


class _Common(TypedDict):
    """The fields every status event carries."""

    event_id: str
    call_id: str
    occurred_at: datetime | None
    from_: str | None
    to: str | None
    direction: Direction | None


def status_event(form: Form) -> StatusEvent | None:
    """The canonical event for a voice webhook (the request for TwiML) or a status callback.

    `queued`/`initiated` start a call (`call.created`); `ringing` is `call.created` on the
    voice webhook (no CallbackSource: Twilio's first word on an inbound call) and
    `call.ringing` on a status callback; `in-progress` is `call.answered`; `completed`,
    `busy`, `no-answer`, `canceled`, `failed` are `call.ended`. None for the end of an
    agent's child leg. Raises InvalidInput pointing at the first missing or bad field."""
    call_sid = _call_sid(form, "CallSid")
    status = _required(form, "CallStatus")
    parent_sid = _call_sid(form, "ParentCallSid") if form.get("ParentCallSid") else None
    common = _Common(
        event_id=f"twilio:{call_sid}:{status}:{_sequence(form)}",
        call_id=parent_sid or call_sid,
        occurred_at=_timestamp(form),
        from_=party(form, "From"),
        to=party(form, "To"),
        direction=_direction(form),
    )
    if parent_sid is not None:
        return _child_leg_event(status, call_sid, common)
    return _caller_leg_event(form, status, common)


def _caller_leg_event(form: Form, status: str, common: _Common) -> StatusEvent:
    if status in ("queued", "initiated") or (status == "ringing" and "CallbackSource" not in form):
        return CallCreated(**common, attributes=_created_attributes(form))
    if status == "ringing":
        return CallRinging(**common)
    if status == "in-progress":
        return CallAnswered(**common)
    if status in END_REASONS:
        attributes: dict[str, str | int | float | bool] = {}
        if form.get("CallDuration"):
            attributes["call_duration_seconds"] = _natural(form, "CallDuration")
        return CallEnded(**common, end_reason=END_REASONS[status], attributes=attributes)
    raise InvalidInput(f"unknown CallStatus {status!r}", "/CallStatus")


def callback_leg_event(form: Form, call_id: str) -> CallRinging | CallAnswered | CallEnded:
    """The canonical event of our call `call_id` for a status callback of its callback
    leg: `queued`/`initiated`/`ringing` are `call.ringing` (the attempt is placed),
    `in-progress` is `call.answered` (the customer picked up); `completed`, `busy`,
    `no-answer`, `canceled`, `failed` are `call.ended` with the reason (the domain tells
    an end before the answer from one after it). `occurred_at` is Twilio's Timestamp.
    Raises InvalidInput pointing at the first missing or bad field."""
    call_sid = _call_sid(form, "CallSid")
    status = _required(form, "CallStatus")
    common = _Common(
        event_id=f"twilio:{call_sid}:{status}:{_sequence(form)}",
        call_id=call_id,
        occurred_at=_timestamp(form),
        from_=None,  # From and To of this leg are our caller id and the customer
        to=None,
        direction=None,
    )
    attributes: dict[str, str | int | float | bool] = {"callback_leg_sid": call_sid}
    if status in STARTING_STATUSES:
        return CallRinging(**common, attributes=attributes)
    if status == "in-progress":
        return CallAnswered(**common, attributes=attributes)
    if status in END_REASONS:
        if form.get("CallDuration"):
            attributes["call_duration_seconds"] = _natural(form, "CallDuration")
        return CallEnded(**common, end_reason=END_REASONS[status], attributes=attributes)
    raise InvalidInput(f"unknown CallStatus {status!r}", "/CallStatus")


def gather_event(form: Form, *, step: str = "gather") -> CallDtmf | None:
    """`call.dtmf` for the Digits a <Gather> action received; None when the caller pressed
    nothing (the Gather timed out).

    `step` names the prompt (put it in the action URL): with the CallSid and the digits it
    makes the event id, so a retried action dedupes while the same digits pressed at
    another prompt do not. Raises InvalidInput for a bad CallSid, Digits or step."""
    call_sid = _call_sid(form, "CallSid")
    digits = form.get("Digits", "")
    if not digits:
        return None
    if not _DIGITS.fullmatch(digits):
        raise InvalidInput("Digits must be 1-64 of 0-9, A-D, * and #", "/Digits")
    if not _STEP.fullmatch(step):
        raise InvalidInput("the gather step must be 1-32 of A-Z a-z 0-9 _ . -", "/step")
    return CallDtmf(
        event_id=f"twilio:{call_sid}:dtmf:{step}:{digits}",
        call_id=call_sid,
        from_=party(form, "From"),
        to=party(form, "To"),
        direction=_direction(form),
        digits=digits,
    )


def _child_leg_event(
    status: str, leg_sid: str, common: _Common
) -> CallRinging | CallAnswered | None:
    # From and To of the agent's leg describe the agent's device, not the caller.
    common = _Common(
        event_id=common["event_id"],
        call_id=common["call_id"],
        occurred_at=common["occurred_at"],
        from_=None,
        to=None,
        direction=None,
    )
    attributes: dict[str, str | int | float | bool] = {"agent_leg_sid": leg_sid}
    if status in STARTING_STATUSES:
        return CallRinging(**common, attributes=attributes)
    if status == "in-progress":
        return CallAnswered(**common, attributes=attributes)
    if status in END_REASONS:
        return None
    raise InvalidInput(f"unknown CallStatus {status!r}", "/CallStatus")


def _required(form: Form, name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidInput(f"{name} is required", f"/{name}")
    return value


def _call_sid(form: Form, name: str) -> str:
    value = _required(form, name)
    if not _CALL_SID.fullmatch(value):
        raise InvalidInput(f"{name} must be CA followed by 32 hex digits", f"/{name}")
    return value


def _natural(form: Form, name: str) -> int:
    value = form[name]
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise InvalidInput(f"{name} must be a non-negative integer", f"/{name}")
    return int(value)


def _sequence(form: Form) -> str:
    """SequenceNumber as a canonical decimal; "voice" for the voice webhook, which has none."""
    if not form.get("SequenceNumber"):
        return "voice"
    return str(_natural(form, "SequenceNumber"))


def _timestamp(form: Form) -> datetime | None:
    """Timestamp (RFC 2822, e.g. "Tue, 05 Mar 2024 17:33:10 +0000"); None when absent."""
    value = form.get("Timestamp")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        # RFC 2822 "-0000" (UTC, local zone unknown) parses as naive
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise InvalidInput("Timestamp must be an RFC 2822 date", "/Timestamp") from None


def party(form: Form, name: str) -> str | None:
    """A party field (`From`, `To`) of a Twilio form: absent or empty is None; longer
    than 256 characters is InvalidInput naming it."""
    value = form.get(name)
    if not value:
        return None
    if len(value) > _PARTY_MAX:
        raise InvalidInput(f"{name} is longer than {_PARTY_MAX} characters", f"/{name}")
    return value


def _direction(form: Form) -> Direction | None:
    value = form.get("Direction")
    if not value:
        return None
    direction = DIRECTIONS.get(value)
    if direction is None:
        raise InvalidInput(f"unknown Direction {value!r}", "/Direction")
    return direction


def _created_attributes(form: Form) -> dict[str, str | int | float | bool]:
    return {
        key: form[name][:_ATTRIBUTE_MAX]
        for name, key in CREATED_ATTRIBUTES.items()
        if form.get(name)
    }


# --- Media Streams: the JSON messages Twilio sends on the <Stream> websocket -------------
