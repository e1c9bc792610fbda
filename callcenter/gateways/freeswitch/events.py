"""FreeSWITCH channel events (`text/event-json` bodies) as canonical call events: at most
one per body; the mapping rules are in the package docstring."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypedDict

import msgspec

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    AttributeValue,
    CallAnswered,
    CallCreated,
    CallEnded,
    CallEvent,
    EndReason,
)
from callcenter.errors import InvalidInput, decoded

DIALECT = "freeswitch"
DEFAULT_AGENT_VARIABLE = "cc_agent_id"
END_REASONS: Mapping[str, EndReason] = {
    "NORMAL_CLEARING": EndReason.NORMAL,
    "NORMAL_UNSPECIFIED": EndReason.NORMAL,
    "ATTENDED_TRANSFER": EndReason.NORMAL,
    "BLIND_TRANSFER": EndReason.NORMAL,
    "MANAGER_REQUEST": EndReason.NORMAL,  # uuid_kill / hupall: ended on purpose
    "USER_BUSY": EndReason.BUSY,
    "CALL_REJECTED": EndReason.BUSY,  # declined (SIP 603)
    "NO_ANSWER": EndReason.NO_ANSWER,
    "NO_USER_RESPONSE": EndReason.NO_ANSWER,
    "ORIGINATOR_CANCEL": EndReason.CANCELED,  # the caller hung up first
}

_AGENT_ID = re.compile(AGENT_ID_PATTERN)


_UniqueId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+(?!\n)$")
]
_Decimal = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,16}(?!\n)$")]
_Party = Annotated[str, msgspec.Meta(max_length=256)]
_Queue = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}(?!\n)$")]
_Cause = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9_]{1,64}(?!\n)$")]


class ChannelHeaders(msgspec.Struct, frozen=True, kw_only=True):
    """The headers of a channel event that the mapping reads; all others are ignored."""

    event_name: str = msgspec.field(name="Event-Name")
    unique_id: _UniqueId = msgspec.field(name="Unique-ID")
    sequence: _Decimal = msgspec.field(name="Event-Sequence")
    timestamp_us: _Decimal = msgspec.field(name="Event-Date-Timestamp")
    direction: Direction = msgspec.field(name="Call-Direction")
    caller_number: _Party = msgspec.field(default="", name="Caller-Caller-ID-Number")
    caller_name: _Party = msgspec.field(default="", name="Caller-Caller-ID-Name")
    destination: _Party = msgspec.field(default="", name="Caller-Destination-Number")
    hangup_cause: _Cause | None = msgspec.field(default=None, name="Hangup-Cause")
    bridge_b: _UniqueId | None = msgspec.field(default=None, name="Bridge-B-Unique-ID")
    other_leg: _UniqueId | None = msgspec.field(default=None, name="Other-Leg-Unique-ID")
    # the queue: at CHANNEL_CREATE, when the channel carries it as it is created (the SIP
    # gateway's <variables>, or an X- header the profile maps); at CHANNEL_PARK, also when
    # the dialplan set it before `park`
    queue: _Queue | None = msgspec.field(default=None, name="variable_cc_queue")


CREATED_ON_CREATE = "CHANNEL_CREATE"  # event following: every inbound leg is a call
CREATED_ON_PARK = "CHANNEL_PARK"  # call control: a leg the dialplan parked for us is one
_MAPPED_EVENTS = frozenset({"CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Common(TypedDict):
    event_id: str
    call_id: str
    occurred_at: datetime
    from_: str | None
    to: str | None
    direction: Direction


def decode_event_json(body: bytes) -> dict[str, object]:
    """A `text/event-json` body as its JSON object. Raises InvalidInput."""
    document = decoded(lambda: msgspec.json.decode(body), malformed="malformed event JSON")
    if not isinstance(document, dict):
        raise InvalidInput("an ESL event must be a JSON object")
    return document


def to_canonical(
    document: dict[str, object],
    *,
    agent_variable: str = DEFAULT_AGENT_VARIABLE,
    created_on: str = CREATED_ON_CREATE,
) -> CallEvent | None:
    """The canonical event for one FreeSWITCH event (see the module docstring), or None for
    an event with no canonical meaning. `created_on` is the event that makes an inbound leg
    a call: CHANNEL_CREATE, or CHANNEL_PARK when the server controls the calls (the
    dialplan decides which legs are the contact center's, and may set cc_queue first).
    Raises InvalidInput pointing at the bad header."""
    name = document.get("Event-Name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("Event-Name is required", "/Event-Name")
    if name not in _MAPPED_EVENTS and name != created_on:
        return None
    channel = decoded(lambda: msgspec.convert(document, ChannelHeaders))
    if channel.direction is not Direction.INBOUND:
        return None  # an agent leg or a dial-out, never the caller
    common = _Common(
        event_id=_event_id(channel, name, created_on),
        call_id=channel.unique_id,
        occurred_at=_EPOCH + timedelta(microseconds=int(channel.timestamp_us)),
        from_=channel.caller_number or None,
        to=channel.destination or None,
        direction=channel.direction,
    )
    if name == created_on:
        return _created(channel, common)
    if name == "CHANNEL_BRIDGE":
        return _bridged(channel, common, _agent_id(document, agent_variable))
    return _hung_up(channel, common)


def _event_id(channel: ChannelHeaders, name: str, created_on: str) -> str:
    if name == created_on == CREATED_ON_PARK:  # a leg may park twice: one call all the same
        return f"freeswitch:{channel.unique_id}:created"
    return f"freeswitch:{channel.unique_id}:{name}:{channel.sequence}"


def _created(channel: ChannelHeaders, common: _Common) -> CallCreated:
    attributes: dict[str, AttributeValue] = {}
    if channel.caller_name:
        attributes["caller_name"] = channel.caller_name
    return CallCreated(**common, queue=channel.queue, attributes=attributes)


def _bridged(channel: ChannelHeaders, common: _Common, agent_id: str | None) -> CallAnswered:
    attributes: dict[str, AttributeValue] = {}
    agent_leg = channel.bridge_b or channel.other_leg
    if agent_leg:
        attributes["agent_leg_id"] = agent_leg
    return CallAnswered(**common, agent_id=agent_id, attributes=attributes)


def _hung_up(channel: ChannelHeaders, common: _Common) -> CallEnded:
    attributes: dict[str, AttributeValue] = {}
    if channel.hangup_cause is None:
        raise InvalidInput("Hangup-Cause is required", "/Hangup-Cause")
    attributes["hangup_cause"] = channel.hangup_cause
    reason = END_REASONS.get(channel.hangup_cause, EndReason.FAILED)
    return CallEnded(**common, end_reason=reason, attributes=attributes)


def map_event_json(
    body: bytes, *, agent_variable: str = DEFAULT_AGENT_VARIABLE
) -> CallEvent | None:
    """decode_event_json then to_canonical; raises InvalidInput as they do."""
    return to_canonical(decode_event_json(body), agent_variable=agent_variable)


def _agent_id(document: Mapping[str, object], agent_variable: str) -> str | None:
    header = f"variable_{agent_variable}"
    value = document.get(header)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _AGENT_ID.fullmatch(value):
        raise InvalidInput("an agent id must be 1-64 of A-Z a-z 0-9 _ . @ -", f"/{header}")
    return value


# --- the client ----------------------------------------------------------------------
