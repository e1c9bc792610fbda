"""Health probes, the Prometheus exposition, and errors that escape a handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from blockbuster import blockbuster_ctx
from prometheus_client.parser import text_string_to_metric_families

from callcenter.app import create_app
from callcenter.settings import Settings
from tests.conftest import AppClient

PROBLEM = "application/problem+json"
SECRET_DETAIL = "db password is hunter2"


async def scrape(client: AppClient) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    return await response.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with exactly `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


async def deliver(client: AppClient, body: Any, headers: dict[str, str]) -> int:
    response = await client.post("/v1/events", json=body, headers=headers)
    return response.status


async def test_probes_are_open(client: AppClient) -> None:
    live = await client.get("/healthz")
    assert (live.status, await live.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert (ready.status, await ready.json()) == (200, {"status": "ready"})


async def test_metrics_are_open_and_count_events(
    client: AppClient, gateway: dict[str, str]
) -> None:
    before = await scrape(client)
    labels = {"dialect": "generic", "type": "call.created", "result": "applied"}
    assert sample(before, "callcenter_events_total", **labels) is None
    created = {"type": "call.created", "event_id": "e1", "call_id": "c1", "queue": "billing"}
    assert await deliver(client, created, gateway) == 200
    assert await deliver(client, created, gateway) == 200
    transfer = {"type": "call.transferred", "event_id": "e2", "call_id": "c1"}
    assert await deliver(client, transfer, gateway) == 409

    text = await scrape(client)
    assert sample(text, "callcenter_events_total", **labels) == 1
    assert sample(text, "callcenter_events_total", **{**labels, "result": "duplicate"}) == 1
    rejected = {"dialect": "generic", "type": "call.transferred", "result": "rejected"}
    assert sample(text, "callcenter_events_total", **rejected) == 1
    assert sample(text, "callcenter_calls_in_state", state="queued") == 1
    assert sample(text, "callcenter_calls_in_state", state="connected") == 0
    assert sample(text, "callcenter_calls_active") == 1


async def test_finished_calls_are_counted(client: AppClient, gateway: dict[str, str]) -> None:
    events = [
        {"type": "call.created", "event_id": "e1", "call_id": "c1", "queue": "billing"},
        {"type": "call.ended", "event_id": "e2", "call_id": "c1"},
    ]
    assert await deliver(client, events, gateway) == 200
    text = await scrape(client)
    assert sample(text, "callcenter_calls_total", queue="billing", outcome="abandoned") == 1
    assert sample(text, "callcenter_calls_in_state", state="queued") == 0
    assert sample(text, "callcenter_calls_active") == 0


async def test_agents_by_presence_and_activity(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    for agent_id in ("a1", "a2", "a3"):
        response = await client.put(f"/v1/agents/{agent_id}", json={"name": "A"}, headers=admin)
        assert response.status == 201
    for agent_id in ("a2", "a3"):
        response = await client.post(
            f"/v1/agents/{agent_id}/presence", json={"presence": "available"}, headers=admin
        )
        assert response.status == 200
    events = [
        {"type": "call.created", "event_id": "e1", "call_id": "c1"},
        {"type": "call.answered", "event_id": "e2", "call_id": "c1", "agent_id": "a3"},
    ]
    assert await deliver(client, events, gateway) == 200
    text = await scrape(client)
    assert sample(text, "callcenter_agents", presence="offline", activity="idle") == 1
    assert sample(text, "callcenter_agents", presence="available", activity="idle") == 1
    assert sample(text, "callcenter_agents", presence="available", activity="on_call") == 1
    assert sample(text, "callcenter_calls_in_state", state="connected") == 1


async def test_metrics_carry_no_identifiers(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await client.put("/v1/agents/a1", json={"name": "A"}, headers=admin)
    events = [
        {"type": "call.created", "event_id": "e1", "call_id": "c1", "from": "+15551230000"},
        {"type": "call.answered", "event_id": "e2", "call_id": "c1", "agent_id": "a1"},
    ]
    assert await deliver(client, events, gateway) == 200
    text = await scrape(client)
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            assert not {"call_id", "agent_id", "caller", "agent"} & set(found.labels)
            assert not {"c1", "a1", "+15551230000"} & set(found.labels.values())


async def test_unknown_route_and_method_are_problems(client: AppClient) -> None:
    missing = await client.get("/v1/nothing")
    assert missing.status == 404
    assert missing.content_type == PROBLEM
    assert (await missing.json(content_type=None))["status"] == 404
    wrong = await client.delete("/healthz")
    assert wrong.status == 405
    assert wrong.content_type == PROBLEM
    assert "GET" in wrong.headers["Allow"]


@pytest.fixture
async def failing_client(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> AppClient:
    """The app with one extra route whose handler fails unexpectedly."""

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError(SECRET_DETAIL)

    app = create_app(settings)
    app.router.add_get("/boom", boom)
    return await aiohttp_client(app)


async def test_unexpected_error_is_a_500_problem_without_details(
    failing_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    with blockbuster_ctx(scanned_modules=["callcenter"]), caplog.at_level(logging.ERROR):
        response = await failing_client.get("/boom")
        assert response.status == 500
        assert response.content_type == PROBLEM
        text = await response.text()
        problem = await response.json(content_type=None)
        metrics = await scrape(failing_client)
    assert (problem["status"], problem["instance"]) == (500, "/boom")
    for leak in ("Traceback", "RuntimeError", "hunter2", "boom(", ".py"):
        assert leak not in text
    # The details go to the log instead, and the failure is counted.
    assert any(r.exc_info and SECRET_DETAIL in str(r.exc_info[1]) for r in caplog.records)
    assert sample(metrics, "callcenter_task_errors_total", task="http") == 1
    assert sample(metrics, "callcenter_http_rejections_total", status="500") == 1
