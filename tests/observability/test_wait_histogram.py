"""The wait histogram whose buckets grow with the service-level thresholds."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from callcenter.metrics import WAIT_BUCKETS, Metrics, QueueHistogram, bucket_label


def buckets(histogram: QueueHistogram, queue: str) -> dict[str, float]:
    (family,) = histogram.collect()
    return {
        s.labels["le"]: s.value
        for s in family.samples
        if s.name.endswith("_bucket") and s.labels["queue"] == queue
    }


def test_observations_land_in_cumulative_buckets_with_inclusive_bounds() -> None:
    histogram = QueueHistogram("w_seconds", "Waits.", (10, 20))
    for value in (0.0, 10.0, 10.5, 20.0, 99.0):
        histogram.observe("q", value)
    assert buckets(histogram, "q") == {"10.0": 2, "20.0": 4, "+Inf": 5}
    (family,) = histogram.collect()
    totals = {s.name: s.value for s in family.samples if not s.name.endswith("_bucket")}
    assert totals == {"w_seconds_count": 5, "w_seconds_sum": 139.5}


def test_a_bound_added_later_starts_from_the_bound_below_and_is_exact_from_then_on() -> None:
    histogram = QueueHistogram("w_seconds", "Waits.", (10, 30))
    for value in (5, 12, 22, 40):
        histogram.observe("q", value)
    histogram.add_bounds([25, 10])  # 10 is already a bound
    assert histogram.bounds == (10, 25, 30)
    assert buckets(histogram, "q") == {"10.0": 1, "25.0": 1, "30.0": 3, "+Inf": 4}
    histogram.observe("q", 24)
    histogram.observe("q", 26)
    assert buckets(histogram, "q") == {"10.0": 1, "25.0": 2, "30.0": 5, "+Inf": 6}
    histogram.observe("new", 24)  # a queue seen after the change has every bucket
    assert buckets(histogram, "new") == {"10.0": 0, "25.0": 1, "30.0": 1, "+Inf": 1}


def test_labels_match_the_client_library_formatting() -> None:
    assert [bucket_label(b) for b in (20, 25.0, 0.5, 600)] == ["20.0", "25.0", "0.5", "600.0"]


def test_it_is_part_of_the_process_registry() -> None:
    metrics = Metrics()
    metrics.queue_wait_seconds.observe("billing", 3.0)
    text = generate_latest(metrics.registry).decode()
    (family,) = (
        f for f in text_string_to_metric_families(text) if f.name == "callcenter_queue_wait_seconds"
    )
    assert family.type == "histogram"
    bounds = [s.labels["le"] for s in family.samples if s.name.endswith("_bucket")]
    assert bounds == [bucket_label(b) for b in WAIT_BUCKETS] + ["+Inf"]
