"""/v1/calls: one call (with the agent's view restricted) and calls by state."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AppClient, TokenFactory

PROBLEM = "application/problem+json"


def created(call_id: str) -> dict[str, Any]:
    return {"type": "call.created", "event_id": f"{call_id}-created", "call_id": call_id}


def answered(call_id: str, agent_id: str) -> dict[str, Any]:
    return {
        "type": "call.answered",
        "event_id": f"{call_id}-answered",
        "call_id": call_id,
        "agent_id": agent_id,
    }


def ended(call_id: str) -> dict[str, Any]:
    return {"type": "call.ended", "event_id": f"{call_id}-ended", "call_id": call_id}


async def deliver(client: AppClient, events: list[dict[str, Any]], headers: dict[str, str]) -> None:
    response = await client.post("/v1/events", json=events, headers=headers)
    assert response.status == 200, await response.text()


async def call_ids(client: AppClient, query: str, headers: dict[str, str]) -> list[str]:
    response = await client.get(f"/v1/calls{query}", headers=headers)
    assert response.status == 200, await response.text()
    return [call["id"] for call in (await response.json())["calls"]]


@pytest.fixture
async def mixed_calls(client: AppClient, gateway: dict[str, str], admin: dict[str, str]) -> None:
    """q1, q2 queued; live connected to agent a1; done ended (abandoned)."""
    response = await client.put("/v1/agents/a1", json={"name": "Ann"}, headers=admin)
    assert response.status == 201
    await deliver(
        client,
        [
            created("q1"),
            created("done"),
            created("live"),
            answered("live", "a1"),
            ended("done"),
            created("q2"),
        ],
        gateway,
    )


async def test_get_call(client: AppClient, gateway: dict[str, str]) -> None:
    event = {**created("c1"), "from": "+15551230000", "to": "+15559870000", "queue": "billing"}
    await deliver(client, [event], gateway)
    response = await client.get("/v1/calls/c1", headers=gateway)
    assert response.status == 200
    call = await response.json()
    assert (call["id"], call["state"], call["queue"], call["from"], call["to"]) == (
        "c1",
        "queued",
        "billing",
        "+15551230000",
        "+15559870000",
    )
    assert call["direction"] == "inbound"


async def test_unknown_call_is_404(client: AppClient, admin: dict[str, str]) -> None:
    response = await client.get("/v1/calls/ghost", headers=admin)
    assert response.status == 404
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert (problem["status"], problem["instance"]) == (404, "/v1/calls/ghost")


async def test_get_call_needs_a_token(client: AppClient) -> None:
    response = await client.get("/v1/calls/c1")
    assert response.status == 401
    assert "WWW-Authenticate" in response.headers


@pytest.mark.usefixtures("mixed_calls")
async def test_agent_reads_only_the_call_it_holds(
    client: AppClient, token_for: TokenFactory
) -> None:
    own = await token_for("agent:a1")
    response = await client.get("/v1/calls/live", headers=own)
    assert response.status == 200
    assert (await response.json())["agent_id"] == "a1"
    for other in ("q1", "done"):
        response = await client.get(f"/v1/calls/{other}", headers=own)
        assert response.status == 403, other
        assert response.content_type == PROBLEM
    stranger = await token_for("agent:a2")
    assert (await client.get("/v1/calls/live", headers=stranger)).status == 403


@pytest.mark.usefixtures("mixed_calls")
@pytest.mark.parametrize("role", ["supervisor", "gateway", "admin"])
async def test_roles_that_read_any_call(
    client: AppClient, token_for: TokenFactory, role: str
) -> None:
    response = await client.get("/v1/calls/q1", headers=await token_for(role))
    assert response.status == 200
    assert (await response.json())["state"] == "queued"


@pytest.mark.usefixtures("mixed_calls")
async def test_list_by_state(client: AppClient, token_for: TokenFactory) -> None:
    supervisor = await token_for("supervisor")
    # Most recently changed first.
    assert await call_ids(client, "?state=queued", supervisor) == ["q2", "q1"]
    assert await call_ids(client, "?state=connected", supervisor) == ["live"]
    assert await call_ids(client, "?state=ended", supervisor) == ["done"]
    assert await call_ids(client, "?state=wrap_up", supervisor) == []
    active = await call_ids(client, "?state=active", supervisor)
    assert sorted(active) == ["live", "q1", "q2"]
    assert await call_ids(client, "", supervisor) == active


@pytest.mark.usefixtures("mixed_calls")
async def test_list_limit(client: AppClient, gateway: dict[str, str]) -> None:
    assert await call_ids(client, "?state=queued&limit=1", gateway) == ["q2"]
    assert len(await call_ids(client, "?limit=2", gateway)) == 2
    assert len(await call_ids(client, "?limit=1000", gateway)) == 3


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("?limit=0", "/limit"),
        ("?limit=1001", "/limit"),
        ("?limit=x", "/limit"),
        ("?limit=-1", "/limit"),
        ("?limit=", "/limit"),
        ("?state=lost", "/state"),
        ("?state=QUEUED", "/state"),
    ],
)
async def test_bad_query_is_422(
    client: AppClient, admin: dict[str, str], query: str, pointer: str
) -> None:
    response = await client.get(f"/v1/calls{query}", headers=admin)
    assert response.status == 422
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert (problem["status"], problem["pointer"]) == (422, pointer)


async def test_agent_may_not_list_calls(client: AppClient, token_for: TokenFactory) -> None:
    response = await client.get("/v1/calls", headers=await token_for("agent:a1"))
    assert response.status == 403
    assert response.content_type == PROBLEM
