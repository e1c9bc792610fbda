"""The timer loop: takes due timers from Redis (any instance may) and fires them."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from callcenter.domain.timers import Timer, TimerKind
from callcenter.errors import StorageUnavailable
from callcenter.metrics import Metrics
from callcenter.services.agents import AgentService
from callcenter.services.callbacks import CallbackService
from callcenter.services.clock import Clock
from callcenter.services.routing import RoutingService
from callcenter.storage.timers import TimerRepository

logger = logging.getLogger(__name__)

MAX_SLEEP_SECONDS = 0.2


class TimerLoop:
    def __init__(
        self,
        timers: TimerRepository,
        routing: RoutingService,
        agents: AgentService,
        callbacks: CallbackService,
        *,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._timers = timers
        self._routing = routing
        self._agents = agents
        self._callbacks = callbacks
        self._clock = clock
        self._metrics = metrics

    async def run(self) -> None:
        """Fire due timers until cancelled. Redis being away is logged once, then once
        more with how long it lasted; other failures are logged each time."""
        unavailable_since: float | None = None
        failures = 0
        while True:
            try:
                handled = await self.fire_due()
            except StorageUnavailable as error:
                self._metrics.task_errors_total.labels("timers").inc()
                failures += 1
                if unavailable_since is None:
                    unavailable_since = asyncio.get_running_loop().time()
                    logger.warning("timers paused: %s", error)
                handled = 0
            except Exception:
                # task boundary: a bug in one handler; keep the loop alive
                logger.exception("timer loop failed")
                self._metrics.task_errors_total.labels("timers").inc()
                handled = 0
            else:
                if unavailable_since is not None:
                    logger.warning(
                        "timers resumed after %.1f s (%d failed rounds)",
                        asyncio.get_running_loop().time() - unavailable_since,
                        failures,
                    )
                    unavailable_since, failures = None, 0
            if handled == 0:
                await asyncio.sleep(await self._pause())

    async def _pause(self) -> float:
        try:
            due = await self._timers.next_due()
        except Exception:
            return MAX_SLEEP_SECONDS
        if due is None:
            return MAX_SLEEP_SECONDS
        wait = datetime.fromtimestamp(due, UTC) - self._clock.now()
        return min(MAX_SLEEP_SECONDS, max(0.005, wait.total_seconds()))

    async def fire_due(self) -> int:
        """Fire every timer due now; return how many were taken. A timer whose handler
        fails stays leased and fires again when the lease ends."""
        lease_until, taken = await self._timers.take_due(self._clock.now())
        for member, timer in taken:
            if timer is None or await self._fire(timer):
                await self._timers.done(member, lease_until)
        return len(taken)

    async def _fire(self, timer: Timer) -> bool:
        try:
            if timer.kind is TimerKind.WRAP_UP:
                await self._agents.wrap_up_expired(timer.subject, timer.ref)
            elif timer.kind is TimerKind.DIAL:
                await self._callbacks.fire(timer)
            else:
                await self._routing.fire(timer)
        except Exception:
            # one bad timer must not block the others: logged, counted, retried after its lease
            logger.exception("timer %s failed", timer.kind, extra={"subject": timer.subject})
            self._metrics.task_errors_total.labels("timer_" + str(timer.kind)).inc()
            return False
        return True
