"""Prometheus metrics of one process, built against an explicit registry.

Counters and histograms count what this instance did; gauges that describe shared state
(calls waiting, agents by state) are read from Redis at scrape time by a collector
registered on the same registry (services/scrape_metrics.py). Labels come from small
bounded sets: queue names, states, outcomes; never a call, caller or agent id."""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

NAMESPACE = "callcenter"
# Wait buckets before any queue's service-level threshold is added (seconds).
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
HANDLE_BUCKETS = (15.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1800.0)
REPEAT_CALL_DAYS = 7  # as callcenter.domain.callers.REPEAT_WINDOW


_go_float: Callable[[float], str] = floatToGoString  # untyped in prometheus_client


def bucket_label(bound: float) -> str:
    """The `le` label value Prometheus clients give a bucket bound (20 → "20.0")."""
    return _go_float(bound)


@dataclass(slots=True)
class _Series:
    per_bucket: list[int]  # observations in (previous bound, bound]; the last is (max, +Inf)
    total: float = 0.0
    count: int = 0


class QueueHistogram(Collector):
    """A histogram by queue, lighter than the client library's (a scrape renders thousands
    of these bucket lines), whose bounds can grow while it runs: the wait histogram gets
    every queue's service-level threshold as a bucket, even after a rules reload.

    A bound added later starts with the cumulative count of the bound below it (the
    observations between them cannot be split any more); from then on it is exact, so
    rates over it are right and cumulative counts never decrease."""

    def __init__(self, name: str, documentation: str, buckets: Iterable[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds: list[float] = sorted({float(b) for b in buckets})
        self._series: dict[str, _Series] = {}
        # label dicts are reused from scrape to scrape: nothing downstream changes them
        self._bucket_labels: dict[tuple[str, float], dict[str, str]] = {}
        self._queue_labels: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()  # exposition runs on another thread

    @property
    def bounds(self) -> tuple[float, ...]:
        return tuple(self._bounds)

    def add_bounds(self, bounds: Iterable[float]) -> None:
        """Make each of `bounds` (finite, positive) a bucket bound."""
        with self._lock:
            for bound in sorted({float(b) for b in bounds} - set(self._bounds)):
                index = bisect.bisect_left(self._bounds, bound)
                self._bounds.insert(index, bound)
                for series in self._series.values():
                    series.per_bucket.insert(index, 0)

    def observe(self, queue: str, value: float) -> None:
        with self._lock:
            series = self._series.get(queue)
            if series is None:
                series = self._series[queue] = _Series(per_bucket=[0] * (len(self._bounds) + 1))
            series.per_bucket[bisect.bisect_left(self._bounds, value)] += 1
            series.count += 1
            series.total += value

    def queues(self) -> list[str]:
        with self._lock:
            return sorted(self._series)

    def describe(self) -> list[Metric]:
        return [Metric(self._name, self._documentation, "histogram")]

    def collect(self) -> list[Metric]:
        family = Metric(self._name, self._documentation, "histogram")
        samples = family.samples
        bucket, total, count = f"{self._name}_bucket", f"{self._name}_sum", f"{self._name}_count"
        with self._lock:
            bounds = [*self._bounds, math.inf]
            for queue, series in sorted(self._series.items()):
                cumulative = 0
                for bound, observed in zip(bounds, series.per_bucket, strict=True):
                    cumulative += observed
                    samples.append(Sample(bucket, self._labels(queue, bound), float(cumulative)))
                labels = self._labels(queue, None)
                samples.append(Sample(count, labels, float(series.count)))
                samples.append(Sample(total, labels, series.total))
        return [family]

    def _labels(self, queue: str, bound: float | None) -> dict[str, str]:
        if bound is None:
            found = self._queue_labels.get(queue)
            if found is None:
                found = self._queue_labels[queue] = {"queue": queue}
            return found
        key = (queue, bound)
        labels = self._bucket_labels.get(key)
        if labels is None:
            labels = self._bucket_labels[key] = {"queue": queue, "le": bucket_label(bound)}
        return labels


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_total = Counter(
            "events",
            "Gateway events received, by dialect, type and result.",
            ["dialect", "type", "result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.calls_total = Counter(
            "calls",
            "Calls finished, by queue and outcome.",
            ["queue", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.http_rejections_total = Counter(
            "http_rejections",
            "Requests refused, by HTTP status.",
            ["status"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.auth_failures_total = Counter(
            "auth_failures",
            "Requests with missing, bad or replayed credentials, by reason.",
            ["reason"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.invariant_repairs_total = Counter(
            "invariant_repairs",
            "Inconsistencies the invariant sweep found and repaired, by kind (never, normally).",
            ["kind"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.task_errors_total = Counter(
            "task_errors",
            "Unexpected errors caught at a task boundary, by task.",
            ["task"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.routing_decisions_total = Counter(
            "routing_decisions",
            "Routing decisions, by queue and result (offered, lost_race).",
            ["queue", "result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.reservations_total = Counter(
            "reservations",
            "Offers answered, by result (accepted, rejected, timeout, agent_leg_failed).",
            ["result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.routing_decision_seconds = Histogram(
            "routing_decision_seconds",
            "Time per routing decision: ranking plus the claim.",
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
        )
        self.webhook_deliveries_total = Counter(
            "webhook_deliveries",
            "Outbound gateway webhooks, by type and result.",
            ["type", "result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.media_streams_active = Gauge(
            "media_streams_active",
            "Media legs open on this instance.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.media_frames_total = Counter(
            "media_frames",
            "Audio frames received from gateways, by result.",
            ["result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.media_rejections_total = Counter(
            "media_rejections",
            "Media connections closed for bad input, by dialect and reason.",
            ["dialect", "reason"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.asr_dropped_frames_total = Counter(
            "asr_dropped_frames",
            "Audio frames never recognised (the pool fell behind).",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.asr_lag_seconds = Histogram(
            "asr_lag_seconds",
            "Time a frame waited between arrival and recognition.",
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
        )
        self.asr_streams_active = Gauge(
            "asr_streams_active",
            "Call legs with a recognizer on this instance.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.utterances_total = Counter(
            "utterances",
            "Final utterances, by speaker and sentiment label.",
            ["speaker", "sentiment"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.utterance_sentiment = Histogram(
            "utterance_sentiment",
            "Sentiment score of final utterances (-1..1).",
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(-0.75, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 0.75, 1.0),
        )
        self.alerts_total = Counter(
            "alerts",
            "Alerts raised on live calls, by kind (mood, keyword, silence).",
            ["kind"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.bus_events_total = Counter(
            "bus_events",
            "Events published on the event bus by this instance, by type.",
            ["type"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.event_times_clamped_total = Counter(
            "event_times_clamped",
            "Events whose occurred_at was too far from the server's clock and was clamped "
            "to it, by dialect.",
            ["dialect"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.bus_rewinds_total = Counter(
            "bus_rewinds",
            "Times this instance found the bus sequence gone back (Redis flushed, restored "
            "or failed over) and started its live pages over from a snapshot.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.queue_wait_seconds = QueueHistogram(
            f"{NAMESPACE}_queue_wait_seconds",
            "Time answered calls waited in the queue, by queue (a bucket at every "
            "service-level threshold); observed when the call ends.",
            WAIT_BUCKETS,
        )
        self.handle_seconds = QueueHistogram(
            f"{NAMESPACE}_handle_seconds",
            "Talk time of answered calls, answer to hang-up, by queue.",
            HANDLE_BUCKETS,
        )
        self.unresolved_calls_total = Counter(
            "unresolved_calls",
            f"Answered contacts whose customer came back to the same queue, on any channel, "
            f"within {REPEAT_CALL_DAYS} days (not resolved at first contact), by queue.",
            ["queue"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.survey_csat = QueueHistogram(
            f"{NAMESPACE}_survey_csat",
            "Post-call CSAT answers (1-5), by the call's queue.",
            (1, 2, 3, 4),  # 5: +Inf
        )
        self.survey_nps = QueueHistogram(
            f"{NAMESPACE}_survey_nps",
            "Post-call NPS answers (0-10), by the call's queue; the buckets are the bands: "
            "le 6 detractors, le 8 passives, above promoters.",
            (6, 8),
        )
        self.survey_ces = QueueHistogram(
            f"{NAMESPACE}_survey_ces",
            "Post-call customer effort answers (1-7), by the call's queue.",
            (1, 2, 3, 4, 5, 6),  # 7: +Inf
        )
        self.callbacks_total = Counter(
            "callbacks",
            "Callbacks by queue and outcome: requested, then one final outcome each "
            "(answered, busy, no_answer, failed, canceled) and every retried attempt "
            "(retried).",
            ["queue", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.callback_wait_seconds = QueueHistogram(
            f"{NAMESPACE}_callback_wait_seconds",
            "Time from a callback's place in line (its original arrival, or the time it "
            "was scheduled for) to an agent accepting it, by queue.",
            WAIT_BUCKETS,
        )
        self.tasks_total = Counter(
            "tasks",
            "Text tasks (chat, SMS, email) by channel, queue and outcome: created, then "
            "one final outcome each (handled, abandoned).",
            ["channel", "queue", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.task_messages_total = Counter(
            "task_messages",
            "Conversation messages of text tasks by channel and author (customer, agent).",
            ["channel", "author"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.chat_rejections_total = Counter(
            "chat_rejections",
            "Web chat input refused, by reason: new chats (too_many_chats, bad_start), the "
            "socket's first message (no_auth, bad_token, chat_gone), later frames (too_big, "
            "too_long, rate, flood, bad_message, refused) and sockets too far behind (behind).",
            ["reason"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.sms_status_total = Counter(
            "sms_status",
            "Delivery statuses Twilio reported for agents' SMS replies.",
            ["status"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.first_response_seconds = Histogram(
            "first_response_seconds",
            "Text tasks: the customer's first message to the agent's first reply, by channel.",
            ["channel"],
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400),
        )
        self.task_handle_seconds = Histogram(
            "task_handle_seconds",
            "Text tasks: accepted by an agent to resolved, by channel.",
            ["channel"],
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 14400, 86400),
        )
        for histogram in (
            self.callback_wait_seconds,
            self.queue_wait_seconds,
            self.handle_seconds,
            self.survey_csat,
            self.survey_nps,
            self.survey_ces,
        ):
            self.registry.register(histogram)
        self.event_apply_seconds = Histogram(
            "event_apply_seconds",
            "Time to apply one canonical event, storage included.",
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
