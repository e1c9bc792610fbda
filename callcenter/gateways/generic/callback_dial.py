"""Callbacks placed by a generic gateway: a signed `route.callback` webhook asks it to call
the customer and bridge the accepting agent.

The body's `event_id` is the attempt's dial id: the gateway must treat a repeated one as
the same request (the server repeats it when it cannot tell whether the first arrived).
The gateway then reports on the new leg with canonical events for the same `call_id`,
tagged with the attribute `dial_id` = that event_id: `call.ringing` (placed),
`call.answered`, `call.ended` (`end_reason` busy, no_answer or failed before an answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp
import msgspec

from callcenter.backoff import Backoff
from callcenter.domain.calls import Call, Dial
from callcenter.errors import DialRefused
from callcenter.gateways.generic.signed_post import post_signed
from callcenter.metrics import Metrics

KIND = "route.callback"
ATTEMPTS = 3


class CallbackWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """The body of `route.callback`."""

    type: str
    event_id: str  # the dial id: one per attempt, repeated as is when re-sent
    occurred_at: datetime
    call_id: str
    agent_id: str
    number: str
    queue: str
    attempt: int
    name: str | None = None


class WebhookCallbackDialer:
    """A CallbackDialer for gateways that take the generic dialect's webhooks."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        secret: str,
        *,
        metrics: Metrics,
        now: Callable[[], datetime],
        backoff: Backoff | None = None,
    ) -> None:
        self._session = session
        self._url = url
        self._secret = secret
        self._metrics = metrics
        self._now = now
        self._backoff = backoff or Backoff(0.25, 2.0)

    async def dial(self, call: Call, dial: Dial) -> str | None:
        """POST `route.callback`; 2xx: placed. 4xx other than 429: DialRefused. 5xx, 429
        and network errors are retried a few times, then raised (the attempt's fate is
        unknown; the dial id makes a later repeat safe)."""
        assert call.callback is not None
        body = msgspec.json.encode(
            CallbackWebhook(
                type=KIND,
                event_id=dial.id,
                occurred_at=self._now(),
                call_id=call.id,
                agent_id=dial.agent_id,
                number=call.callback.number,
                queue=call.queue,
                attempt=dial.attempt,
                name=call.callback.name,
            )
        )
        for attempt in range(1, ATTEMPTS + 1):
            timestamp = int(self._now().timestamp())
            status = await post_signed(self._session, self._url, self._secret, timestamp, body)
            if status is not None and 200 <= status < 300:
                self._metrics.webhook_deliveries_total.labels(KIND, "delivered").inc()
                return None
            if status is not None and 400 <= status < 500 and status != 429:
                self._metrics.webhook_deliveries_total.labels(KIND, "refused").inc()
                raise DialRefused(f"the gateway answered HTTP {status}")
            if attempt < ATTEMPTS:
                await asyncio.sleep(self._backoff.delay(attempt))
        self._metrics.webhook_deliveries_total.labels(KIND, "failed").inc()
        raise ConnectionError(f"{KIND} for call {call.id} not delivered")
