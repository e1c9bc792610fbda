"""Callbacks placed through FreeSWITCH: each attempt originates the customer's leg
(`CALLCENTER_FREESWITCH_CALLBACK_DIAL_TEMPLATE`, e.g. `sofia/gateway/provider/{number}`) to
`&park()`, carrying `cc_callback_call`, `cc_dial_id` and `cc_agent_id`. Call control
(calls.py) then holds the customer once they answer (their leg parks), rings the agent who
accepted, bridges them, and reports the attempt with canonical events tagged `dial_id`.

The leg's uuid is made from the call and the attempt, so a repeat of the same attempt
(after a claim timeout) finds it with `uuid_exists` and is not placed twice."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

from callcenter.domain.calls import Call, Dial
from callcenter.errors import DialRefused
from callcenter.gateways.freeswitch.control import EslCommandError, EslCommands
from callcenter.gateways.freeswitch.legs import (
    AGENT_VARIABLE,
    DIAL_VARIABLE,
    header,
    originate_variables,
)
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

KIND = "freeswitch.callback_originate"
CALLBACK_VARIABLE = "cc_callback_call"  # on a callback's customer leg: the call id
_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_NAMESPACE = uuid.UUID("0d7f3c52-5b8e-4e43-a7c4-5d1b9e2f8a61")  # ours: customer legs


@dataclass(frozen=True, slots=True)
class CallbackLeg:
    """A callback's leg to the customer."""

    leg_id: str
    call_id: str
    dial_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class EslCallbackSettings:
    dial_template: str  # with {number}
    caller_id: str | None  # None: the number the customer called (the call's `to`)
    ring_seconds: int = 30


def customer_leg_uuid(call_id: str, dial_id: str) -> str:
    """The uuid of attempt `dial_id`'s leg to the customer of callback `call_id`."""
    return str(uuid.uuid5(_NAMESPACE, f"{call_id}:{dial_id}"))


def callback_leg(variables: dict[str, str], leg_id: str) -> CallbackLeg | None:
    """The customer leg whose channel variables these are; None for any other channel."""
    call_id = variables.get(CALLBACK_VARIABLE, "")
    dial_id = variables.get(DIAL_VARIABLE, "")
    agent_id = variables.get(AGENT_VARIABLE, "")
    if not (call_id and dial_id and agent_id and leg_id == customer_leg_uuid(call_id, dial_id)):
        return None
    return CallbackLeg(leg_id, call_id, dial_id, agent_id)


def callback_leg_of(document: dict[str, object]) -> CallbackLeg | None:
    """The customer leg a channel event is about."""
    names = (CALLBACK_VARIABLE, DIAL_VARIABLE, AGENT_VARIABLE)
    variables = {name: header(document, f"variable_{name}") for name in names}
    return callback_leg(variables, header(document, "Unique-ID"))


def originated_callback(job: dict[str, object]) -> CallbackLeg | None:
    """The customer leg a BACKGROUND_JOB's originate was for."""
    variables = originate_variables(job)
    return callback_leg(variables, variables.get("origination_uuid", ""))


class EslCallbackDialer:
    """A CallbackDialer placing callbacks as `bgapi originate`s."""

    def __init__(
        self, commands: EslCommands, settings: EslCallbackSettings, *, metrics: Metrics
    ) -> None:
        self._commands = commands
        self._settings = settings
        self._metrics = metrics

    async def dial(self, call: Call, dial: Dial) -> str | None:
        """Originate the customer's leg; return its uuid. Its fate (answered, busy...)
        comes later as events. Raises DialRefused for a number the template cannot dial;
        EslCommandError when it is not known whether the call was placed."""
        assert call.callback is not None
        number = call.callback.number
        leg = customer_leg_uuid(call.id, dial.id)
        if not _NUMBER.fullmatch(number):
            self._count("refused")
            raise DialRefused(f"{number!r} is not a number to dial")
        try:
            if (await self._commands.api(f"uuid_exists {leg}")).strip() == "true":
                self._count("delivered")
                return leg  # placed already, by an earlier claim of this attempt
            await self._commands.bgapi(self._originate(call, dial, leg), leg)
        except EslCommandError:
            self._count("failed")
            raise
        self._count("delivered")
        logger.info(
            "callback attempt %d placed as %s", dial.attempt, leg, extra={"call_id": call.id}
        )
        return leg

    def _originate(self, call: Call, dial: Dial, leg: str) -> str:
        assert call.callback is not None
        variables = [
            f"origination_uuid={leg}",
            f"{CALLBACK_VARIABLE}={call.id}",
            f"{DIAL_VARIABLE}={dial.id}",
            f"{AGENT_VARIABLE}={dial.agent_id}",
            f"originate_timeout={self._settings.ring_seconds}",
        ]
        shown = self._settings.caller_id or call.to
        if shown and _NUMBER.fullmatch(shown):
            variables.append(f"origination_caller_id_number={shown}")
        target = self._settings.dial_template.format(number=call.callback.number)
        return f"originate {{{','.join(variables)}}}{target} &park()"

    def _count(self, result: str) -> None:
        self._metrics.webhook_deliveries_total.labels(KIND, result).inc()
