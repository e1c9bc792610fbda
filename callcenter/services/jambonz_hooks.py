"""jambonz call status webhooks (JSON, Jambonz-Signature): the signature checked within its
time window, the body mapped onto a canonical event and applied."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.errors import Forbidden, Unauthorized
from callcenter.gateways.jambonz.call_hook import map_call_webhook
from callcenter.gateways.jambonz.signature import SIGNATURE_HEADER, check_jambonz_signature
from callcenter.metrics import Metrics
from callcenter.services.call_events import CallEventService
from callcenter.services.clock import Clock

JAMBONZ_DIALECT = "jambonz"


class JambonzSignatures:
    """Checks Jambonz-Signature with the account's webhook secret; counts every refusal."""

    def __init__(self, secret: str, *, clock: Clock, metrics: Metrics) -> None:
        self._secret = secret
        self._clock = clock
        self._metrics = metrics

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise Forbidden (and count it) for a missing secret or a signature that is
        missing, malformed, stale or not the body's."""
        try:
            if not self._secret:
                raise Unauthorized("jambonz webhooks need CALLCENTER_JAMBONZ_SECRET")
            check_jambonz_signature(
                self._secret, headers.get(SIGNATURE_HEADER), body, self._clock.now().timestamp()
            )
        except Unauthorized as error:
            self._metrics.auth_failures_total.labels("jambonz_signature").inc()
            raise Forbidden(str(error)) from None


class JambonzHooks:
    def __init__(
        self, events: CallEventService, *, secret: str, clock: Clock, metrics: Metrics
    ) -> None:
        self._events = events
        self._signatures = JambonzSignatures(secret, clock=clock, metrics=metrics)
        self._clock = clock

    async def call_status(self, headers: Mapping[str, str], body: bytes) -> None:
        """Apply one call status webhook. Raises Forbidden (counted) for a missing secret or
        a bad signature, InvalidInput for a body that is not a jambonz call hook, and
        whatever applying the event raises."""
        self._signatures.verify(headers, body)
        event = map_call_webhook(body, received_at=self._clock.now())
        if event is not None:
            await self._events.apply(event, dialect=JAMBONZ_DIALECT)
