"""Routing decisions for Twilio calls: when an agent accepts a waiting caller, the live
call's TwiML is replaced (REST call update) with a <Dial> to that agent."""

from __future__ import annotations

import logging

from callcenter.background import BackgroundTasks
from callcenter.domain.calls import Call
from callcenter.domain.routing import Decision
from callcenter.gateways.twilio import twiml
from callcenter.gateways.twilio.rest import TwilioApiError, TwilioRestClient
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

DIALECT = "twilio"


class TwilioNotifier:
    """A RouteNotifier for calls that came in through Twilio. Updates run as owned tasks
    (the REST client retries with back-off), so routing never waits on Twilio."""

    def __init__(self, rest: TwilioRestClient, *, agent_uri: str, metrics: Metrics) -> None:
        """`agent_uri` is a template with {agent_id}: `client:{agent_id}` or a SIP URI."""
        self._rest = rest
        self._agent_uri = agent_uri
        self._metrics = metrics
        self._tasks = BackgroundTasks()

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        if call.dialect != DIALECT or kind != "route.assigned" or call.agent_id is None:
            return
        document = twiml.dial_agent(self._agent_uri.format(agent_id=call.agent_id), call.id)
        self._tasks.spawn(self._update(call, document))

    async def _update(self, call: Call, document: str) -> None:
        try:
            await self._rest.update_call(call.gateway_call_id, twiml=document)
            result = "delivered"
        except (TwilioApiError, ValueError) as error:
            logger.error("Twilio call update failed: %s", error, extra={"call_id": call.id})
            result = "failed"
        self._metrics.webhook_deliveries_total.labels("twilio.call_update", result).inc()

    async def stop(self, grace_seconds: float | None = None) -> None:
        await self._tasks.stop(grace_seconds)
