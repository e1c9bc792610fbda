"""Twilio voice webhooks and status callbacks, mapped onto canonical call events.

The canonical call is the caller's Twilio call (`call_id` = its CallSid). A child leg
that <Dial> opens to an agent (it carries ParentCallSid) reports on its parent: its
ringing is `call.ringing` and its answer is `call.answered`; its end is not the caller's
end and maps to nothing (the parent's own callback, or the reservation timer, decides).

`event_id` is derived from (CallSid, CallStatus, SequenceNumber), so a callback Twilio
retries maps to the same id and the dedupe window drops it.

Also here: the JSON messages of a Media Streams websocket, decoded into typed values
(kept beside the webhooks: both are what Twilio says about one call)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Literal, TypedDict

import msgspec

from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    CallAnswered,
    CallCreated,
    CallDtmf,
    CallEnded,
    CallRinging,
    EndReason,
)
from callcenter.errors import InvalidInput, split_validation_message

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
        from_=_party(form, "From"),
        to=_party(form, "To"),
        direction=_direction(form),
    )
    if parent_sid is not None:
        return _child_leg_event(status, call_sid, common)
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
        from_=_party(form, "From"),
        to=_party(form, "To"),
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


def _party(form: Form, name: str) -> str | None:
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

_MAX_MESSAGE_BYTES = 64 * 1024
Counter = Annotated[int, msgspec.Meta(ge=0)]
AccountSid = Annotated[str, msgspec.Meta(pattern=r"^AC[0-9a-fA-F]{32}$")]
CallSid = Annotated[str, msgspec.Meta(pattern=r"^CA[0-9a-fA-F]{32}$")]
StreamSid = Annotated[str, msgspec.Meta(pattern=r"^MZ[0-9a-fA-F]{32}$")]


class MediaFormat(msgspec.Struct, frozen=True, rename="camel"):
    """Always audio/x-mulaw, 8000 Hz, 1 channel for a <Stream> today."""

    encoding: str
    sample_rate: Annotated[int, msgspec.Meta(gt=0)]
    channels: Annotated[int, msgspec.Meta(ge=1, le=2)]


class StartMetadata(msgspec.Struct, frozen=True, rename="camel"):
    stream_sid: StreamSid
    account_sid: AccountSid
    call_sid: CallSid
    tracks: list[Literal["inbound", "outbound"]]
    media_format: MediaFormat
    custom_parameters: dict[str, str] = msgspec.field(default_factory=dict)


class MediaChunk(msgspec.Struct, frozen=True):
    track: Literal["inbound", "outbound"]
    chunk: Counter  # from 1, per track
    timestamp: Counter  # milliseconds since the stream started
    payload: bytes  # base64 on the wire; the raw codec bytes here


class DtmfDigit(msgspec.Struct, frozen=True):
    track: str  # "inbound_track"
    digit: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-D*#]$")]


class MarkName(msgspec.Struct, frozen=True):
    name: str


class StopMetadata(msgspec.Struct, frozen=True, rename="camel"):
    account_sid: AccountSid
    call_sid: CallSid


class StreamMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", rename="camel"):
    """One message from Twilio; numbers Twilio sends as strings are decoded as ints."""


class StreamConnected(StreamMessage, frozen=True, kw_only=True, tag="connected"):
    protocol: str
    version: str


class StreamStart(StreamMessage, frozen=True, kw_only=True, tag="start"):
    sequence_number: Counter
    stream_sid: StreamSid
    start: StartMetadata


class StreamMedia(StreamMessage, frozen=True, kw_only=True, tag="media"):
    sequence_number: Counter
    stream_sid: StreamSid
    media: MediaChunk


class StreamDtmf(StreamMessage, frozen=True, kw_only=True, tag="dtmf"):
    sequence_number: Counter
    stream_sid: StreamSid
    dtmf: DtmfDigit


class StreamMark(StreamMessage, frozen=True, kw_only=True, tag="mark"):
    sequence_number: Counter
    stream_sid: StreamSid
    mark: MarkName


class StreamStop(StreamMessage, frozen=True, kw_only=True, tag="stop"):
    sequence_number: Counter
    stream_sid: StreamSid
    stop: StopMetadata


AnyStreamMessage = (
    StreamConnected | StreamStart | StreamMedia | StreamDtmf | StreamMark | StreamStop
)
# Lax mode: Twilio sends sequenceNumber, chunk and timestamp as decimal strings.
_STREAM_DECODER: msgspec.json.Decoder[AnyStreamMessage] = msgspec.json.Decoder(
    AnyStreamMessage, strict=False
)


def decode_stream_message(data: str | bytes) -> AnyStreamMessage:
    """Decode one websocket message. Raises InvalidInput (pointer to the bad field) for
    anything that is not a well-formed Media Streams message, and nothing else."""
    try:
        raw = data.encode() if isinstance(data, str) else data
    except UnicodeEncodeError:
        raise InvalidInput("message is not valid UTF-8 text") from None
    if len(raw) > _MAX_MESSAGE_BYTES:
        raise InvalidInput(f"message exceeds {_MAX_MESSAGE_BYTES} bytes")
    try:
        return _STREAM_DECODER.decode(raw)
    except msgspec.ValidationError as error:
        reason, pointer = split_validation_message(str(error))
        raise InvalidInput(reason, pointer) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as error:
        raise InvalidInput(str(error)) from None


def stream_dtmf_event(message: StreamDtmf, call_sid: str) -> CallDtmf:
    """`call.dtmf` for a digit on a bidirectional stream of `call_sid` (from its start)."""
    return CallDtmf(
        event_id=f"twilio:{message.stream_sid}:dtmf:{message.sequence_number}",
        call_id=call_sid,
        digits=message.dtmf.digit,
    )
