"""Routing decisions for jambonz calls: when an agent accepts a waiting caller, the live
call is redirected (REST call update) to a call hook of ours, which answers with the dial
to that agent (gateways.jambonz.dial)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from callcenter.background import BackgroundTasks
from callcenter.domain.calls import Call
from callcenter.domain.routing import Decision
from callcenter.gateways.jambonz.rest import JambonzApiError, JambonzRestClient
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

DIALECT = "jambonz"
DELIVERY_TYPE = "jambonz.call_update"


class JambonzNotifier:
    """A RouteNotifier for calls that came in through jambonz. Redirects run as owned
    tasks (the REST client retries with back-off), so routing never waits on jambonz."""

    def __init__(
        self, rest: JambonzRestClient, *, hook_url: Callable[[Call], str], metrics: Metrics
    ) -> None:
        """`hook_url(call)` is the absolute URL jambonz requests for the call's next verbs
        once redirected: ours, answering with `dial_agent_verbs` for `call.agent_id`."""
        self._rest = rest
        self._hook_url = hook_url
        self._metrics = metrics
        self._tasks = BackgroundTasks()

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        if call.dialect != DIALECT or kind != "route.assigned" or call.agent_id is None:
            return
        self._tasks.spawn(self._redirect(call))

    async def _redirect(self, call: Call) -> None:
        ids = {"call_id": call.id, "agent_id": call.agent_id}
        try:
            # built here, not in route_event: a bad URL is this task's failure, not routing's
            await self._rest.redirect_call(call.gateway_call_id, self._hook_url(call))
            result = "delivered"
        except (JambonzApiError, ValueError) as error:
            logger.error("jambonz call redirect failed: %s", error, extra=ids)
            result = "failed"
        except Exception:
            # the task boundary: nobody awaits this task's result until shutdown
            logger.exception("jambonz call redirect failed unexpectedly", extra=ids)
            result = "failed"
        self._metrics.webhook_deliveries_total.labels(DELIVERY_TYPE, result).inc()

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Wait for the redirects under way (each ends within the client's retry cap)."""
        await self._tasks.stop(grace_seconds)
