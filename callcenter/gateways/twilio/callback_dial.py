"""Callbacks placed through Twilio: a REST call create to the customer (the customer's leg
first), whose TwiML, once the customer answers, says a greeting and <Dial>s the agent who
accepted the callback (`agent_dial_template`, as for a waiting caller).

Customer first, because the agent already accepted the offer and sits reserved for it:
ringing the customer first costs the agent the ring time, while ringing the agent first
would make the agent wait on a customer who may not answer, and would leave a second
leg to clean up when the customer is busy.

The new leg's status callbacks go to `/gateways/twilio/status?callback=<call id>&dial=<dial
id>` for initiated, ringing, answered and completed: the query names our call and the
attempt, since the leg's own CallSid is new to us (gateways.twilio.events)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from callcenter.domain.calls import Call, Dial
from callcenter.errors import DialRefused
from callcenter.gateways.twilio import twiml
from callcenter.gateways.twilio.rest import TwilioApiError, TwilioRestClient
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

STATUS_PATH = "/gateways/twilio/status"
CALLBACK_PARAMETER = "callback"
DIAL_PARAMETER = "dial"
KIND = "twilio.call_create"
GREETING = "Hello, this is the call back you asked for. Connecting you now."
RING_SECONDS = 30


def status_callback_url(public_url: str, call_id: str, dial_id: str) -> str:
    """Where Twilio reports on the leg of attempt `dial_id` of callback `call_id`."""
    query = urlencode({CALLBACK_PARAMETER: call_id, DIAL_PARAMETER: dial_id})
    return f"{public_url.rstrip('/')}{STATUS_PATH}?{query}"


class TwilioCallbackDialer:
    """A CallbackDialer placing callbacks as Twilio calls."""

    def __init__(
        self,
        rest: TwilioRestClient,
        *,
        public_url: str,
        agent_uri: str,
        caller_id: str | None,
        metrics: Metrics,
        ring_seconds: int = RING_SECONDS,
    ) -> None:
        """`public_url` is how Twilio reaches us; `agent_uri` a template with {agent_id};
        `caller_id` the number the customer sees (None: the number the customer called,
        the call's `to`)."""
        self._rest = rest
        self._public_url = public_url
        self._agent_uri = agent_uri
        self._caller_id = caller_id
        self._metrics = metrics
        self._ring_seconds = ring_seconds

    async def dial(self, call: Call, dial: Dial) -> str | None:
        """Create the customer's leg; return its CallSid. Raises DialRefused when there is
        no caller id or Twilio refuses (a 4xx other than 429, e.g. 21211 invalid number);
        TwilioApiError when it is not known whether the call was placed."""
        assert call.callback is not None
        from_ = self._caller_id or call.to
        if not from_:
            self._count("refused")
            raise DialRefused("no caller id: set CALLCENTER_TWILIO_CALLER_ID")
        try:
            document = twiml.dial_agent(
                self._agent_uri.format(agent_id=dial.agent_id), call.id, greeting=GREETING
            )
            created = await self._rest.create_call(
                call.callback.number,
                from_,
                document,
                status_callback_url(self._public_url, call.id, dial.id),
                timeout_seconds=self._ring_seconds,
            )
        except ValueError as error:
            self._count("refused")
            raise DialRefused(str(error)) from error
        except TwilioApiError as error:
            if error.status is not None and 400 <= error.status < 500 and error.status != 429:
                self._count("refused")
                raise DialRefused(str(error)) from error
            self._count("failed")
            raise
        self._count("delivered")
        logger.info(
            "callback attempt %d placed as %s",
            dial.attempt,
            created.sid,
            extra={"call_id": call.id},
        )
        return created.sid

    def _count(self, result: str) -> None:
        self._metrics.webhook_deliveries_total.labels(KIND, result).inc()
