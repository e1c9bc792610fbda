"""jambonz live call control: the hooks a jambonz call requests once an agent accepted it.

When an agent accepts, the call is redirected (gateways.jambonz.notify) to `agent_dial`,
answered with the dial to that agent. jambonz reports the dial's end to `dial_action`: an
agent leg that was not answered puts the caller back in their place in line, holding, until
the next agent accepts. `hold` is the hold loop (without a call named, it is also the
application's calling webhook: the new call recorded, then held). Every request's
Jambonz-Signature is checked before anything else is read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from callcenter.domain.calls import Call, CallState, DialOutcome
from callcenter.domain.events import AgentLegFailed, EndReason
from callcenter.errors import CallMismatch, InvalidInput
from callcenter.gateways.jambonz.call_hook import END_REASONS, decode_call_hook, to_canonical
from callcenter.gateways.jambonz.dial import DialResult, dial_agent_verbs, dial_outcome
from callcenter.gateways.jambonz.hold import hangup_verbs, hold_verbs
from callcenter.services.call_events import CallEventService
from callcenter.services.calls import CallQueryService
from callcenter.services.clock import Clock
from callcenter.services.jambonz_hooks import JAMBONZ_DIALECT, JambonzSignatures

logger = logging.getLogger(__name__)

Verbs = list[dict[str, object]]
CALL_PARAMETER = "call"
MAX_CALL_ID_CHARS = 128
_FINISHED = frozenset({CallState.WRAP_UP, CallState.ENDED})
_LEG_END_REASONS = {
    DialOutcome.NO_ANSWER: EndReason.NO_ANSWER,
    DialOutcome.BUSY: EndReason.BUSY,
    DialOutcome.FAILED: EndReason.FAILED,
}


def with_call(hook_url: str, call_id: str) -> str:
    """`hook_url` for one call (`?call=<call id>`)."""
    return f"{hook_url}?{urlencode({CALL_PARAMETER: call_id})}"


def agent_target(template: str, agent_id: str) -> str:
    """The agent dial template filled in for `agent_id`. Raises ValueError for a template
    with fields other than `{agent_id}` (the target itself is checked by the dial)."""
    try:
        return template.format(agent_id=agent_id)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"cannot fill in the agent dial template {template!r}: {error}") from None


@dataclass(frozen=True, slots=True)
class HookUrls:
    """Our hooks' absolute URLs as jambonz must request them (the public URL behind a
    proxy), without the call (see `with_call`)."""

    dial_action: str
    hold: str


@dataclass(frozen=True, slots=True)
class AgentDialing:
    """How the accepting agent is rung: `template` with `{agent_id}` in it (a jambonz
    target, see gateways.jambonz.dial.dial_target), for `ring_seconds` (1-600)."""

    template: str
    ring_seconds: int


class JambonzControl:
    """The agent-dial, dial-action and hold hooks. Each takes the request's headers and raw
    body, the `call` of its URL (None when absent) and the URLs of our hooks, and returns
    the verbs to answer. Each raises Forbidden (counted) for a bad signature, InvalidInput
    for a bad body or `call`, NotFound for an unknown call, CallMismatch when the body's
    call_sid is not the call's jambonz call, and whatever applying an event raises."""

    def __init__(
        self,
        events: CallEventService,
        calls: CallQueryService,
        signatures: JambonzSignatures,
        *,
        dialing: AgentDialing,
        hold_music_url: str | None,
        clock: Clock,
    ) -> None:
        """Without `hold_music_url` the hold is silence."""
        self._events = events
        self._calls = calls
        self._signatures = signatures
        self._dialing = dialing
        self._hold_music = hold_music_url
        self._clock = clock

    async def agent_dial(
        self, headers: Mapping[str, str], body: bytes, call_id: str | None, urls: HookUrls
    ) -> Verbs:
        """The verbs of a call redirected to us when an agent accepted it: the dial to
        that agent; the hold for a call no longer connected to one (it went back in line),
        the end for a finished call."""
        self._signatures.verify(headers, body)
        call = await self._call_of(call_id, decode_call_hook(body).call_sid)
        if call.state is CallState.CONNECTED and call.agent_id is not None:
            return await self._dial(call, call.agent_id, urls)
        return self._waiting(call.id, call.state, urls)

    async def dial_action(
        self, headers: Mapping[str, str], body: bytes, call_id: str | None, urls: HookUrls
    ) -> Verbs:
        """How the dial to the agent ended. Answered: the conversation is over, the end.
        Not answered, busy or failed: `call.agent_failed` (the caller back in their place
        in line, the agent's offer missed) and the hold."""
        self._signatures.verify(headers, body)
        result = dial_outcome(body)
        caller = decode_call_hook(body)  # the caller's own call, as the dial left it
        call = await self._call_of(call_id, result.call_sid)
        if result.call_id is not None and result.call_id != call.id:
            raise CallMismatch(call.id, result.call_id)
        if result.outcome is DialOutcome.ANSWERED or caller.call_status in END_REASONS:
            # a caller who hung up while the agent's phone rang is no fault of the agent's;
            # the caller's own status webhook ends the call
            return hangup_verbs()
        agent_id = result.agent_id or call.agent_id
        state = call.state
        if agent_id is not None:
            reason = _LEG_END_REASONS[result.outcome]
            state = await self._leg_failed(call, agent_id, reason, _leg_event_id(call, result))
        return self._waiting(call.id, state, urls)

    async def hold(
        self, headers: Mapping[str, str], body: bytes, call_id: str | None, urls: HookUrls
    ) -> Verbs:
        """The next turn of the hold, or the end for a finished call. Without `call_id`
        the body is a new call (the application's calling webhook): it is recorded as its
        status webhook would be, then held."""
        self._signatures.verify(headers, body)
        hook = decode_call_hook(body)
        if call_id is None:
            event = to_canonical(hook, received_at=self._clock.now())
            if event is not None:
                await self._events.apply(event, dialect=JAMBONZ_DIALECT)
            call_id = hook.call_sid
        call = await self._call_of(call_id, hook.call_sid)
        return self._waiting(call.id, call.state, urls)

    async def _call_of(self, call_id: str | None, call_sid: str) -> Call:
        """The jambonz call `call_id`, which the body names as `call_sid`."""
        if not call_id:
            raise InvalidInput(f"the URL needs ?{CALL_PARAMETER}=<call id>", f"/{CALL_PARAMETER}")
        if len(call_id) > MAX_CALL_ID_CHARS:
            raise InvalidInput(f"longer than {MAX_CALL_ID_CHARS} characters", f"/{CALL_PARAMETER}")
        call = await self._calls.get(call_id)
        if call.dialect != JAMBONZ_DIALECT or call.gateway_call_id != call_sid:
            raise CallMismatch(call_id, call_sid)
        return call

    async def _dial(self, call: Call, agent_id: str, urls: HookUrls) -> Verbs:
        try:
            return dial_agent_verbs(
                agent_target(self._dialing.template, agent_id),
                call.id,
                action_hook_url=with_call(urls.dial_action, call.id),
                timeout_seconds=self._dialing.ring_seconds,
                agent_id=agent_id,
            )
        except ValueError as error:
            # this agent cannot be rung at all: the leg failed before it began
            ids = {"call_id": call.id, "agent_id": agent_id}
            logger.error("jambonz: cannot dial the agent: %s", error, extra=ids)
            failed = await self._leg_failed(
                call, agent_id, EndReason.FAILED, _leg_event_id(call, None)
            )
            return self._waiting(call.id, failed, urls)

    async def _leg_failed(
        self, call: Call, agent_id: str, reason: EndReason, event_id: str
    ) -> CallState:
        """Apply `call.agent_failed`; the call's state after it."""
        event = AgentLegFailed(
            event_id=event_id,
            call_id=call.id,
            occurred_at=self._clock.now(),
            agent_id=agent_id,
            end_reason=reason,
        )
        applied = await self._events.apply(event, dialect=JAMBONZ_DIALECT)
        return applied.state or call.state

    def _waiting(self, call_id: str, state: CallState, urls: HookUrls) -> Verbs:
        """Hold a live caller; end a call that is over for us (it would hold forever)."""
        if state in _FINISHED:
            return hangup_verbs()
        return hold_verbs(with_call(urls.hold, call_id), music_url=self._hold_music)


def _leg_event_id(call: Call, result: DialResult | None) -> str:
    """The id of the failure of this agent leg: jambonz's id of the leg when it has one;
    else the call's assignment to the agent (its version), so that a later failed
    attempt is not taken for a redelivery of this one."""
    if result is not None and result.dial_call_sid:
        return f"jambonz:{result.dial_call_sid}:agent_failed"
    return f"jambonz:{call.gateway_call_id}:v{call.version}:agent_failed"
