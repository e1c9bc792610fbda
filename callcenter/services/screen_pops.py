"""The screen pop: an offer goes to the agent's desktop with the caller's context and why
the call came to this agent (a route notifier)."""

from __future__ import annotations

import logging
from typing import Protocol

from callcenter.domain.calls import Call
from callcenter.domain.routing import Decision
from callcenter.errors import NotFound
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.callers import CallerService
from callcenter.services.live_events import RouteOffered
from callcenter.services.live_views import Offer, ReservationView, call_view
from callcenter.services.task_failures import log_failure

logger = logging.getLogger(__name__)


class Decisions(Protocol):
    """Where the routing decision of a call is kept (CallRepository)."""

    async def decision(self, call_id: str) -> Decision | None: ...


class ScreenPops:
    def __init__(
        self, bus: EventBus, decisions: Decisions, callers: CallerService, *, metrics: Metrics
    ) -> None:
        self._bus = bus
        self._decisions = decisions
        self._callers = callers
        self._metrics = metrics

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        """RouteNotifier: publish the pop of an offer; never raises (the pop is lost, the
        offer stands, and the page's snapshot shows it on reconnect)."""
        if kind != "route.offered" or call.reservation is None:
            return
        try:
            offer = await self.offer_of(call, decision)
            await self._bus.publish(
                RouteOffered(
                    data=offer,
                    call_id=call.id,
                    agent_id=call.reservation.agent_id,
                    queue=call.queue,
                )
            )
        except Exception:
            log_failure(logger, "screen pop not published", extra={"call_id": call.id})
            self._metrics.task_errors_total.labels("screen_pop").inc()

    async def decision_of(self, call_id: str) -> Decision | None:
        """The routing decision kept for a call (why it went to its agent), if any."""
        return await self._decisions.decision(call_id)

    async def offer_of(self, call: Call, decision: Decision | None) -> Offer:
        """The pop of `call`'s pending offer (the kept decision when none is given)."""
        assert call.reservation is not None
        caller = None
        if call.caller_key:
            try:
                caller = await self._callers.view(call.caller_key)
            except NotFound:
                caller = None
        if decision is None:
            decision = await self._decisions.decision(call.id)
        return Offer(
            call=call_view(call),
            caller=caller,
            reservation=ReservationView(
                id=call.reservation.id, expires_at=call.reservation.expires_at
            ),
            decision=decision,
        )
