"""Callbacks placed through Asterisk: each attempt originates the customer's leg
(`CALLCENTER_ASTERISK_CALLBACK_ENDPOINT`, e.g. `PJSIP/{number}@provider`), entering the
application once answered with args ["callback", call id, dial id, agent id, number].
Call control (ari_calls) then holds the customer, rings the agent who accepted, and
bridges them.

Customer first, as with Twilio: the agent sits reserved for the callback already, and a
customer who does not answer leaves no agent leg to clean up.

The leg's channel id is `cc-callback:<call id>:<dial id>`: a repeat of the same attempt
(after a claim timeout) is refused by Asterisk as a channel id in use (409), which means
it was placed, so an attempt is never placed twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from callcenter.domain.calls import Call, Dial
from callcenter.errors import DialRefused
from callcenter.gateways.asterisk.ari_events import CALLBACK_ARG, callback_leg_id
from callcenter.gateways.asterisk.ari_rest import AriError, AriRest
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

KIND = "asterisk.callback_originate"
_IN_USE = 409  # ari_channels_originate: "Channel with given unique ID already exists"


@dataclass(frozen=True, slots=True)
class AriCallbackSettings:
    app: str
    endpoint: str  # with {number}
    caller_id: str | None  # None: the number the customer called (the call's `to`)
    ring_seconds: int = 30


class AriCallbackDialer:
    """A CallbackDialer placing callbacks as ARI originates."""

    def __init__(self, rest: AriRest, settings: AriCallbackSettings, *, metrics: Metrics) -> None:
        self._rest = rest
        self._settings = settings
        self._metrics = metrics

    async def dial(self, call: Call, dial: Dial) -> str | None:
        """Originate the customer's leg; return its channel id. Raises DialRefused when
        Asterisk refuses it (a 4xx other than 409: a bad endpoint; 500: nothing to place
        it on, such as an unregistered trunk); AriError when it is not known whether the
        call was placed (Asterisk unreachable)."""
        assert call.callback is not None
        leg = callback_leg_id(call.id, dial.id)
        try:
            await self._rest.originate(
                self._settings.endpoint.format(number=call.callback.number),
                channel_id=leg,
                app=self._settings.app,
                app_args=[CALLBACK_ARG, call.id, dial.id, dial.agent_id, call.callback.number],
                caller_id=self._settings.caller_id or call.to,
                timeout_seconds=self._settings.ring_seconds,
            )
        except AriError as error:
            if error.status == _IN_USE:
                self._count("delivered")
                return leg  # placed already, by an earlier claim of this attempt
            refused = 400 <= error.status < 500 or error.status == 500
            self._count("refused" if refused else "failed")
            if refused:
                raise DialRefused(str(error)) from error
            raise
        self._count("delivered")
        logger.info(
            "callback attempt %d placed as %s", dial.attempt, leg, extra={"call_id": call.id}
        )
        return leg

    def _count(self, result: str) -> None:
        self._metrics.webhook_deliveries_total.labels(KIND, result).inc()
