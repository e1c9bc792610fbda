"""ARI events (the JSON frames of Asterisk's `/ari/events` websocket) decoded into typed
values, and the canonical call events they mean. Pure: no I/O.

Only what call control needs is decoded: StasisStart, StasisEnd, ChannelDtmfReceived,
ChannelDestroyed; any other well-formed event (ChannelStateChange, ChannelVarset, bridge
events...) decodes to `Ignored`. A frame that is not JSON, or an event of a kind we use whose
fields do not fit, raises InvalidInput naming the field.

Ids. The canonical call is the caller's channel: `call_id` is its ARI channel id. An agent's
leg, originated by us, has the id `AGENT_LEG_PREFIX<call id>:<agent id>:<nonce>`, so any
instance can tell whose leg an event is about, even one that did not place it. Every event
id is derived from the channel and what happened to it (`asterisk:<channel>:created`,
`...:ended`, `...:dtmf:<timestamp>`), so an event heard twice (two instances, or again in
the reconciliation after a reconnect) is a duplicate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    AgentLegFailed,
    CallAnswered,
    CallCreated,
    CallDtmf,
    CallEnded,
    EndReason,
)
from callcenter.errors import InvalidInput, decoded

DIALECT = "asterisk"
OUR_PREFIX = "cc-"  # every channel call control makes has an id starting so
AGENT_LEG_PREFIX = "cc-agent:"
AGENT_ARG = "agent"  # the first appArg of an agent leg: ["agent", call id, agent id]
CALLBACK_LEG_PREFIX = "cc-callback:"  # a callback's leg to the customer: <call id>:<dial id>
CALLBACK_ARG = "callback"  # its first appArg: [callback, call id, dial id, agent id, number]
_CALLBACK_NONCE = "cb-"  # the nonce of an agent leg for a callback: cb-<dial id>
QUEUE_VARIABLE = "CC_QUEUE"  # a channel variable naming the queue (ari.conf channelvars)
MAX_FRAME_BYTES = 256 * 1024
_ATTRIBUTE_VALUE_MAX = 256
_ATTRIBUTES_MAX = 32

# Q.850 causes (ChannelDestroyed.cause) as our end reasons; any other is `failed`
_END_REASONS: dict[int, EndReason] = {
    0: EndReason.NORMAL,  # unknown: the caller's channel simply went away
    16: EndReason.NORMAL,  # normal clearing
    31: EndReason.NORMAL,  # normal, unspecified
    17: EndReason.BUSY,  # user busy
    18: EndReason.NO_ANSWER,  # no user responding
    19: EndReason.NO_ANSWER,  # no answer from user (user alerted)
    21: EndReason.CANCELED,  # call rejected
}

Text = Annotated[str, msgspec.Meta(max_length=256)]


class CallerId(msgspec.Struct, frozen=True):
    name: Text = ""
    number: Text = ""


class Dialplan(msgspec.Struct, frozen=True):
    context: Text = ""
    exten: Text = ""
    app_name: Text = ""
    app_data: Text = ""


class Channel(msgspec.Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=160)]
    name: Text = ""
    state: Text = ""
    caller: CallerId = CallerId()
    dialplan: Dialplan = Dialplan()
    channelvars: dict[Text, Text | None] = msgspec.field(default_factory=dict)

    @property
    def is_agent_leg(self) -> bool:
        return self.id.startswith(AGENT_LEG_PREFIX)

    @property
    def is_ours(self) -> bool:
        """A channel call control made (an agent's leg, a snoop or media channel), not a
        caller's."""
        return self.id.startswith(OUR_PREFIX)


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    timestamp: datetime | None = None
    application: Text = ""


class StasisStart(_Event, frozen=True, tag="StasisStart"):
    channel: Channel
    args: list[Text] = msgspec.field(default_factory=list)


class StasisEnd(_Event, frozen=True, tag="StasisEnd"):
    channel: Channel


class ChannelDtmfReceived(_Event, frozen=True, tag="ChannelDtmfReceived"):
    channel: Channel
    digit: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-D*#]$")]


class ChannelDestroyed(_Event, frozen=True, tag="ChannelDestroyed"):
    channel: Channel
    cause: int = 0
    cause_txt: Text = ""


class Ignored(msgspec.Struct, frozen=True):
    """A well-formed event of a kind call control does not use."""

    type: str


AriEvent = StasisStart | StasisEnd | ChannelDtmfReceived | ChannelDestroyed | Ignored
_USED = StasisStart | StasisEnd | ChannelDtmfReceived | ChannelDestroyed
_USED_TYPES = frozenset({"StasisStart", "StasisEnd", "ChannelDtmfReceived", "ChannelDestroyed"})


class _Envelope(msgspec.Struct, frozen=True):
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_USED_DECODER = msgspec.json.Decoder(_USED)


def decode_event(frame: bytes | str) -> AriEvent:
    """One websocket frame as an event. Raises InvalidInput (a pointer to the bad field)
    for a frame that is too large, not JSON, without a `type`, or a used kind that does not
    fit."""
    raw = frame.encode() if isinstance(frame, str) else frame
    if len(raw) > MAX_FRAME_BYTES:
        raise InvalidInput(f"an ARI frame larger than {MAX_FRAME_BYTES} bytes")
    envelope = decoded(lambda: _ENVELOPE.decode(raw), malformed="not an ARI event")
    if envelope.type not in _USED_TYPES:
        return Ignored(type=envelope.type)
    return decoded(lambda: _USED_DECODER.decode(raw), context=f"{envelope.type}: ")


def agent_leg_id(call_id: str, agent_id: str, nonce: str) -> str:
    """The channel id of a leg to `agent_id` for `call_id` (see the module's docstring)."""
    return f"{AGENT_LEG_PREFIX}{call_id}:{agent_id}:{nonce}"


def agent_leg_of(channel_id: str) -> tuple[str, str] | None:
    """(call id, agent id) of an agent leg's channel id; None for any other channel."""
    if not channel_id.startswith(AGENT_LEG_PREFIX):
        return None
    parts = channel_id.removeprefix(AGENT_LEG_PREFIX).rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1]


