"""The verbs that connect a redirected jambonz call to its agent, and the outcome of that
dial as jambonz reports it to the dial's actionHook.

After a call update (gateways.jambonz.rest) jambonz requests the new call hook, which is
answered with `dial_agent_verbs`: a `tag` naming our call (and agent) in the call's
customerData, then a `dial` to the agent's target with our call id in an X- header of the
INVITE, for the screen pop. When the dial ends, jambonz POSTs the call's details plus
`dial_call_status` / `dial_sip_status` / `dial_call_sid` to the actionHook; customerData
comes back verbatim, so the outcome names the agent without trusting the URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import msgspec

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.domain.calls import DialOutcome
from callcenter.errors import InvalidInput, PayloadTooLarge, decoded
from callcenter.gateways.jambonz.call_hook import MAX_WEBHOOK_BYTES, CallStatus

SIP_CALL_ID_HEADER = "X-Callcenter-Call-Id"
CALL_ID_TAG = "callcenter_call_id"
AGENT_ID_TAG = "callcenter_agent_id"
MAX_TARGET_CHARS = 256
MAX_RING_SECONDS = 600

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SIP_URI = re.compile(r"sips?:(?:[^\s@]+@)?[^\s@]+", re.IGNORECASE)
_USER = re.compile(r"[^@\s:;<>\"]+(?:@[A-Za-z0-9.-]+)?")
_AGENT_ID = re.compile(AGENT_ID_PATTERN)
# What a SIP header value may hold: visible ASCII and spaces, nothing that ends the line.
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,128}")

# dial_call_status at the end of the dial. "completed" is the only status of a leg that
# was bridged; a leg still trying or ringing when the dial ended (the ring timeout, or the
# caller hanging up) was not answered; "queued" never reached the agent at all.
_OUTCOMES: dict[CallStatus, DialOutcome] = {
    CallStatus.COMPLETED: DialOutcome.ANSWERED,
    CallStatus.IN_PROGRESS: DialOutcome.ANSWERED,
    CallStatus.NO_ANSWER: DialOutcome.NO_ANSWER,
    CallStatus.TRYING: DialOutcome.NO_ANSWER,
    CallStatus.RINGING: DialOutcome.NO_ANSWER,
    CallStatus.EARLY_MEDIA: DialOutcome.NO_ANSWER,
    CallStatus.BUSY: DialOutcome.BUSY,
    CallStatus.FAILED: DialOutcome.FAILED,
    CallStatus.QUEUED: DialOutcome.FAILED,
}


@dataclass(frozen=True, slots=True)
class DialResult:
    """How the dial to an agent ended: `call_sid` is the caller's jambonz call; `call_id`
    and `agent_id` come from the tag `dial_agent_verbs` set (None when absent)."""

    outcome: DialOutcome
    call_sid: str
    call_id: str | None = None
    agent_id: str | None = None
    sip_status: int | None = None
    dial_call_sid: str | None = None


def dial_target(agent: str) -> dict[str, object]:
    """The jambonz dial target for an expanded agent dial template: `sip:`/`sips:` URIs a
    sip target, `+<E.164>` or `tel:+<E.164>` a phone target, `user:name[@domain]` or
    `name@domain` a registered user (jambonz adds the account's SIP realm to a bare name).

    Raises ValueError for anything else (`client:ann`, a bare `ann`, whitespace)."""
    if not agent or len(agent) > MAX_TARGET_CHARS or not agent.isprintable():
        raise ValueError(f"an agent target is 1-{MAX_TARGET_CHARS} printable characters")
    scheme, rest = _scheme_and_rest(agent)
    if scheme in ("sip", "sips") and _SIP_URI.fullmatch(agent):
        return {"type": "sip", "sipUri": agent}
    if scheme == "tel" and _E164.fullmatch(rest):
        return {"type": "phone", "number": rest}
    if scheme == "user" and _USER.fullmatch(rest):
        return {"type": "user", "name": rest}
    raise ValueError(
        f"cannot dial {agent!r} with jambonz: use sip:<uri>, user:<name>[@<domain>], "
        "<name>@<domain> or +<E.164 number>"
    )


def _scheme_and_rest(agent: str) -> tuple[str, str]:
    """The target's scheme (lower case) and what follows it; a bare `+<number>` is `tel`,
    a bare `name@domain` is `user`."""
    scheme, colon, rest = agent.partition(":")
    if colon:
        return scheme.lower(), rest
    if agent.startswith("+"):
        return "tel", agent
    return ("user" if "@" in agent else "", agent)


def dial_agent_verbs(
    agent_target: str,
    call_id: str,
    *,
    action_hook_url: str | None,
    timeout_seconds: int | None,
    agent_id: str | None = None,
) -> list[dict[str, object]]:
    """The verbs answering the redirected call's hook: tag the call with `call_id` (and
    `agent_id`), then dial `agent_target` (see `dial_target`), the INVITE carrying
    `call_id` in X-Callcenter-Call-Id. `action_hook_url` receives the outcome
    (`dial_outcome`); `timeout_seconds` is how long the agent's phone rings (jambonz's
    default: 60).

    Raises ValueError for an unusable target, a call or agent id that cannot travel in a
    SIP header, an empty action hook URL, or a timeout outside 1..600 seconds."""
    _check_dial_options(call_id, agent_id, action_hook_url, timeout_seconds)
    tag: dict[str, str] = {CALL_ID_TAG: call_id}
    if agent_id is not None:
        tag[AGENT_ID_TAG] = agent_id
    dial: dict[str, object] = {
        "verb": "dial",
        "target": [dial_target(agent_target)],
        # the caller hears ringing, not silence, while the agent's phone rings (when the
        # call is not answered yet; an answered caller simply waits)
        "answerOnBridge": True,
        "headers": {SIP_CALL_ID_HEADER: call_id},
    }
    if action_hook_url is not None:
        dial["actionHook"] = {"url": action_hook_url, "method": "POST"}
    if timeout_seconds is not None:
        dial["timeout"] = timeout_seconds
    return [{"verb": "tag", "data": tag}, dial]


def _check_dial_options(
    call_id: str, agent_id: str | None, action_hook_url: str | None, timeout: int | None
) -> None:
    if not _HEADER_VALUE.fullmatch(call_id):
        raise ValueError("a call id for a SIP header is 1-128 visible ASCII characters")
    if agent_id is not None and not _AGENT_ID.fullmatch(agent_id):
        raise ValueError(f"not an agent id: {agent_id!r}")
    if timeout is not None and not 0 < timeout <= MAX_RING_SECONDS:
        raise ValueError(f"a ring timeout is 1-{MAX_RING_SECONDS} seconds")
    if action_hook_url is not None and (not action_hook_url or not action_hook_url.isprintable()):
        raise ValueError("an action hook URL is a non-empty printable string")


_AgentIdText = Annotated[str, msgspec.Meta(pattern=rf"^{AGENT_ID_PATTERN}(?!\n)$")]


class _Tag(msgspec.Struct, frozen=True):
    callcenter_call_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    callcenter_agent_id: _AgentIdText | None = None


class _DialAction(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a dial actionHook body that the outcome uses (the rest is the call's
    own call hook body, ignored)."""

    call_sid: Annotated[
        str, msgspec.Meta(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9_.:-]+(?!\n)$")
    ]
    dial_call_status: CallStatus | None = None
    dial_status: CallStatus | None = None  # the name jambonz's dial page documents
    dial_sip_status: Annotated[int, msgspec.Meta(ge=100, le=699)] | None = None
    dial_call_sid: Annotated[str, msgspec.Meta(max_length=96)] | None = None
    # jambonz snake-cases every key it sends except this one
    customer_data: _Tag | None = msgspec.field(default=None, name="customerData")


_ACTION = msgspec.json.Decoder(_DialAction)


def dial_outcome(body: bytes) -> DialResult:
    """The outcome of the dial as its actionHook reports it. A body with no dial status
    (the dial ended before any agent leg reported one, e.g. the INVITE could not be
    sent) is FAILED.

    Raises PayloadTooLarge, or InvalidInput with a JSON pointer to the bad field."""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(MAX_WEBHOOK_BYTES)
    if not body.strip():
        raise InvalidInput("request body is empty; a JSON object is required")
    action = decoded(lambda: _ACTION.decode(body))
    status = action.dial_call_status or action.dial_status
    tag = action.customer_data or _Tag()
    return DialResult(
        outcome=DialOutcome.FAILED if status is None else _OUTCOMES[status],
        call_sid=action.call_sid,
        call_id=tag.callcenter_call_id,
        agent_id=tag.callcenter_agent_id,
        sip_status=action.dial_sip_status,
        dial_call_sid=action.dial_call_sid,
    )
