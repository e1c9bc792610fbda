"""The shared-state collector on its own: thresholds from the rules in force, and a Redis
that does not answer reported as such instead of failing the scrape."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule
from callcenter.metrics import Metrics
from callcenter.services.rules_source import RulesSource
from callcenter.services.scrape_metrics import SharedGauges
from callcenter.storage.callers import CallerRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient
from callcenter.storage.shared_state import SharedStateReader


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def rules_with(**thresholds: float) -> RoutingRules:
    return RoutingRules(
        queues={q: QueueConfig(name=q, service_level_seconds=s) for q, s in thresholds.items()},
        rules=(Rule(name="default"),),
        version=str(sorted(thresholds.items())),
    )


def exposition(gauges: SharedGauges) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(gauges)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


async def test_thresholds_follow_the_rules_in_force(resp: RespClient) -> None:
    rules = [rules_with(billing=20, support=25)]
    source = RulesSource(lambda: rules[0])
    metrics = Metrics()
    gauges = SharedGauges(SharedStateReader(resp), source, metrics, clock=FixedClock())
    assert {20.0, 25.0} <= set(metrics.queue_wait_seconds.bounds)
    await gauges.refresh()
    found = exposition(gauges)
    assert (
        found["callcenter_queue_service_level_seconds", (("bucket", "25.0"), ("queue", "support"))]
        == 25
    )
    assert found["callcenter_queue_calls_waiting", (("queue", "billing"),)] == 0
    assert found["callcenter_agents", (("activity", "idle"), ("presence", "available"))] == 0
    assert found["callcenter_redis_up", ()] == 1

    rules[0] = rules_with(billing=35)
    await source.reload()
    await gauges.refresh()
    assert 35.0 in metrics.queue_wait_seconds.bounds
    found = exposition(gauges)
    assert (
        found["callcenter_queue_service_level_seconds", (("bucket", "35.0"), ("queue", "billing"))]
        == 35
    )
    assert not any(
        key[0] == "callcenter_queue_calls_waiting" and ("queue", "support") in key[1]
        for key in found
    )


async def test_an_unreachable_redis_is_redis_up_0(closed_port_client: RespClient) -> None:
    gauges = SharedGauges(
        SharedStateReader(closed_port_client),
        RulesSource(lambda: rules_with(billing=20)),
        Metrics(),
        clock=FixedClock(),
    )
    await gauges.refresh()
    found = exposition(gauges)
    assert found["callcenter_redis_up", ()] == 0
    assert not any(name == "callcenter_queue_calls_waiting" for name, _ in found)


async def test_a_redis_that_hangs_does_not_hang_the_scrape(silent_port: int) -> None:
    client = RespClient.from_url(f"redis://127.0.0.1:{silent_port}/0", reply_timeout=0.4)
    gauges = SharedGauges(
        SharedStateReader(client),
        RulesSource(lambda: rules_with(billing=20)),
        Metrics(),
        clock=FixedClock(),
        timeout_seconds=0.2,
    )
    try:
        await asyncio.wait_for(gauges.refresh(), 5)
    finally:
        await asyncio.sleep(0.6)  # the client's own watchdog drops the silent connection
        await client.aclose()
    found = exposition(gauges)
    assert found["callcenter_redis_up", ()] == 0
    assert found["callcenter_shared_state_read_seconds", ()] >= 0.2


async def test_retention_is_the_share_of_last_weeks_customers_who_came_back(
    resp: RespClient,
) -> None:
    """Customers a, b, c had contacts 8-13 days ago; a and d in the last 7 days: one of
    the previous week's three came back."""
    callers = CallerRepository(DocumentStore(resp), retention=timedelta(days=30))
    today = FixedClock().now().date()
    for customer, days_ago in (("a", 9), ("b", 10), ("c", 13), ("a", 1), ("d", 0), ("x", 14)):
        await callers.contacted(customer, (today - timedelta(days=days_ago)).isoformat())
    source = RulesSource(lambda: rules_with(billing=20))
    gauges = SharedGauges(SharedStateReader(resp), source, Metrics(), clock=FixedClock())
    await gauges.refresh()
    found = exposition(gauges)
    assert found["callcenter_customers_contacted", (("period", "previous"),)] == 3
    assert found["callcenter_customers_contacted", (("period", "recent"),)] == 2
    assert found["callcenter_customer_retention_ratio", ()] == pytest.approx(1 / 3)
