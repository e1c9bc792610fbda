"""Gauges of the shared state, read from Redis at scrape time: any instance reports the same
truth (aggregate them with max, never sum). Also keeps a bucket of the wait histogram at
every queue's service-level threshold, and exports those thresholds so that PromQL can
pick the right bucket per queue (see deploy/prometheus/rules/callcenter.rules.yml), and
every queue's outlook (estimated wait, callbacks waiting, agents needed, staffed and
ready) as the last outlook tick kept it, at most a few seconds old (`queue_outlook.py`)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callcenter.domain.agents import Activity, Presence
from callcenter.domain.calls import ACTIVE_STATES
from callcenter.domain.queue_outlook import QueueOutlookView
from callcenter.domain.routing_rules import QueueConfig, RoutingRules
from callcenter.errors import StorageUnavailable
from callcenter.metrics import NAMESPACE, Metrics, bucket_label
from callcenter.services.clock import Clock
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.rules_source import RulesSource
from callcenter.storage.shared_state import COUNTED_STATES, SharedState, SharedStateReader

logger = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 5.0  # a scrape must answer (redis_up 0) before Prometheus gives up
# Unconfigured queues (a gateway's hint) get the domain's default threshold.
DEFAULT_SERVICE_LEVEL_SECONDS = QueueConfig(name="default").service_level_seconds


@dataclass(frozen=True, slots=True)
class Reading:
    state: SharedState | None  # None: Redis did not answer
    outlook: list[QueueOutlookView] | None  # None: not read (no outlook, or Redis away)
    at: datetime
    read_seconds: float
    rules: RoutingRules


def service_level_thresholds(rules: RoutingRules) -> set[float]:
    """Every service-level threshold a call may be measured against under `rules`."""
    return {q.service_level_seconds for q in rules.queues.values()} | {
        DEFAULT_SERVICE_LEVEL_SECONDS
    }


class SharedGauges(Collector):
    """Register once on the process registry; call `refresh()` before each exposition."""

    def __init__(
        self,
        reader: SharedStateReader,
        rules: RulesSource,
        metrics: Metrics,
        *,
        clock: Clock,
        timeout_seconds: float = READ_TIMEOUT_SECONDS,
        outlook: QueueOutlook | None = None,
    ) -> None:
        self._reader = reader
        self._outlook = outlook
        self._rules = rules
        self._metrics = metrics
        self._clock = clock
        self._timeout = timeout_seconds
        self._last: Reading | None = None
        self.prepare()

    def prepare(self) -> None:
        """Give the wait histogram a bucket at each threshold of the rules in force."""
        self._metrics.queue_wait_seconds.add_bounds(service_level_thresholds(self._rules.current))

    async def refresh(self) -> None:
        """Read the shared state now (never raises: an unreachable Redis is reported as
        `callcenter_redis_up 0`)."""
        self.prepare()  # the rules may have been reloaded
        started = time.perf_counter()
        state: SharedState | None
        try:
            today = self._clock.now().date()
            state = await asyncio.wait_for(self._reader.read(today), self._timeout)
        except (StorageUnavailable, TimeoutError) as error:
            logger.warning("metrics: shared state not readable: %s", error)
            state = None
        self._last = Reading(
            state=state,
            outlook=await self._read_outlook() if state is not None else None,
            at=self._clock.now(),
            read_seconds=time.perf_counter() - started,
            rules=self._rules.current,
        )

    async def _read_outlook(self) -> list[QueueOutlookView] | None:
        if self._outlook is None:
            return None
        try:
            return await asyncio.wait_for(self._outlook.latest(), self._timeout)
        except (StorageUnavailable, TimeoutError) as error:
            logger.warning("metrics: queue outlook not readable: %s", error)
            return None

    def describe(self) -> list[Metric]:
        return _Families().all()

    def collect(self) -> list[Metric]:
        families = _Families()
        reading = self._last
        if reading is None:
            return []
        families.redis_up.add_metric([], 0.0 if reading.state is None else 1.0)
        families.read_seconds.add_metric([], reading.read_seconds)
        queues = set(reading.rules.queues) | set(self._metrics.queue_wait_seconds.queues())
        if reading.state is not None:
            queues |= set(reading.state.queues)
            families.add_state(reading.state, reading.at, queues)
        if reading.outlook is not None:
            families.add_outlook(reading.outlook)
        for queue in sorted(queues):
            seconds = reading.rules.queue(queue).service_level_seconds
            families.service_level.add_metric([queue, bucket_label(seconds)], seconds)
        return families.all()


class _Families:
    def __init__(self) -> None:
        def gauge(
            name: str, documentation: str, labels: list[str] | None = None
        ) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{NAMESPACE}_{name}", documentation, labels=labels)

        self.calls_in_state = gauge(
            "calls_in_state",
            "Calls per state (ended excluded), shared by all instances.",
            ["state"],
        )
        self.calls_active = gauge(
            "calls_active", "Calls holding a caller or an agent (created to connected)."
        )
        self.agents = gauge("agents", "Agents by presence and activity.", ["presence", "activity"])
        self.waiting = gauge(
            "queue_calls_waiting",
            "Callers waiting in a queue (queued, or offered and not yet answered).",
            ["queue"],
        )
        self.longest_wait = gauge(
            "queue_longest_wait_seconds",
            "How long the longest-waiting caller of a queue has waited (0: none waiting).",
            ["queue"],
        )
        self.service_level = gauge(
            "queue_service_level_seconds",
            "A queue's service-level threshold; `bucket` is the `le` of the matching "
            "bucket of callcenter_queue_wait_seconds.",
            ["queue", "bucket"],
        )
        self.estimated_wait = gauge(
            "queue_estimated_wait_seconds",
            "Estimated wait of a caller joining the queue now (absent: cannot be told).",
            ["queue"],
        )
        self.callbacks_waiting = gauge(
            "callbacks_waiting", "Callbacks waiting in a queue for an agent.", ["queue"]
        )
        self.agents_needed = gauge(
            "queue_agents_needed",
            "Agents the queue needs now to meet its service-level target (Erlang C at the "
            "last 15 minutes' arrivals and the last hour's handle time; absent: unknown).",
            ["queue"],
        )
        self.agents_staffed = gauge(
            "queue_agents_staffed",
            "Agents available to a queue (its skills, presence available), busy or not.",
            ["queue"],
        )
        self.agents_ready = gauge(
            "queue_agents_ready", "Agents available to a queue and idle now.", ["queue"]
        )
        self.tasks_waiting = gauge(
            "queue_tasks_waiting",
            "Text tasks (chat, sms, email) waiting in a queue (queued, or offered and not "
            "yet accepted), by channel.",
            ["queue", "channel"],
        )
        self.tasks_longest_wait = gauge(
            "queue_tasks_longest_wait_seconds",
            "How long the longest-waiting text task of a queue and channel has waited.",
            ["queue", "channel"],
        )
        self.capacity_used = gauge(
            "agent_tasks_held",
            "Text tasks held by agents (offered or being worked), by channel.",
            ["channel"],
        )
        self.capacity_available = gauge(
            "agent_task_capacity",
            "Text tasks the available agents may hold at once (their capacities), by channel.",
            ["channel"],
        )
        self.customers_contacted = gauge(
            "customers_contacted",
            "Customers with a finished contact (any channel) in the last 7 days (`recent`) "
            "and the 7 days before (`previous`); HyperLogLog estimates.",
            ["period"],
        )
        self.retention = gauge(
            "customer_retention_ratio",
            "Share of the previous 7 days' customers who had a contact again in the last 7 "
            "days (absent: nobody in the previous 7 days).",
        )
        self.redis_up = gauge("redis_up", "1 if this instance read the shared state at scrape.")
        self.read_seconds = gauge(
            "shared_state_read_seconds", "Time this scrape spent reading the shared state."
        )

    def add_state(self, state: SharedState, now: datetime, queues: set[str]) -> None:
        for name in (str(s) for s in COUNTED_STATES):
            self.calls_in_state.add_metric([name], state.calls_by_state.get(name, 0))
        self.calls_active.add_metric(
            [], sum(state.calls_by_state.get(str(s), 0) for s in ACTIVE_STATES)
        )
        for presence in Presence:
            for activity in Activity:
                count = state.agents_by_state.get((str(presence), str(activity)), 0)
                self.agents.add_metric([str(presence), str(activity)], count)
        for queue in sorted(queues):
            line = state.queues.get(queue)
            self.waiting.add_metric([queue], line.waiting if line else 0)
            waited = max(0.0, (now - line.oldest).total_seconds()) if line else 0.0
            self.longest_wait.add_metric([queue], waited)
        self.add_channels(state, now)

    def add_channels(self, state: SharedState, now: datetime) -> None:
        """Text tasks waiting per queue and channel, capacity in use, retention."""
        for (queue, channel), line in sorted(state.tasks.items()):
            self.tasks_waiting.add_metric([queue, channel], line.waiting)
            waited = max(0.0, (now - line.oldest).total_seconds())
            self.tasks_longest_wait.add_metric([queue, channel], waited)
        if state.retention is not None:
            self.customers_contacted.add_metric(["recent"], state.retention.recent)
            self.customers_contacted.add_metric(["previous"], state.retention.previous)
            if state.retention.ratio is not None:
                self.retention.add_metric([], state.retention.ratio)
        for channel, (held, room) in sorted(state.capacity.items()):
            self.capacity_used.add_metric([channel], held)
            self.capacity_available.add_metric([channel], room)

    def add_outlook(self, views: list[QueueOutlookView]) -> None:
        for view in views:
            labels = [view.name]
            if view.estimated_wait_seconds is not None:
                self.estimated_wait.add_metric(labels, view.estimated_wait_seconds)
            if view.agents_needed is not None:
                self.agents_needed.add_metric(labels, view.agents_needed)
            self.callbacks_waiting.add_metric(labels, view.callbacks_waiting)
            self.agents_staffed.add_metric(labels, view.agents_staffed)
            self.agents_ready.add_metric(labels, view.agents_ready)

    def all(self) -> list[Metric]:
        return [
            self.calls_in_state,
            self.calls_active,
            self.agents,
            self.waiting,
            self.longest_wait,
            self.tasks_waiting,
            self.tasks_longest_wait,
            self.capacity_used,
            self.capacity_available,
            self.customers_contacted,
            self.retention,
            self.service_level,
            self.estimated_wait,
            self.callbacks_waiting,
            self.agents_needed,
            self.agents_staffed,
            self.agents_ready,
            self.redis_up,
            self.read_seconds,
        ]