def callback_leg_id(call_id: str, dial_id: str) -> str:
    """The channel id of attempt `dial_id` of callback `call_id` (the customer's leg)."""
    return f"{CALLBACK_LEG_PREFIX}{call_id}:{dial_id}"


def callback_leg_of(channel_id: str) -> tuple[str, str] | None:
    """(call id, dial id) of a callback's customer leg; None for any other channel."""
    if not channel_id.startswith(CALLBACK_LEG_PREFIX):
        return None
    call_id, _, dial_id = channel_id.removeprefix(CALLBACK_LEG_PREFIX).rpartition(":")
    return (call_id, dial_id) if call_id and dial_id else None


def callback_agent_leg_id(call_id: str, agent_id: str, dial_id: str) -> str:
    """The channel id of the agent's leg for attempt `dial_id` of callback `call_id`."""
    return agent_leg_id(call_id, agent_id, _CALLBACK_NONCE + dial_id)


def dial_of_agent_leg(channel_id: str) -> str | None:
    """The callback attempt an agent's leg was placed for; None for a caller's agent leg."""
    nonce = channel_id.rpartition(":")[2]
    return nonce.removeprefix(_CALLBACK_NONCE) if nonce.startswith(_CALLBACK_NONCE) else None


def call_of(event: AriEvent) -> str | None:
    """The call an event is about (its caller's channel id, or the call a leg of ours is
    for), None for an ignored kind."""
    if isinstance(event, Ignored):
        return None
    mapped = agent_leg_of(event.channel.id) or callback_leg_of(event.channel.id)
    return mapped[0] if mapped is not None else event.channel.id


def end_reason(cause: int) -> EndReason:
    return _END_REASONS.get(cause, EndReason.FAILED)


def call_created(channel: Channel, at: datetime | None) -> CallCreated:
    """A caller's channel entered the application: a new call. Its channel variables
    become attributes; CC_QUEUE (when set) is the queue hint. Raises InvalidInput for a
    caller, number or queue that a canonical event cannot carry."""
    variables = {
        key: value[:_ATTRIBUTE_VALUE_MAX]
        for key, value in list(channel.channelvars.items())[:_ATTRIBUTES_MAX]
        if value and len(key) <= 64
    }
    queue = variables.pop(QUEUE_VARIABLE, None)
    if channel.dialplan.context:
        variables["asterisk_context"] = channel.dialplan.context
    fields = {
        "type": "call.created",
        "event_id": f"{DIALECT}:{channel.id}:created",
        "call_id": channel.id,
        "occurred_at": at,
        "from": channel.caller.number or None,
        "to": channel.dialplan.exten or None,
        "direction": Direction.INBOUND,
        "queue": queue,
        "attributes": variables,
    }
    return decoded(lambda: msgspec.convert(fields, CallCreated), context="StasisStart: ")


def call_ended(channel_id: str, cause: int, at: datetime | None) -> CallEnded:
    return CallEnded(
        event_id=f"{DIALECT}:{channel_id}:ended",
        call_id=channel_id,
        occurred_at=at,
        end_reason=end_reason(cause),
    )


def call_dtmf(event: ChannelDtmfReceived) -> CallDtmf:
    stamp = event.timestamp.isoformat() if event.timestamp else "-"
    return CallDtmf(
        event_id=f"{DIALECT}:{event.channel.id}:dtmf:{stamp}:{event.digit}",
        call_id=event.channel.id,
        occurred_at=event.timestamp,
        digits=event.digit,
    )


def agent_answered(call_id: str, agent_id: str, leg_id: str, at: datetime | None) -> CallAnswered:
    return CallAnswered(
        event_id=f"{DIALECT}:{leg_id}:answered",
        call_id=call_id,
        agent_id=agent_id,
        occurred_at=at,
    )


def agent_failed(
    call_id: str, agent_id: str, leg_id: str, cause: int, at: datetime | None
) -> AgentLegFailed:
    reason = end_reason(cause)
    return AgentLegFailed(
        event_id=f"{DIALECT}:{leg_id}:failed",
        call_id=call_id,
        agent_id=agent_id,
        occurred_at=at,
        end_reason=EndReason.FAILED if reason is EndReason.NORMAL else reason,
    )
