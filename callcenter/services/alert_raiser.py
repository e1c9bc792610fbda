"""What happens when an alert rule fires on a call or a conversation: the alert is
claimed once per call and rule (several instances may hear the same call), published on
the bus, and its actions run (raise the waiting call's priority, tag the caller)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from callcenter.domain.alerts import Alert, Trigger
from callcenter.domain.calls import Call
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.callers import CallerService
from callcenter.services.clock import Clock
from callcenter.services.live_events import AlertRaised
from callcenter.services.routing import RoutingService
from callcenter.storage.alerts import AlertRepository
from callcenter.storage.calls import CallRepository

logger = logging.getLogger(__name__)


class AlertRaiser:
    def __init__(
        self,
        alerts: AlertRepository,
        calls: CallRepository,
        bus: EventBus,
        *,
        routing: RoutingService,
        callers: CallerService,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._alerts = alerts
        self._calls = calls
        self._bus = bus
        self._routing = routing
        self._callers = callers
        self._metrics = metrics
        self._clock = clock

    async def raise_alert(self, call_id: str, trigger: Trigger) -> None:
        """Raise `trigger`'s alert for the call (or task) unless it fired there before."""
        rule = trigger.rule
        if not await self._alerts.claim(call_id, rule.name):
            return  # fired already (another instance hears the call's other leg)
        call = await self._calls.get(call_id)
        alert = _alert(uuid.uuid4().hex, call_id, trigger, call, self._clock.now())
        self._metrics.alerts_total.labels(str(rule.kind)).inc()
        logger.info("alert %s: %s", rule.name, trigger.reason, extra={"call_id": call_id})
        actions = rule.actions
        if actions.alert:
            await self._publish_alert(alert)
        if actions.raise_priority:
            await self._raise_priority(call_id, actions.raise_priority)
        if actions.tag_caller and call is not None and call.caller_key:
            await self._callers.add_tag(call.caller_key, actions.tag_caller)

    async def _publish_alert(self, alert: Alert) -> None:
        await self._alerts.append(alert)
        await self._bus.publish(
            AlertRaised(
                data=alert, call_id=alert.call_id, agent_id=alert.agent_id, queue=alert.queue
            )
        )

    async def _raise_priority(self, call_id: str, by: int) -> None:
        raised = await self._routing.raise_priority(call_id, by)
        if raised is not None:
            logger.info("priority raised to %d", raised.priority, extra={"call_id": call_id})


def _alert(alert_id: str, call_id: str, trigger: Trigger, call: Call | None, at: datetime) -> Alert:
    """The alert a trigger raises, with what is known of its call (None: not stored)."""
    rule = trigger.rule
    return Alert(
        id=alert_id,
        call_id=call_id,
        rule=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        reason=trigger.reason,
        at=at,
        speaker=trigger.speaker,
        queue=call.queue if call else None,
        agent_id=call.agent_id if call else None,
        caller=call.caller_key if call else None,
    )
