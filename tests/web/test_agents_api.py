"""/v1/agents: registration, validation, reading, presence, removal and wrap-up."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.conftest import AppClient, TokenFactory

PROBLEM = "application/problem+json"


def resolves(document: Any, pointer: str) -> bool:
    """True if the RFC 6901 `pointer` names a location that exists in `document`."""
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False
    node = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


async def put_agent(
    client: AppClient, agent_id: str, headers: dict[str, str], **body: Any
) -> tuple[int, Any]:
    payload = {"name": "Ann", "skills": {"billing": 4}, **body}
    response = await client.put(f"/v1/agents/{agent_id}", json=payload, headers=headers)
    return response.status, await response.json(content_type=None)


async def post_events(
    client: AppClient, events: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    response = await client.post("/v1/events", json=events, headers=headers)
    assert response.status == 200, await response.text()


def handled_call(agent_id: str = "a1", call_id: str = "c1") -> list[dict[str, Any]]:
    """A call answered by `agent_id` and hung up: the agent is left in wrap-up."""
    return [
        {"type": "call.created", "event_id": f"{call_id}-1", "call_id": call_id},
        {
            "type": "call.answered",
            "event_id": f"{call_id}-2",
            "call_id": call_id,
            "agent_id": agent_id,
        },
        {"type": "call.ended", "event_id": f"{call_id}-3", "call_id": call_id},
    ]


async def assert_problem(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert problem["status"] == status
    return problem


# --- create and update --------------------------------------------------------------------------


async def test_put_creates_then_updates(client: AppClient, admin: dict[str, str]) -> None:
    status, created = await put_agent(client, "a1", admin)
    assert status == 201, created
    assert {k: created[k] for k in ("id", "name", "skills", "presence", "activity", "version")} == {
        "id": "a1",
        "name": "Ann",
        "skills": {"billing": 4},
        "presence": "offline",
        "activity": "idle",
        "version": 1,
    }
    assert created["call_id"] is None
    status, updated = await put_agent(
        client, "a1", admin, name="Ann B", skills={"sales": 2, "billing": 5}
    )
    assert status == 200, updated
    assert (updated["name"], updated["skills"], updated["version"]) == (
        "Ann B",
        {"sales": 2, "billing": 5},
        2,
    )
    read = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert (read["name"], read["skills"]) == ("Ann B", {"sales": 2, "billing": 5})


async def test_update_keeps_presence(client: AppClient, admin: dict[str, str]) -> None:
    await put_agent(client, "a1", admin)
    await client.post("/v1/agents/a1/presence", json={"presence": "available"}, headers=admin)
    _, updated = await put_agent(client, "a1", admin, name="Ann B")
    assert updated["presence"] == "available"


async def test_skills_default_to_none(client: AppClient, admin: dict[str, str]) -> None:
    response = await client.put("/v1/agents/a1", json={"name": "Ann"}, headers=admin)
    assert response.status == 201
    assert (await response.json())["skills"] == {}


@pytest.mark.parametrize(
    ("role", "status"), [("supervisor", 201), ("gateway", 403), ("agent:a1", 403)]
)
async def test_put_roles(
    client: AppClient, token_for: TokenFactory, role: str, status: int
) -> None:
    got, _ = await put_agent(client, "a1", await token_for(role))
    assert got == status


async def test_put_without_token_is_401(client: AppClient) -> None:
    response = await client.put("/v1/agents/a1", json={"name": "Ann"})
    await assert_problem(response, 401)
    assert "WWW-Authenticate" in response.headers


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("proficiency 0", {"name": "Ann", "skills": {"billing": 0}}, "/skills"),
    ("proficiency 6", {"name": "Ann", "skills": {"billing": 6}}, "/skills"),
    ("proficiency not a number", {"name": "Ann", "skills": {"billing": "high"}}, "/skills"),
    ("bad skill name", {"name": "Ann", "skills": {"bil ling": 3}}, "/skills"),
    ("skills not an object", {"name": "Ann", "skills": ["billing"]}, "/skills"),
    ("unknown field", {"name": "Ann", "colour": "blue"}, "/colour"),
    ("empty name", {"name": ""}, "/name"),
    ("no name", {"skills": {}}, "/name"),
]


@pytest.mark.parametrize(
    ("body", "pointer"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES]
)
async def test_bad_agent_body_is_422_with_pointer(
    client: AppClient,
    admin: dict[str, str],
    redis_client: aioredis.Redis,
    body: dict[str, Any],
    pointer: str,
) -> None:
    response = await client.put("/v1/agents/a1", json=body, headers=admin)
    problem = await assert_problem(response, 422)
    assert "pointer" in problem, problem
    # The pointer names the offending field (or the entry inside it) of what was sent;
    # a missing required field is named although it is absent.
    assert problem["pointer"] == pointer or problem["pointer"].startswith(pointer + "/"), problem
    if pointer != "/name" or "name" in body:
        assert resolves(body, problem["pointer"]), problem
    assert not await redis_client.exists("{cc}:agent:a1")


async def test_malformed_agent_body_is_422(client: AppClient, admin: dict[str, str]) -> None:
    response = await client.put(
        "/v1/agents/a1", data=b"{name", headers={**admin, "Content-Type": "application/json"}
    )
    await assert_problem(response, 422)
    response = await client.put(
        "/v1/agents/a1",
        data=json.dumps({"name": "Ann"}).encode(),
        headers={**admin, "Content-Type": "text/plain"},
    )
    await assert_problem(response, 422)


@pytest.mark.parametrize("agent_id", ["bad!id", "has%20space", "a" * 65, "x%2Fy", "caf%C3%A9"])
async def test_bad_agent_id_is_422(
    client: AppClient, admin: dict[str, str], redis_client: aioredis.Redis, agent_id: str
) -> None:
    status, problem = await put_agent(client, agent_id, admin)
    assert status == 422, problem
    assert problem["pointer"] == "/agent_id"
    assert [key async for key in redis_client.scan_iter(match="{cc}:agent*")] == []


async def test_longest_agent_id_is_accepted(client: AppClient, admin: dict[str, str]) -> None:
    status, body = await put_agent(client, "a" * 64, admin)
    assert (status, body["id"]) == (201, "a" * 64)


# --- reading ------------------------------------------------------------------------------------


async def test_get_one_and_list(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    await put_agent(client, "b.2@x", admin, name="Bob", skills={"sales": 1})
    response = await client.get("/v1/agents/b.2@x", headers=admin)
    assert response.status == 200
    assert (await response.json())["name"] == "Bob"
    supervisor = await token_for("supervisor")
    listed = await (await client.get("/v1/agents", headers=supervisor)).json()
    assert sorted(agent["id"] for agent in listed["agents"]) == ["a1", "b.2@x"]


async def test_get_unknown_agent_is_404(client: AppClient, admin: dict[str, str]) -> None:
    problem = await assert_problem(await client.get("/v1/agents/ghost", headers=admin), 404)
    assert "ghost" in problem["detail"]


async def test_agent_reads_itself_but_not_others(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    await put_agent(client, "a2", admin)
    own = await token_for("agent:a1")
    assert (await client.get("/v1/agents/a1", headers=own)).status == 200
    await assert_problem(await client.get("/v1/agents/a2", headers=own), 403)
    await assert_problem(await client.get("/v1/agents", headers=own), 403)
    gateway = await token_for("gateway")
    await assert_problem(await client.get("/v1/agents", headers=gateway), 403)


# --- presence -----------------------------------------------------------------------------------


async def test_agent_sets_own_presence(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    response = await client.post(
        "/v1/agents/a1/presence",
        json={"presence": "available"},
        headers=await token_for("agent:a1"),
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["presence"] == "available"
    read = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert read["presence"] == "available"


async def test_agent_may_not_set_another_agents_presence(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    response = await client.post(
        "/v1/agents/a1/presence", json={"presence": "away"}, headers=await token_for("agent:a2")
    )
    await assert_problem(response, 403)
    read = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert read["presence"] == "offline"


async def test_supervisor_sets_presence(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    response = await client.post(
        "/v1/agents/a1/presence", json={"presence": "break"}, headers=await token_for("supervisor")
    )
    assert response.status == 200
    assert (await response.json())["presence"] == "break"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [({"presence": "asleep"}, "/presence"), ({}, "/presence"), ({"presence": 1}, "/presence")],
)
async def test_bad_presence_is_422(
    client: AppClient, admin: dict[str, str], body: dict[str, Any], pointer: str
) -> None:
    await put_agent(client, "a1", admin)
    response = await client.post("/v1/agents/a1/presence", json=body, headers=admin)
    problem = await assert_problem(response, 422)
    assert problem["pointer"] == pointer


async def test_presence_of_unknown_agent_is_404(client: AppClient, admin: dict[str, str]) -> None:
    response = await client.post(
        "/v1/agents/ghost/presence", json={"presence": "available"}, headers=admin
    )
    await assert_problem(response, 404)


# --- removal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "gateway", "agent:a1"])
async def test_only_admin_deletes(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory, role: str
) -> None:
    await put_agent(client, "a1", admin)
    await assert_problem(await client.delete("/v1/agents/a1", headers=await token_for(role)), 403)
    assert (await client.get("/v1/agents/a1", headers=admin)).status == 200


async def test_admin_deletes(
    client: AppClient, admin: dict[str, str], redis_client: aioredis.Redis
) -> None:
    await put_agent(client, "a1", admin)
    response = await client.delete("/v1/agents/a1", headers=admin)
    assert response.status == 204
    await assert_problem(await client.get("/v1/agents/a1", headers=admin), 404)
    listed = await (await client.get("/v1/agents", headers=admin)).json()
    assert listed["agents"] == []
    assert not await redis_client.exists("{cc}:agent:a1")
    await assert_problem(await client.delete("/v1/agents/a1", headers=admin), 404)


async def test_delete_while_holding_a_call_is_409(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await put_agent(client, "a1", admin)
    await post_events(client, handled_call()[:2], gateway)
    problem = await assert_problem(await client.delete("/v1/agents/a1", headers=admin), 409)
    assert "c1" in problem["detail"]
    agent = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert (agent["activity"], agent["call_id"]) == ("on_call", "c1")


# --- wrap-up ------------------------------------------------------------------------------------


async def test_wrap_up_done_frees_the_agent_and_ends_the_call(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    await post_events(client, handled_call(), gateway)
    call = await (await client.get("/v1/calls/c1", headers=admin)).json()
    assert call["state"] == "wrap_up"

    response = await client.post("/v1/agents/a1/wrap-up/done", headers=await token_for("agent:a1"))
    assert response.status == 200, await response.text()
    agent = await response.json()
    assert (agent["activity"], agent["call_id"], agent["calls_today"]) == ("idle", None, 1)
    call = await (await client.get("/v1/calls/c1", headers=admin)).json()
    assert (call["state"], call["outcome"]) == ("ended", "handled")
    ended = await (await client.get("/v1/calls?state=ended", headers=admin)).json()
    assert [c["id"] for c in ended["calls"]] == ["c1"]
    # Once freed, the agent may be deleted.
    assert (await client.delete("/v1/agents/a1", headers=admin)).status == 204


async def test_wrap_up_done_for_another_agent_is_403(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    await put_agent(client, "a1", admin)
    await post_events(client, handled_call(), gateway)
    response = await client.post("/v1/agents/a1/wrap-up/done", headers=await token_for("agent:a2"))
    await assert_problem(response, 403)
    agent = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert agent["activity"] == "wrap_up"


async def test_wrap_up_done_when_idle_is_409(client: AppClient, admin: dict[str, str]) -> None:
    await put_agent(client, "a1", admin)
    response = await client.post("/v1/agents/a1/wrap-up/done", headers=admin)
    problem = await assert_problem(response, 409)
    assert "idle" in problem["detail"]


async def test_wrap_up_done_while_on_call_is_409(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await put_agent(client, "a1", admin)
    await post_events(client, handled_call()[:2], gateway)
    await assert_problem(await client.post("/v1/agents/a1/wrap-up/done", headers=admin), 409)
    call = await (await client.get("/v1/calls/c1", headers=admin)).json()
    assert call["state"] == "connected"
    agent = await (await client.get("/v1/agents/a1", headers=admin)).json()
    assert agent["activity"] == "on_call"


async def test_wrap_up_done_for_unknown_agent_is_404(
    client: AppClient, admin: dict[str, str]
) -> None:
    await assert_problem(await client.post("/v1/agents/ghost/wrap-up/done", headers=admin), 404)
