"""Routing decisions to the gateway, generic dialect: signed JSON webhooks with retries.

Each `route.*` event is POSTed to the configured URL with the same HMAC headers the
generic dialect accepts (X-Callcenter-Timestamp, X-Callcenter-Signature). Deliveries wait
in bounded queues, one per worker and chosen by call id so that one call's events
arrive in order; 5xx, 429 and network errors are retried with exponential back-off,
other 4xx are final. Every drop and failure is counted.

aiohttp is used here as an HTTP *client*: the gateway adapters own outbound calls to the
gateways (the STYLE rule that only web/ imports aiohttp is about the server side)."""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime

import aiohttp
import msgspec

from callcenter.backoff import Backoff
from callcenter.domain.calls import Call, Reservation
from callcenter.domain.routing import Decision
from callcenter.gateways.generic.signed_post import post_signed
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
WORKERS = 4
MAX_ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 0.25


class RouteWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """The body of one outbound routing event."""

    type: str
    event_id: str
    occurred_at: datetime
    call_id: str
    gateway_call_id: str
    queue: str
    state: str
    agent_id: str | None = None
    reservation: Reservation | None = None
    decision: Decision | None = None


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        metrics: Metrics,
        now: Callable[[], datetime],
        timeout_seconds: float = 5.0,
        first_backoff_seconds: float = FIRST_BACKOFF_SECONDS,
    ) -> None:
        self._url = url
        self._secret = secret
        self._metrics = metrics
        self._now = now
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._backoff = Backoff(first_backoff_seconds, first_backoff_seconds * 2**MAX_ATTEMPTS)
        self._queues: list[asyncio.Queue[RouteWebhook]] = [
            asyncio.Queue(QUEUE_LIMIT // WORKERS) for _ in range(WORKERS)
        ]
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._workers = [
            asyncio.create_task(self._work(queue), name=f"webhook-{i}")
            for i, queue in enumerate(self._queues)
        ]

    async def stop(self, grace_seconds: float) -> None:
        """Deliver what is queued (up to `grace_seconds`), then stop the workers."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(queue.join() for queue in self._queues)), grace_seconds
            )
        except TimeoutError:
            left = sum(queue.qsize() for queue in self._queues)
            logger.warning("%d gateway webhooks undelivered at shutdown", left)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        if not kind.startswith("route."):
            return  # not a routing decision for the gateway (route.callback is sent apart)
        body = RouteWebhook(
            type=kind,
            event_id=str(uuid.uuid4()),
            occurred_at=self._now(),
            call_id=call.id,
            gateway_call_id=call.gateway_call_id,
            queue=call.queue,
            state=str(call.state),
            agent_id=call.agent_id,
            reservation=call.reservation,
            decision=decision,
        )
        try:
            self._queues[zlib.crc32(call.id.encode()) % WORKERS].put_nowait(body)
        except asyncio.QueueFull:
            self._metrics.webhook_deliveries_total.labels(kind, "dropped").inc()
            logger.error("gateway webhook queue full: %s for call %s dropped", kind, call.id)

    async def _work(self, queue: asyncio.Queue[RouteWebhook]) -> None:
        while True:
            body = await queue.get()
            try:
                result = await self._deliver(body)
            except Exception:
                # task boundary: never let one delivery kill the worker
                logger.exception("gateway webhook %s failed", body.type)
                result = "error"
            finally:
                queue.task_done()
            self._metrics.webhook_deliveries_total.labels(body.type, result).inc()

    async def _deliver(self, body: RouteWebhook) -> str:
        payload = msgspec.json.encode(body)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status = await self._post(payload)
            if status is not None and 200 <= status < 300:
                return "delivered"
            if status is not None and 400 <= status < 500 and status != 429:
                logger.error("gateway refused %s with HTTP %d; not retried", body.type, status)
                return "refused"
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(self._backoff.delay(attempt))
        logger.error("gateway webhook %s for call %s gave up", body.type, body.call_id)
        return "failed"

    async def _post(self, payload: bytes) -> int | None:
        assert self._session is not None, "start() first"
        timestamp = int(self._now().timestamp())
        return await post_signed(self._session, self._url, self._secret, timestamp, payload)
