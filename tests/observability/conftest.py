"""The application with its observability context, against the session's Redis, and a way
to read its Prometheus exposition."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from blockbuster import blockbuster_ctx
from prometheus_client.parser import text_string_to_metric_families

from callcenter.app import create_app
from callcenter.observability_setup import observability
from callcenter.settings import Settings
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.polling import eventually

RULES = Path(__file__).parent / "rules.yaml"
REPO = Path(__file__).resolve().parent.parent.parent


def observed_app(settings: Settings) -> web.Application:
    """`create_app` with the observability context (a no-op once the app lists it)."""
    app = create_app(settings)
    if observability not in app.cleanup_ctx:
        app.cleanup_ctx.append(observability)
    return app


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, rules_dir=RULES)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> AsyncIterator[AppClient]:
    started = await aiohttp_client(observed_app(settings))
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield started


async def scrape(client: AppClient) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    return await response.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample `name` with exactly `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


async def post_events(client: AppClient, headers: dict[str, str], *events: Any) -> None:
    response = await client.post("/v1/events", json=list(events), headers=headers)
    assert response.status == 200, await response.text()


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def event(kind: str, event_id: str, call_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id, "call_id": call_id, **fields}


def answered_call(
    call_id: str, queue: str, agent: str, *, waited: float, talked: float, caller: str
) -> list[dict[str, Any]]:
    """created → answered after `waited` s → ended after `talked` s, all in the past."""
    start = datetime.now(UTC) - timedelta(seconds=waited + talked + 1)
    return [
        event(
            "call.created",
            f"{call_id}-1",
            call_id,
            queue=queue,
            occurred_at=start.isoformat(),
            **{"from": caller},
        ),
        event(
            "call.answered",
            f"{call_id}-2",
            call_id,
            agent_id=agent,
            occurred_at=(start + timedelta(seconds=waited)).isoformat(),
        ),
        event(
            "call.ended",
            f"{call_id}-3",
            call_id,
            occurred_at=(start + timedelta(seconds=waited + talked)).isoformat(),
        ),
    ]


async def make_agents(client: AppClient, admin: dict[str, str], *ids: str) -> None:
    for agent_id in ids:
        response = await client.put(f"/v1/agents/{agent_id}", json={"name": "A"}, headers=admin)
        assert response.status == 201


async def busy_contact_center(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    """Something in every metric family that events can reach."""
    await make_agents(client, admin, "a1", "a2")
    await post_events(
        client,
        gateway,
        *answered_call("h1", "support", "a1", waited=22, talked=95, caller="+15550000001"),
        event("survey.completed", "s1", "h1", csat=4, nps=9, ces=2),
        event("call.created", "w1", "w1", queue="billing", occurred_at=ago(42)),
        event("call.created", "w2", "w2", queue="billing", occurred_at=ago(3)),
        event("call.created", "w3", "w3", queue="sales", **{"from": "+15550000001"}),
        event("call.ended", "w3-end", "w3"),
    )
    response = await client.post("/v1/agents/a1/wrap-up/done", headers=admin)
    assert response.status == 200
    await worked_chat(client, admin, gateway)


async def worked_chat(client: AppClient, admin: dict[str, str], gateway: dict[str, str]) -> None:
    """A chat accepted, answered and resolved by agent c1 (who takes no calls), and a chat
    and an email left waiting: the channel families."""
    body = {"name": "C", "skills": {"support": 3}, "capacity": {"voice": 0, "chat": 1, "email": 0}}
    assert (await client.put("/v1/agents/c1", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    assert (await client.post("/v1/agents/c1/presence", json=presence, headers=admin)).status == 200
    token, _ = await client.app[SERVICES].auth.create_token("agent:c1", "t")
    agent = {"Authorization": f"Bearer {token}"}
    opened = {"channel": "chat", "from": "+15550000001", "queue": "support", "body": "hello"}
    created = await client.post("/v1/tasks", json=opened, headers=gateway)
    assert created.status == 201, await created.text()
    task_id = (await created.json())["task_id"]

    async def offered() -> bool:
        view = await (await client.get(f"/v1/tasks/{task_id}", headers=admin)).json()
        return bool(view["task"]["state"] == "offered")

    await eventually(offered)
    view = await (await client.get(f"/v1/tasks/{task_id}", headers=admin)).json()
    accept = f"/v1/reservations/{view['task']['reservation']['id']}/accept"
    assert (await client.post(accept, headers=agent)).status == 200
    reply = {"body": "hi!"}
    assert (
        await client.post(f"/v1/tasks/{task_id}/messages", json=reply, headers=agent)
    ).status == 201
    assert (await client.post(f"/v1/tasks/{task_id}/resolve", json={}, headers=agent)).status == 200
    for channel in ("chat", "email"):
        waiting = {**opened, "channel": channel, "from": "+15550000002"}
        assert (await client.post("/v1/tasks", json=waiting, headers=gateway)).status == 201
