"""Prometheus metrics of one process, built against an explicit registry.

Counters and histograms count what this instance did; gauges that describe shared state
(calls waiting, agents by state) are read from Redis at scrape time by the web layer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

NAMESPACE = "callcenter"


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
            "Offers answered, by result (accepted, rejected, timeout).",
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
        self.event_apply_seconds = Histogram(
            "event_apply_seconds",
            "Time to apply one canonical event, storage included.",
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
