"""/v1/callers/{number}: CRM profile upsert, number normalisation, history, erasure, access."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import redis.asyncio as aioredis

from tests.conftest import AppClient, TokenFactory

PROBLEM = "application/problem+json"
NUMBER = "+15551230000"
PROFILE: dict[str, Any] = {
    "name": "Carol",
    "tier": "vip",
    "tags": ["churn-risk"],
    "account": {"id": "A-1", "balance": 12.5, "active": True},
    "identities": [],
}


def url(number: str) -> str:
    return "/v1/callers/" + quote(number, safe="+")


def call(call_id: str, number: str, agent_id: str) -> list[dict[str, Any]]:
    """A call from `number`, answered by `agent_id` and hung up."""
    return [
        {"type": "call.created", "event_id": f"{call_id}-1", "call_id": call_id, "from": number},
        {
            "type": "call.answered",
            "event_id": f"{call_id}-2",
            "call_id": call_id,
            "agent_id": agent_id,
        },
        {"type": "call.ended", "event_id": f"{call_id}-3", "call_id": call_id},
    ]


async def deliver(client: AppClient, events: list[dict[str, Any]], headers: dict[str, str]) -> None:
    response = await client.post("/v1/events", json=events, headers=headers)
    assert response.status == 200, await response.text()


async def put_profile(
    client: AppClient, number: str, profile: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    response = await client.put(url(number), json=profile, headers=headers)
    return response.status, await response.json(content_type=None)


async def caller_keys(redis_client: aioredis.Redis) -> list[bytes]:
    return [key async for key in redis_client.scan_iter(match="cc:caller:*")]


# --- profile upsert -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["gateway", "admin"])
async def test_put_profile(client: AppClient, token_for: TokenFactory, role: str) -> None:
    status, view = await put_profile(client, NUMBER, PROFILE, await token_for(role))
    assert status == 200, view
    assert view == {
        "key": NUMBER,
        "profile": PROFILE,
        "history": {**view["history"], "calls_total": 0, "recent": []},
        "repeat_within_7d": False,
    }


@pytest.mark.parametrize("role", ["supervisor", "agent:a1"])
async def test_put_profile_forbidden(
    client: AppClient, token_for: TokenFactory, redis_client: aioredis.Redis, role: str
) -> None:
    status, problem = await put_profile(client, NUMBER, PROFILE, await token_for(role))
    assert (status, problem["status"]) == (403, 403)
    assert await caller_keys(redis_client) == []


async def test_put_replaces_the_profile(client: AppClient, gateway: dict[str, str]) -> None:
    await put_profile(client, NUMBER, PROFILE, gateway)
    status, view = await put_profile(client, NUMBER, {"tier": "standard"}, gateway)
    assert status == 200
    assert view["profile"] == {
        "name": None,
        "tier": "standard",
        "tags": [],
        "account": {},
        "identities": [],
    }


@pytest.mark.parametrize("spelling", ["+1 (555) 123-0000", "+1.555.123.0000", "0015551230000"])
async def test_number_spellings_are_the_same_caller(
    client: AppClient, gateway: dict[str, str], admin: dict[str, str], spelling: str
) -> None:
    status, view = await put_profile(client, spelling, PROFILE, gateway)
    assert (status, view["key"]) == (200, NUMBER)
    response = await client.get(url(NUMBER), headers=admin)
    assert response.status == 200
    assert (await response.json())["profile"] == PROFILE
    response = await client.get(url(spelling), headers=admin)
    assert (await response.json())["key"] == NUMBER


BAD_PROFILES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown field", {"name": "Carol", "nickname": "C"}, "/nickname"),
    ("bad tier", {"tier": "Gold"}, "/tier"),
    ("empty tier", {"tier": ""}, "/tier"),
    ("tags not a list", {"tags": "vip"}, "/tags"),
    ("empty tag", {"tags": ["ok", ""]}, "/tags/1"),
    ("name not a string", {"name": 7}, "/name"),
]


@pytest.mark.parametrize(
    ("profile", "pointer"),
    [case[1:] for case in BAD_PROFILES],
    ids=[case[0] for case in BAD_PROFILES],
)
async def test_bad_profile_is_422_with_pointer(
    client: AppClient,
    gateway: dict[str, str],
    redis_client: aioredis.Redis,
    profile: dict[str, Any],
    pointer: str,
) -> None:
    response = await client.put(url(NUMBER), json=profile, headers=gateway)
    assert response.status == 422, await response.text()
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert problem.get("pointer") == pointer, problem
    assert await caller_keys(redis_client) == []


# --- reading ------------------------------------------------------------------------------------


async def test_history_after_two_calls(
    client: AppClient, gateway: dict[str, str], admin: dict[str, str]
) -> None:
    await put_profile(client, NUMBER, PROFILE, gateway)
    await deliver(client, call("c1", "+1 555 123 0000", "a1"), gateway)
    await deliver(client, call("c2", "+1-555-123-0000", "a2"), gateway)
    response = await client.get(url(NUMBER), headers=admin)
    assert response.status == 200
    view = await response.json()
    assert view["key"] == NUMBER
    assert view["profile"] == PROFILE
    history = view["history"]
    assert history["calls_total"] == 2
    assert [item["call_id"] for item in history["recent"]] == ["c2", "c1"]
    assert [item["agent_id"] for item in history["recent"]] == ["a2", "a1"]
    assert (history["last_agent"], history["last_outcome"], history["last_queue"]) == (
        "a2",
        "handled",
        "general",
    )
    assert view["repeat_within_7d"] is True


async def test_caller_known_only_by_history(
    client: AppClient, gateway: dict[str, str], token_for: TokenFactory
) -> None:
    await deliver(client, call("c1", NUMBER, "a1"), gateway)
    response = await client.get(url(NUMBER), headers=await token_for("supervisor"))
    assert response.status == 200
    view = await response.json()
    assert view["profile"] == {
        "name": None,
        "tier": None,
        "tags": [],
        "account": {},
        "identities": [],
    }
    assert view["history"]["calls_total"] == 1


async def test_unknown_caller_is_404(client: AppClient, admin: dict[str, str]) -> None:
    response = await client.get(url("+15550000000"), headers=admin)
    assert response.status == 404
    assert response.content_type == PROBLEM
    assert "+15550000000" in (await response.json(content_type=None))["detail"]


async def test_agent_reads_only_the_caller_of_its_call(
    client: AppClient, gateway: dict[str, str], token_for: TokenFactory, admin: dict[str, str]
) -> None:
    other = "+15557770000"
    await put_profile(client, NUMBER, PROFILE, gateway)
    await put_profile(client, other, {"name": "Dave"}, gateway)
    assert (await client.put("/v1/agents/a1", json={"name": "Ann"}, headers=admin)).status == 201
    await deliver(client, call("c1", NUMBER, "a1")[:2], gateway)
    own = await token_for("agent:a1")
    response = await client.get(url("+1 (555) 123-0000"), headers=own)
    assert response.status == 200, await response.text()
    assert (await response.json())["profile"] == PROFILE
    response = await client.get(url(other), headers=own)
    assert response.status == 403
    assert response.content_type == PROBLEM
    idle = await token_for("agent:a2")
    assert (await client.get(url(NUMBER), headers=idle)).status == 403


# --- erasure ------------------------------------------------------------------------------------


async def test_admin_erases_a_caller(
    client: AppClient, gateway: dict[str, str], admin: dict[str, str], redis_client: aioredis.Redis
) -> None:
    await put_profile(client, NUMBER, PROFILE, gateway)
    await deliver(client, call("c1", NUMBER, "a1"), gateway)
    assert len(await caller_keys(redis_client)) == 2
    response = await client.delete(url("+1 (555) 123-0000"), headers=admin)
    assert response.status == 204
    assert (await client.get(url(NUMBER), headers=admin)).status == 404
    assert await caller_keys(redis_client) == []
    assert (await client.delete(url(NUMBER), headers=admin)).status == 404


@pytest.mark.parametrize("role", ["supervisor", "gateway", "agent:a1"])
async def test_only_admin_erases(
    client: AppClient,
    gateway: dict[str, str],
    admin: dict[str, str],
    token_for: TokenFactory,
    role: str,
) -> None:
    await put_profile(client, NUMBER, PROFILE, gateway)
    response = await client.delete(url(NUMBER), headers=await token_for(role))
    assert response.status == 403
    assert (await client.get(url(NUMBER), headers=admin)).status == 200
