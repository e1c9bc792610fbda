"""/v1/queues and the estimated wait of GET /v1/calls/{id}, through the real app: after one
call handled in about two minutes, with the only agent ringing for the next call, the
caller waiting behind it is told one handle time, a new caller two."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.domain.agents import new_agent
from callcenter.settings import Settings
from callcenter.storage import keys
from callcenter.storage.agents import AgentRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient
from tests.conftest import AppClient, TokenFactory
from tests.polling import eventually

Json = dict[str, Any]


def event(kind: str, call_id: str, seconds_ago: float | None = None, **fields: Any) -> Json:
    body: Json = {"type": kind, "event_id": f"{call_id}-{kind}", "call_id": call_id, **fields}
    if seconds_ago is not None:
        at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
        body["occurred_at"] = at.isoformat()
    return body


async def post(client: AppClient, admin: Json, *events: Json) -> None:
    answer = await client.post("/v1/events", json=list(events), headers=admin)
    assert answer.status == 200, await answer.text()


async def read(client: AppClient, path: str, headers: Json) -> Json:
    answer = await client.get(path, headers=headers)
    assert answer.status == 200, await answer.text()
    found: Json = await answer.json()
    return found


async def one_call_handled_one_ringing_one_waiting(client: AppClient, admin: Json) -> Json:
    """Agent a1 handled c1 (answered 120 s ago, hung up 30 s ago, wrap-up done now), then
    took an offer for c2; c3 waits. Returns queue "general" once the handled call counts."""
    put = await client.put("/v1/agents/a1", json={"name": "A1", "skills": {}}, headers=admin)
    assert put.status == 201, await put.text()
    ready = await client.post(
        "/v1/agents/a1/presence", json={"presence": "available"}, headers=admin
    )
    assert ready.status == 200, await ready.text()
    await post(
        client,
        admin,
        event("call.created", "c1", 200),
        event("call.answered", "c1", 120, agent_id="a1"),
        event("call.ended", "c1", 30),
    )
    done = await client.post("/v1/agents/a1/wrap-up/done", headers=admin)
    assert done.status == 200, await done.text()

    async def handled() -> bool:
        queues = (await read(client, "/v1/queues", admin))["queues"]
        return any(q["name"] == "general" and q["mean_handle_seconds"] for q in queues)

    await eventually(handled)
    await post(client, admin, event("call.created", "c2"))

    async def ringing() -> bool:
        return bool((await read(client, "/v1/calls/c2", admin))["state"] == "offered")

    await eventually(ringing)
    await post(client, admin, event("call.created", "c3"))
    return await read(client, "/v1/queues/general", admin)


async def test_the_queue_and_the_waiting_call_are_told_their_wait(
    client: AppClient, admin: Json, token_for: TokenFactory
) -> None:
    general = await one_call_handled_one_ringing_one_waiting(client, admin)
    handle = general["mean_handle_seconds"]
    assert handle == pytest.approx(120, abs=5)  # answer to the end of wrap-up
    assert general["calls_waiting"] == 1 and general["callbacks_waiting"] == 0
    assert (general["agents_staffed"], general["agents_ready"]) == (1, 0)
    # a1 rings for c2: free again after one handle time; c3 is first in line
    waiting = await read(client, "/v1/calls/c3", admin)
    assert waiting["state"] == "queued"
    assert waiting["estimated_wait_seconds"] == pytest.approx(handle)
    assert general["estimated_wait_seconds"] == pytest.approx(2 * handle)  # behind c3
    assert (await read(client, "/v1/calls/c2", admin))["estimated_wait_seconds"] is None
    assert general["arrivals_per_minute"] > 0 and general["agents_needed"] >= 1
    assert general["staffing_gap"] == general["agents_needed"] - 1
    assert general["service_level_seconds"] == 20 and general["service_level_target"] == 0.8
    supervisor = await token_for("supervisor")
    listed = await read(client, "/v1/queues", supervisor)
    assert [q["name"] for q in listed["queues"]] == ["general"]
    missing = await client.get("/v1/queues/nowhere", headers=admin)
    assert missing.status == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")


async def test_a_store_written_before_skill_sets_gets_them_when_the_app_starts(
    aiohttp_client: Callable[..., Awaitable[AppClient]], settings: Settings, resp: RespClient
) -> None:
    """A queue's staffing reads the agents of its first skill: agents an older version
    wrote are placed in their skills' sets once, as the app starts."""
    agents = AgentRepository(DocumentStore(resp))
    now = datetime.now(UTC)
    await agents.save(None, new_agent("a1", "A1", {"billing": 2, "sales": 1}, now), now)
    await resp.execute("DEL", keys.skill("billing"), keys.skill("sales"), keys.SKILLS_BUILT)
    await aiohttp_client(create_app(settings))
    for skill in ("billing", "sales"):
        assert await resp.execute("SMEMBERS", keys.skill(skill)) == [b"a1"]
    assert await resp.execute("EXISTS", keys.SKILLS_BUILT) == 1
