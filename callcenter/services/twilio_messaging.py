"""Twilio Messaging webhooks: an incoming SMS joins the customer's open SMS conversation
(one task per customer number until it is resolved) or opens one; a status callback of one
of our replies is counted (undelivered and failed ones too). Both need a valid
X-Twilio-Signature."""

from __future__ import annotations

import logging

from callcenter.gateways.twilio.messaging import inbound_message, status_report
from callcenter.metrics import Metrics
from callcenter.services.task_inbound import InboundConversations
from callcenter.services.twilio_voice import TwilioRequest, TwilioSignatures

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class TwilioMessaging:
    def __init__(
        self, inbound: InboundConversations, signatures: TwilioSignatures, *, metrics: Metrics
    ) -> None:
        self._inbound = inbound
        self._signatures = signatures
        self._metrics = metrics

    async def incoming(self, request: TwilioRequest) -> str:
        """Take one incoming SMS; answer TwiML with no reply (agents answer later).
        Raises Forbidden (signature), InvalidInput (a field, named)."""
        form = self._signatures.signed_form(request)
        _, duplicate = await self._inbound.receive(inbound_message(form), dialect="twilio")
        self._metrics.events_total.labels("twilio", "sms", "duplicate" if duplicate else "ok").inc()
        return EMPTY_TWIML

    async def status(self, request: TwilioRequest) -> None:
        """A reply's delivery status. Raises Forbidden, InvalidInput."""
        report = status_report(self._signatures.signed_form(request))
        self._metrics.sms_status_total.labels(str(report.status)).inc()
        if report.not_delivered:
            logger.warning(
                "SMS %s not delivered: %s (error %s)",
                report.message_sid,
                report.status,
                report.error_code,
            )
