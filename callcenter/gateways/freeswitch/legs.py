"""What call control reads from FreeSWITCH (channel events, `show channels as json` rows, a
BACKGROUND_JOB's originate arguments) and the canonical events it reports. Pure functions.

An agent's leg carries the channel variables `cc_call_id` (the caller's Unique-ID) and
`cc_agent_id`, set in its originate string, so every instance can tell whose leg an event is
about without remembering anything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from callcenter.domain.calls import Direction
from callcenter.domain.events import AgentLegFailed, CallCreated, CallEnded, EndReason
from callcenter.gateways.freeswitch.events import DIALECT, END_REASONS

CALL_VARIABLE = "cc_call_id"
AGENT_VARIABLE = "cc_agent_id"
DIAL_VARIABLE = "cc_dial_id"  # on an agent's leg for a callback: the attempt it is for
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WORD = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")


@dataclass(frozen=True, slots=True)
class AgentLeg:
    leg_id: str
    call_id: str
    agent_id: str
    dial_id: str | None = None  # a callback's attempt; None for a caller's agent leg


class ChannelRow(msgspec.Struct, frozen=True):
    """One row of `show channels as json` (the columns read; the others are ignored)."""

    uuid: str
    direction: str = ""
    cid_name: str = ""
    cid_num: str = ""
    dest: str = ""
    application: str = ""
    created_epoch: str = ""


class _Channels(msgspec.Struct, frozen=True):
    row_count: int = 0
    rows: list[ChannelRow] = msgspec.field(default_factory=list)


def channel_rows(text: str) -> list[ChannelRow]:
    """The rows of `show channels as json` output (`{"row_count": 0}` when there are none).
    Raises msgspec.ValidationError / DecodeError for other output."""
    return msgspec.json.decode(text, type=_Channels).rows


def header(document: dict[str, object], name: str) -> str:
    value = document.get(name)
    return value if isinstance(value, str) else ""


def agent_leg(document: dict[str, object]) -> AgentLeg | None:
    """The agent leg a channel event is about, None for any other channel."""
    call_id = header(document, f"variable_{CALL_VARIABLE}")
    agent_id = header(document, f"variable_{AGENT_VARIABLE}")
    leg_id = header(document, "Unique-ID")
    if not (_WORD.fullmatch(call_id) and _WORD.fullmatch(agent_id) and leg_id):
        return None
    return AgentLeg(leg_id, call_id, agent_id, _dial(header(document, f"variable_{DIAL_VARIABLE}")))


def _dial(value: str) -> str | None:
    return value if _WORD.fullmatch(value) else None


def originate_variables(job: dict[str, object]) -> dict[str, str]:
    """The {a=b,...} channel variables of a BACKGROUND_JOB's `originate`; {} for any other
    job."""
    if header(job, "Job-Command") != "originate":
        return {}
    argument = header(job, "Job-Command-Arg")
    if not argument.startswith("{") or "}" not in argument:
        return {}
    pairs = (item.partition("=") for item in argument[1 : argument.index("}")].split(","))
    return {name: value for name, _, value in pairs}


def originated_leg(job: dict[str, object]) -> AgentLeg | None:
    """The agent leg a BACKGROUND_JOB of `originate {origination_uuid=..,cc_call_id=..,
    cc_agent_id=..}...` was about, None for any other job."""
    variables = originate_variables(job)
    leg = variables.get("origination_uuid", "")
    call_id = variables.get(CALL_VARIABLE, "")
    agent_id = variables.get(AGENT_VARIABLE, "")
    if not (_WORD.fullmatch(leg) and _WORD.fullmatch(call_id) and _WORD.fullmatch(agent_id)):
        return None
    return AgentLeg(leg, call_id, agent_id, _dial(variables.get(DIAL_VARIABLE, "")))


def answered(document: dict[str, object]) -> bool:
    """Whether the channel was ever answered (Caller-Channel-Answered-Time, in microseconds,
    is 0 until then)."""
    return header(document, "Caller-Channel-Answered-Time") not in ("", "0")


def event_time(document: dict[str, object]) -> datetime | None:
    stamp = header(document, "Event-Date-Timestamp")
    if not stamp.isdigit():
        return None
    return _EPOCH + timedelta(microseconds=int(stamp))


def agent_failed(leg: AgentLeg, cause: str, at: datetime | None) -> AgentLegFailed:
    """The leg ended unanswered (or was never placed) with `cause`, a Hangup-Cause."""
    reason = END_REASONS.get(cause, EndReason.FAILED)
    return AgentLegFailed(
        event_id=f"{DIALECT}:{leg.leg_id}:failed",
        call_id=leg.call_id,
        agent_id=leg.agent_id,
        occurred_at=at,
        end_reason=EndReason.FAILED if reason is EndReason.NORMAL else reason,
        attributes={"agent_leg_id": leg.leg_id, "hangup_cause": cause},
    )


def caller_found(row: ChannelRow) -> CallCreated:
    """A parked caller we heard nothing of (its CHANNEL_CREATE fell in a disconnection)."""
    at = _EPOCH + timedelta(seconds=int(row.created_epoch)) if row.created_epoch.isdigit() else None
    return CallCreated(
        event_id=f"{DIALECT}:{row.uuid}:found",
        call_id=row.uuid,
        occurred_at=at,
        from_=row.cid_num or None,
        to=row.dest or None,
        direction=Direction.INBOUND,
        attributes={"caller_name": row.cid_name} if row.cid_name else {},
    )


def caller_gone(call_id: str) -> CallEnded:
    """A live call whose channel FreeSWITCH no longer has (its hang-up was missed)."""
    return CallEnded(
        event_id=f"{DIALECT}:{call_id}:gone", call_id=call_id, end_reason=EndReason.NORMAL
    )
