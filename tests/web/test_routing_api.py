"""Routing end to end through the API: offers, answers, timers, explanations, reload."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.app import create_app
from callcenter.settings import Settings
from tests.conftest import FIXTURES, AppClient, TokenFactory
from tests.waiting_lines import assert_lines_match_waiting

ROUTING_RULES = FIXTURES / "rules" / "routing"
Json = dict[str, Any]


@pytest.fixture
async def routed(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    tmp_path: Path,
    redis_client: object,
) -> AppClient:
    rules = tmp_path / "rules"
    shutil.copytree(ROUTING_RULES, rules)
    return await aiohttp_client(create_app(dataclasses.replace(settings, rules_dir=rules)))


@pytest.fixture
async def admin_of(routed: AppClient) -> dict[str, str]:
    from callcenter.web.state import SERVICES

    token, _ = await routed.app[SERVICES].auth.create_token("admin", "test")
    return {"Authorization": f"Bearer {token}"}


async def wait_for(
    fetch: Callable[[], Awaitable[Json]], done: Callable[[Json], bool], seconds: float = 5
) -> Json:
    """Poll until `done` holds (generous deadline, no timing asserted)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await fetch()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; last value: {value}")
        await asyncio.sleep(0.05)


class Api:
    def __init__(self, client: AppClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self._events = 0

    async def agent(self, agent_id: str, skills: dict[str, int], *, available: bool = True) -> None:
        put = await self.client.put(
            f"/v1/agents/{agent_id}",
            json={"name": agent_id, "skills": skills},
            headers=self.headers,
        )
        assert put.status in (200, 201), await put.text()
        if available:
            await self.presence(agent_id, "available")

    async def presence(self, agent_id: str, presence: str) -> None:
        answer = await self.client.post(
            f"/v1/agents/{agent_id}/presence", json={"presence": presence}, headers=self.headers
        )
        assert answer.status == 200, await answer.text()

    async def event(self, kind: str, call_id: str, **fields: Any) -> Json:
        self._events += 1
        body = {"type": kind, "event_id": f"ev{self._events}", "call_id": call_id, **fields}
        answer = await self.client.post("/v1/events", json=body, headers=self.headers)
        assert answer.status == 200, await answer.text()
        result: Json = await answer.json()
        return result

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Json:
        answer = await self.client.get(path, headers=headers or self.headers)
        assert answer.status == 200, await answer.text()
        result: Json = await answer.json()
        return result

    async def call(self, call_id: str) -> Json:
        return await self.get(f"/v1/calls/{call_id}")

    async def offered(self, call_id: str) -> Json:
        return await wait_for(lambda: self.call(call_id), lambda c: c["state"] == "offered")


@pytest.fixture
async def api(
    routed: AppClient, admin_of: dict[str, str], redis_client: aioredis.Redis
) -> AsyncIterator[Api]:
    """The API of a routed app; after the test, the waiting lines must still hold exactly
    the queued calls."""
    yield Api(routed, admin_of)
    await assert_lines_match_waiting(redis_client)


async def test_offer_accept_end_and_wrap_up_timer(api: Api, token_for: TokenFactory) -> None:
    await api.agent("ann", {"billing": 4})
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    call = await api.offered("c1")
    assert call["agent_id"] == "ann" and call["rule"] == "billing"
    ann = await api.get("/v1/agents/ann")
    assert (ann["activity"], ann["call_id"]) == ("reserved", "c1")

    other_agent = await token_for("agent:bob")
    refused = await api.client.post(
        f"/v1/reservations/{call['reservation']['id']}/accept", headers=other_agent
    )
    assert refused.status == 403
    own = await token_for("agent:ann")
    accepted = await api.client.post(
        f"/v1/reservations/{call['reservation']['id']}/accept", headers=own
    )
    assert accepted.status == 200, await accepted.text()
    assert (await accepted.json())["state"] == "connected"
    again = await api.client.post(
        f"/v1/reservations/{call['reservation']['id']}/accept", headers=own
    )
    assert again.status == 409

    ended = await api.event("call.ended", "c1")
    assert ended["state"] == "wrap_up"
    idle = await wait_for(lambda: api.get("/v1/agents/ann"), lambda a: a["activity"] == "idle")
    assert idle["calls_today"] == 1
    assert (await api.call("c1"))["state"] == "ended"


async def test_reject_keeps_place_and_goes_to_someone_else(api: Api) -> None:
    await api.agent("ann", {"billing": 5})
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    first = await api.offered("c1")
    queued_at = first["queued_at"]
    await api.agent("bob", {"billing": 4})
    rejected = await api.client.post(
        f"/v1/reservations/{first['reservation']['id']}/reject", headers=api.headers
    )
    assert rejected.status == 200
    second = await wait_for(
        lambda: api.call("c1"), lambda c: c["state"] == "offered" and c["agent_id"] == "bob"
    )
    assert second["queued_at"] == queued_at
    assert second["declined_by"] == ["ann"]
    assert (await api.get("/v1/agents/ann"))["activity"] == "idle"


async def test_unanswered_offers_time_out_and_agent_goes_away(api: Api) -> None:
    await api.agent("ann", {"billing": 4})
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    await api.offered("c1")
    backed_off = await wait_for(
        lambda: api.get("/v1/agents/ann"), lambda a: a["missed_offers"] == 1
    )
    assert backed_off["activity"] == "idle" and backed_off["blocked_until"] is not None
    assert (await api.call("c1"))["state"] == "queued"
    # after the back-off the call is offered again; a second miss sets ann away (max 2)
    await wait_for(lambda: api.call("c1"), lambda c: c["state"] == "offered", seconds=10)
    away = await wait_for(
        lambda: api.get("/v1/agents/ann"), lambda a: a["presence"] == "away", seconds=5
    )
    assert away["missed_offers"] == 2
    metrics = await (await api.client.get("/metrics")).text()
    assert 'callcenter_reservations_total{result="timeout"} 2.0' in metrics


async def test_an_agent_leg_that_fails_puts_the_caller_back_in_place(api: Api) -> None:
    """A PBX could not ring the agent who accepted: the caller keeps their place and goes
    to the next agent; the agent's offer counts as missed."""
    await api.agent("ann", {"billing": 5})
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    first = await api.offered("c1")
    accepted = await api.client.post(
        f"/v1/reservations/{first['reservation']['id']}/accept", headers=api.headers
    )
    assert (await accepted.json())["state"] == "connected"
    await api.agent("bob", {"billing": 4})
    failed = await api.event("call.agent_failed", "c1", agent_id="ann", end_reason="busy")
    assert (failed["result"], failed["state"]) == ("applied", "queued")
    second = await wait_for(
        lambda: api.call("c1"), lambda c: c["state"] == "offered" and c["agent_id"] == "bob"
    )
    assert second["queued_at"] == first["queued_at"]
    ann = await api.get("/v1/agents/ann")
    assert (ann["activity"], ann["missed_offers"]) == ("idle", 1)
    assert ann["blocked_until"] is not None
    late = await api.event("call.agent_failed", "c1", agent_id="ann")  # ann no longer holds it
    assert late["result"] == "stale"
    metrics = await (await api.client.get("/metrics")).text()
    assert 'callcenter_reservations_total{result="agent_leg_failed"} 1.0' in metrics


async def test_higher_priority_goes_first_across_queues(api: Api) -> None:
    await api.event("call.created", "old", **{"from": "+15550000001", "queue": "billing"})
    await api.event("call.created", "gen", **{"from": "+15550000002"})
    put = await api.client.put(
        "/v1/callers/+15550000003", json={"tier": "vip"}, headers=api.headers
    )
    assert put.status == 200
    await api.event("call.created", "vip", **{"from": "+15550000003"})
    vip = await api.call("vip")
    assert (vip["rule"], vip["queue"], vip["priority"]) == ("vip", "billing", 10)
    await api.agent("ann", {"billing": 5})
    offered = await api.offered("vip")
    assert offered["agent_id"] == "ann"
    assert (await api.call("old"))["state"] == "queued"
    assert (await api.call("gen"))["state"] == "queued"


async def test_steps_widen_the_pool_and_explain_why(api: Api) -> None:
    await api.agent("junior", {"billing": 2})
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    explained = await api.get("/v1/calls/c1/routing")
    assert explained["state"] == "queued" and explained["step"] == 0
    assert explained["required"] == {"billing": 4}
    verdict = explained["ready_agents"][0]
    assert verdict["agent_id"] == "junior" and not verdict["eligible"]
    assert "billing 2 < 4" in verdict["reason"]
    assert 0 < explained["next_widening_in_seconds"] <= 1
    offered = await api.offered("c1")  # the step at 1 s requires nothing
    assert offered["agent_id"] == "junior"
    decision = (await api.get("/v1/calls/c1/routing"))["last_decision"]
    assert decision["step"] == 1 and decision["agent_id"] == "junior"
    assert decision["top"][0]["agent_id"] == "junior"


async def test_max_wait_overflows_to_the_overflow_queue(api: Api) -> None:
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    await api.agent("gen", {"support": 1})  # not a billing agent: only general calls
    overflowed = await wait_for(
        lambda: api.call("c1"), lambda c: c["queue"] == "general", seconds=8
    )
    assert overflowed["overflowed_from"] == "billing"
    offered = await api.offered("c1")
    assert offered["agent_id"] == "gen"


async def test_reload_re_routes_waiting_calls_and_keeps_old_rules_on_error(
    api: Api, routed: AppClient
) -> None:
    from callcenter.web.state import SETTINGS

    rules_dir = routed.app[SETTINGS].rules_dir
    assert rules_dir is not None
    await api.event("call.created", "c1", **{"from": "+15551230000"})
    assert (await api.call("c1"))["queue"] == "general"
    rules_file = rules_dir / "rules.yaml"
    original = rules_file.read_text()
    rules_file.write_text(
        original.replace(
            "  - name: default\n    queue: general", "  - name: default\n    queue: billing"
        )
    )
    reloaded = await api.client.post("/v1/admin/rules/reload", headers=api.headers)
    assert reloaded.status == 200, await reloaded.text()
    moved = await api.call("c1")
    assert (moved["queue"], moved["rule"]) == ("billing", "default")

    rules_file.write_text(original + "\n  - name: after-default\n    queue: billing\n")
    refused = await api.client.post("/v1/admin/rules/reload", headers=api.headers)
    assert refused.status == 422
    problem = await refused.json(content_type=None)
    assert "rules.yaml:" in problem["detail"] and "unreachable" in problem["detail"]
    assert (await api.call("c1"))["queue"] == "billing"  # the good rules stay in force
