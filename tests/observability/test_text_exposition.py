"""The fast text exposition writes what prometheus_client writes, minus `_created`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callcenter.metrics import Metrics
from callcenter.web.exposition import TextExposition


class Timestamped(Collector):
    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily("stamped", "With a timestamp.", labels=["k"])
        family.add_metric(["v"], 1.5, timestamp=1700000000.123)
        return [family]


def without_created(text: str) -> str:
    """generate_latest's text without the `_created` families."""
    kept = []
    for line in text.splitlines(keepends=True):
        name = line.split(" ")[2] if line.startswith("#") else line.split("{")[0].split(" ")[0]
        if not name.endswith("_created"):
            kept.append(line)
    return "".join(kept)


def populated() -> Metrics:
    metrics = Metrics()
    metrics.calls_total.labels("billing", "handled").inc(3)
    metrics.calls_total.labels('odd "queue" \\ with\nnewline', "abandoned").inc()
    metrics.queue_wait_seconds.observe("billing", 12.5)
    metrics.queue_wait_seconds.add_bounds([25])
    metrics.handle_seconds.observe("billing", 1e7)  # Go-style exponent formatting
    metrics.survey_nps.observe("billing", 9)
    metrics.asr_lag_seconds.observe(0.03)
    metrics.media_streams_active.set(-2)
    metrics.utterance_sentiment.observe(-0.3)
    Gauge("odd_values", "NaN and infinities.", ["v"], registry=metrics.registry).labels("n").set(
        float("nan")
    )
    metrics.registry.register(Timestamped())
    return metrics


def test_the_same_text_as_prometheus_client_without_created_series() -> None:
    metrics = populated()
    exposition = TextExposition(metrics.registry)
    first = exposition.render().decode()
    assert first == without_created(generate_latest(metrics.registry).decode())
    assert "_created" not in first
    assert 'queue="odd \\"queue\\" \\\\ with\\nnewline"' in first
    assert 'stamped{k="v"} 1.5 1700000000123\n' in first
    # cached prefixes, new values
    metrics.calls_total.labels("billing", "handled").inc()
    second = exposition.render().decode()
    assert 'callcenter_calls_total{outcome="handled",queue="billing"} 4.0\n' in second
    assert second == without_created(generate_latest(metrics.registry).decode())


def test_an_empty_registry_is_empty() -> None:
    assert TextExposition(CollectorRegistry()).render() == b""


def test_process_metrics_render() -> None:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    text = TextExposition(registry).render().decode()
    assert "# TYPE process_resident_memory_bytes gauge\n" in text


def test_numbers_are_written_as_the_client_library_writes_them() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("n", "Numbers.", ["v"], registry=registry)
    values = [0, 3, -2.5, 0.1, 1e-07, 999999.5, 1e6, 123456789.0, -1e9, float("inf")]
    values += [float("-inf"), 2**53]
    for index, value in enumerate(values):
        gauge.labels(str(index)).set(value)
    assert TextExposition(registry).render() == generate_latest(registry)
