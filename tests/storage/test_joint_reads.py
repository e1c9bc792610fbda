"""Reads of two repositories sent together (`storage/joint_reads.py`), on a real Redis: a
dispatch pass's first read (the ready agents, the waiting lines and their change counts)
gives what each read gives alone, over one connection, and survives Redis losing its
scripts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Presence
from callcenter.domain.routing_index import Line, LineKind
from callcenter.storage.agents import AgentRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.joint_reads import read_both
from callcenter.storage.resp import RespClient
from tests.storage.test_line_reads import three_waiting
from tests.storage.test_waiting_lines import BILLING, repository

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
OTHER = Line(LineKind.QUEUE, BILLING.channel, "sales")  # never counted: 0


async def ready_agents(agents: AgentRepository, count: int) -> None:
    for n in range(count):
        agent = agent_rules.new_agent(f"a{n}", f"Agent {n}", {"billing": 3}, NOW)
        await agents.save(None, agent, NOW)
        stored = await agents.get(agent.id)
        assert stored is not None
        await agents.save(stored, agent_rules.set_presence(stored, Presence.AVAILABLE, NOW), NOW)


async def our_connections(redis_client: aioredis.Redis) -> int:
    listed = await redis_client.client_list()
    return sum(1 for client in listed if client["name"] == "callcenter")


async def test_the_first_read_of_a_pass_gives_what_each_read_gives_alone(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    writer = RespClient.from_url(redis_url)
    try:
        agents, calls = AgentRepository(DocumentStore(writer)), repository(writer)
        await ready_agents(agents, 3)
        await three_waiting(calls)
        # each alone (this loads their scripts)
        ready_alone = sorted(agent.id for agent in await agents.ready())
        found_alone, changes_alone = await calls.reads.lines_and_changes([BILLING, OTHER])
    finally:
        await writer.aclose()
    assert await our_connections(redis_client) == 0
    resp = RespClient.from_url(redis_url, connections=2)
    try:
        agents, lines = AgentRepository(DocumentStore(resp)), repository(resp).reads
        ready, (found, changes, joined) = await read_both(
            agents.ready_read(), lines.lines_read([BILLING, OTHER])
        )
        # one pipeline: the client opened one of its two connections
        assert await our_connections(redis_client) == 1
    finally:
        await resp.aclose()
    assert sorted(agent.id for agent in ready) == ready_alone == ["a0", "a1", "a2"]
    assert found.members == found_alone.members and BILLING in found
    assert list(changes.values()) == changes_alone
    assert changes[BILLING] >= 3 and changes[OTHER] == 0
    assert [ticket.call_id for ticket in joined.values()] == ["c3"] and BILLING in joined


async def test_the_joint_read_loads_the_scripts_redis_lost(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    agents, calls = AgentRepository(DocumentStore(resp)), repository(resp)
    await ready_agents(agents, 2)
    await three_waiting(calls)
    await redis_client.script_flush()
    ready, (found, _, _) = await read_both(agents.ready_read(), calls.reads.lines_read([]))
    assert sorted(agent.id for agent in ready) == ["a0", "a1"]
    assert BILLING in found


async def test_reads_of_two_clients_are_not_joined(redis_url: str, resp: RespClient) -> None:
    other = RespClient.from_url(redis_url)
    try:
        first = AgentRepository(DocumentStore(resp)).ready_read()
        second = AgentRepository(DocumentStore(other)).ready_read()
        with pytest.raises(ValueError, match="one client"):
            await read_both(first, second)
    finally:
        await other.aclose()


async def test_the_heads_join_the_first_read_and_give_their_first_calls(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    resp = RespClient.from_url(redis_url, connections=2)
    try:
        agents, calls = AgentRepository(DocumentStore(resp)), repository(resp)
        await ready_agents(agents, 1)
        await three_waiting(calls)
        await calls.reads.lines()  # the scripts loaded
        await calls.reads.heads({BILLING: 1})
        await resp.aclose()
        resp = RespClient.from_url(redis_url, connections=2)
        agents, calls = AgentRepository(DocumentStore(resp)), repository(resp)
        lines = calls.reads
        (ready, (found, _, _)), heads = await read_both(
            agents.ready_read().joined(lines.lines_read([])), lines.heads_read({BILLING: 2})
        )
        assert await our_connections(redis_client) == 1  # one pipeline
    finally:
        await resp.aclose()
    assert [agent.id for agent in ready] == ["a0"] and BILLING in found
    assert [ticket.call_id for ticket in heads[BILLING].tickets] == ["c1", "c2"]
    assert not heads[BILLING].complete
    # the lines' reply is parsed first (a pass starts there), so the first call read with
    # the heads is kept for the claim
    assert list(lines.take_first_calls()) == ["c1"]


async def test_a_read_of_nothing_sends_nothing(resp: RespClient) -> None:
    lines = repository(resp).reads
    nothing = lines.heads_read({})
    assert not nothing.commands
    assert await nothing.run() == {}
    ready, heads = await read_both(AgentRepository(DocumentStore(resp)).ready_read(), nothing)
    assert ready == [] and heads == {}
