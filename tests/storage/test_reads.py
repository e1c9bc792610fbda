"""Reads of two repositories in one round trip (`storage/reads.py`), on a real Redis: each
answer is made from its own replies, as the two reads made apart would answer, and scripts
Redis lost (a restart, SCRIPT FLUSH) are loaded again."""

from __future__ import annotations

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Presence
from callcenter.storage.agents import AgentRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient
from tests.storage.test_line_reads import three_waiting
from tests.storage.test_waiting_lines import BILLING, NOW, repository


async def ready_and_waiting(resp: RespClient) -> tuple[AgentRepository, list[str]]:
    agents = AgentRepository(DocumentStore(resp))
    for n in (1, 2):
        new = agent_rules.new_agent(f"a{n}", f"Agent {n}", {"billing": 3}, NOW)
        await agents.save(None, new, NOW)
    away = await agents.get("a2")
    assert away is not None
    await agents.save(away, agent_rules.set_presence(away, Presence.AVAILABLE, NOW), NOW)
    await three_waiting(repository(resp))
    return agents, ["a2"]


async def test_the_ready_agents_and_the_lines_read_together_answer_as_apart(
    resp: RespClient,
) -> None:
    agents, ready = await ready_and_waiting(resp)
    calls = repository(resp)
    alone = await calls.reads.lines_and_changes([BILLING])
    found, (lines, changes) = await agents.ready_with(calls.reads.lines_read([BILLING]))
    assert [agent.id for agent in found] == ready
    assert BILLING in lines and set(lines) == set(alone[0])
    assert changes == alone[1] == [3]
    # without counted lines, only the set of lines is read
    _, (lines, changes) = await agents.ready_with(calls.reads.lines_read([]))
    assert BILLING in lines and changes == []


async def test_scripts_redis_lost_are_loaded_again(resp: RespClient) -> None:
    agents, ready = await ready_and_waiting(resp)
    calls = repository(resp)
    await resp.execute("SCRIPT", "FLUSH")
    found, (lines, changes) = await agents.ready_with(calls.reads.lines_read([BILLING]))
    assert [agent.id for agent in found] == ready
    assert BILLING in lines and changes == [3]
