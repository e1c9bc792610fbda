"""The exposition of a live server: promtool accepts it, and the shared-state gauges, the
wait histogram's service-level buckets and the customer-experience KPIs say what the
events imply."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from blockbuster import blockbuster_ctx

from callcenter.observability_setup import observability
from callcenter.settings import Settings
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.observability.conftest import (
    ago,
    answered_call,
    busy_contact_center,
    event,
    make_agents,
    observed_app,
    post_events,
    sample,
    scrape,
)


async def test_promtool_accepts_the_exposition(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await busy_contact_center(client, admin, gateway)
    text = await scrape(client)
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is required"
    process = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate(text.encode())
    assert (process.returncode, output.decode()) == (0, "")
    # and it is not trivially small: every kind of family is there
    for name in (
        "callcenter_queue_wait_seconds_bucket",
        "callcenter_handle_seconds_count",
        "callcenter_survey_nps_bucket",
        "callcenter_unresolved_calls_total",
        "callcenter_queue_calls_waiting",
        "callcenter_agents",
        "process_resident_memory_bytes",
    ):
        assert f"\n{name}" in text, name


async def test_queue_gauges_come_from_redis(client: AppClient, gateway: dict[str, str]) -> None:
    await post_events(
        client,
        gateway,
        event("call.created", "e1", "c1", queue="billing", occurred_at=ago(42)),
        event("call.created", "e2", "c2", queue="billing", occurred_at=ago(5)),
        event("call.created", "e3", "c3", queue="sales", occurred_at=ago(7)),
        event("call.created", "e4", "c4", queue="sales"),
        event("call.ended", "e5", "c4"),
    )
    text = await scrape(client)
    assert sample(text, "callcenter_queue_calls_waiting", queue="billing") == 2
    assert sample(text, "callcenter_queue_calls_waiting", queue="sales") == 1
    assert sample(text, "callcenter_queue_calls_waiting", queue="support") == 0
    billing = sample(text, "callcenter_queue_longest_wait_seconds", queue="billing")
    assert billing is not None and 42 <= billing < 60
    sales = sample(text, "callcenter_queue_longest_wait_seconds", queue="sales")
    assert sales is not None and 7 <= sales < 25
    assert sample(text, "callcenter_queue_longest_wait_seconds", queue="support") == 0
    assert sample(text, "callcenter_calls_active") == 3
    assert sample(text, "callcenter_redis_up") == 1


async def test_offered_calls_still_wait(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    """A call offered to an agent (ringing) has not been answered: its caller waits."""
    response = await client.put(
        "/v1/agents/a1", json={"name": "A", "skills": {"billing": 3}}, headers=admin
    )
    assert response.status == 201
    await post_events(
        client, gateway, event("call.created", "e1", "c1", queue="billing", occurred_at=ago(30))
    )
    response = await client.post(
        "/v1/agents/a1/presence", json={"presence": "available"}, headers=admin
    )
    assert response.status == 200
    for _ in range(100):
        call = await (await client.get("/v1/calls/c1", headers=admin)).json()
        if call["state"] == "offered":
            break
        await asyncio.sleep(0.02)
    assert call["state"] == "offered"
    text = await scrape(client)
    assert sample(text, "callcenter_queue_calls_waiting", queue="billing") == 1
    waited = sample(text, "callcenter_queue_longest_wait_seconds", queue="billing")
    assert waited is not None and waited >= 30
    assert sample(text, "callcenter_agents", presence="available", activity="reserved") == 1
    assert sample(text, "callcenter_agents", presence="available", activity="idle") == 0


@pytest.fixture
async def two_instances(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> AsyncIterator[tuple[AppClient, AppClient]]:
    """Two servers on one Redis, as behind a load balancer."""
    first = await aiohttp_client(observed_app(settings))
    second = await aiohttp_client(observed_app(settings))
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield first, second


async def test_every_instance_reports_the_shared_truth(
    two_instances: tuple[AppClient, AppClient],
) -> None:
    here, there = two_instances
    token, _ = await here.app[SERVICES].auth.create_token("gateway", "test")
    gateway = {"Authorization": f"Bearer {token}"}
    await post_events(
        here, gateway, *(event("call.created", f"e{i}", f"c{i}", queue="sales") for i in range(3))
    )
    texts = await scrape(here), await scrape(there)
    for text in texts:
        assert sample(text, "callcenter_queue_calls_waiting", queue="sales") == 3
        assert sample(text, "callcenter_calls_in_state", state="queued") == 3
    # counters are per instance: only the one that took the events counted them
    labels = {"dialect": "generic", "type": "call.created", "result": "applied"}
    assert sample(texts[0], "callcenter_events_total", **labels) == 3
    assert sample(texts[1], "callcenter_events_total", **labels) is None


async def test_wait_histogram_has_a_bucket_at_every_service_level_threshold(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await make_agents(client, admin, "a1")
    await post_events(
        client,
        gateway,
        *answered_call("c1", "support", "a1", waited=22, talked=30, caller="+15550000001"),
    )
    text = await scrape(client)
    # the rules' thresholds: 15, 20, 25 (not a default bucket) and the default 20
    for queue, le in (("support", "25.0"), ("billing", "20.0"), ("sales", "15.0")):
        assert sample(
            text, "callcenter_queue_service_level_seconds", queue=queue, bucket=le
        ) == float(le)
    buckets = {"20.0": 0.0, "25.0": 1.0, "+Inf": 1.0}
    for le, count in buckets.items():
        assert sample(text, "callcenter_queue_wait_seconds_bucket", queue="support", le=le) == count
    wait_sum = sample(text, "callcenter_queue_wait_seconds_sum", queue="support")
    assert wait_sum == pytest.approx(22, abs=0.01)
    assert sample(text, "callcenter_handle_seconds_count", queue="support") == 1
    talk = sample(text, "callcenter_handle_seconds_sum", queue="support")
    assert talk == pytest.approx(30, abs=0.01)


async def test_abandoned_calls_are_not_answered_waits(
    client: AppClient, gateway: dict[str, str]
) -> None:
    await post_events(
        client,
        gateway,
        event("call.created", "e1", "c1", queue="billing", occurred_at=ago(50)),
        event("call.ended", "e2", "c1"),
    )
    text = await scrape(client)
    assert sample(text, "callcenter_calls_total", queue="billing", outcome="abandoned") == 1
    assert sample(text, "callcenter_queue_wait_seconds_count", queue="billing") is None


async def test_survey_answers_are_counted_once_per_call_and_queue(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await make_agents(client, admin, "a1")
    await post_events(
        client,
        gateway,
        *answered_call("c1", "billing", "a1", waited=1, talked=1, caller="+15550000001"),
        event("survey.completed", "s1", "c1", csat=4, nps=9),
        event("survey.completed", "s2", "c1", csat=5, ces=2),  # csat again: not recounted
        event("survey.completed", "s1", "c1", csat=4, nps=9),  # a duplicate delivery
    )
    text = await scrape(client)

    def bucket(name: str, le: str) -> float | None:
        return sample(text, f"callcenter_survey_{name}_bucket", queue="billing", le=le)

    assert sample(text, "callcenter_survey_csat_count", queue="billing") == 1
    assert sample(text, "callcenter_survey_csat_sum", queue="billing") == 4
    assert (bucket("csat", "3.0"), bucket("csat", "4.0")) == (0, 1)
    assert sample(text, "callcenter_survey_nps_sum", queue="billing") == 9
    assert (bucket("nps", "6.0"), bucket("nps", "8.0"), bucket("nps", "+Inf")) == (0, 0, 1)
    assert sample(text, "callcenter_survey_ces_sum", queue="billing") == 2
    assert sample(text, "callcenter_survey_ces_count", queue="billing") == 1


@pytest.fixture
async def listed_twice(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> AppClient:
    app = observed_app(settings)
    app.cleanup_ctx.append(observability)
    assert app.cleanup_ctx.count(observability) == 2
    return await aiohttp_client(app)


async def test_the_observability_context_installs_once(listed_twice: AppClient) -> None:
    text = await scrape(listed_twice)
    assert text.count("# TYPE callcenter_queue_calls_waiting gauge") == 1
    assert text.count("# TYPE process_resident_memory_bytes gauge") == 1
    assert sample(text, "callcenter_redis_up") == 1
