"""Inbound email through Mailgun routes: the post's signature checked (its token taken once
within the window), the email decoded and added to the customer's conversation: the thread
its In-Reply-To or References lead to, else the customer's open email conversation, else a
new task. A redelivered Message-ID is taken once."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.errors import Forbidden, Unauthorized
from callcenter.gateways.mailgun.inbound import check_signature, inbound_email
from callcenter.metrics import Metrics
from callcenter.services.clock import Clock
from callcenter.services.task_inbound import InboundConversations
from callcenter.storage.replay import ReplayGuard

DIALECT = "mailgun"


class MailgunInbound:
    def __init__(
        self,
        inbound: InboundConversations,
        replay: ReplayGuard,
        *,
        signing_key: str,
        tolerance_seconds: int,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._inbound = inbound
        self._replay = replay
        self._key = signing_key
        self._tolerance = tolerance_seconds
        self._clock = clock
        self._metrics = metrics

    async def receive(self, form: Mapping[str, str]) -> bool:
        """Take one email; True when it was delivered before. Raises Forbidden (counted)
        for a missing key, a bad, stale or reused signature; InvalidInput naming a field."""
        try:
            token = check_signature(
                self._key,
                form,
                now=self._clock.now().timestamp(),
                tolerance_seconds=self._tolerance,
            )
            if not await self._replay.first_use("mailgun:" + token):
                raise Unauthorized("this Mailgun token was used before")
        except Unauthorized as error:
            self._metrics.auth_failures_total.labels("mailgun_signature").inc()
            raise Forbidden(str(error)) from None
        _, duplicate = await self._inbound.receive(inbound_email(form), dialect=DIALECT)
        self._metrics.events_total.labels(
            DIALECT, "email", "duplicate" if duplicate else "ok"
        ).inc()
        return duplicate
