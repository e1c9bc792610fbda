"""The agents of each skill (`AgentRepository.with_skill`) on a real Redis: the skill sets
follow every agent write (new agents, skills added and dropped, agents removed) so that
they hold exactly the agents with the skill; a store written before they were kept gets
them built once; and a stale member (an agent that lost the skill, or is gone) is left out
of the read."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Agent
from callcenter.storage import keys
from callcenter.storage.agents import AgentRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SKILLS = ("billing", "sales", "support", "vip:gold", "spanish", "email")


def random_skills(pick: random.Random) -> dict[str, int]:
    return {skill: pick.randint(1, 5) for skill in pick.sample(SKILLS, pick.randint(0, 3))}


async def members(resp: RespClient, skill: str) -> set[str]:
    found = await resp.execute("SMEMBERS", keys.skill(skill))
    return {member.decode() for member in found}


async def assert_exact(resp: RespClient, agents: AgentRepository) -> None:
    """Each skill's set, and its read, are the agents with the skill: no more, no less."""
    every = await agents.all()
    for skill in SKILLS:
        expected = [agent for agent in every if skill in agent.skills]
        assert await agents.with_skill(skill) == expected, skill
        assert await members(resp, skill) == {agent.id for agent in expected}, skill


async def test_the_skill_sets_follow_every_agent_write(resp: RespClient) -> None:
    agents = AgentRepository(DocumentStore(resp), slice_size=4)
    for seed in range(3):
        await resp.execute("FLUSHDB")
        pick = random.Random(seed)
        for n in range(30):
            new = agent_rules.new_agent(f"a{n:02d}", f"Agent {n}", random_skills(pick), NOW)
            await agents.save(None, new, NOW)
        await assert_exact(resp, agents)
        for _ in range(3):  # skills added, dropped, levels changed; agents removed
            for agent in pick.sample(await agents.all(), 12):
                await agents.save(agent, reskilled(agent, pick), NOW)
            for agent in pick.sample(await agents.all(), 3):
                await agents.delete(agent)
            await assert_exact(resp, agents)
        assert [await agents.with_skill(skill) for skill in SKILLS].count([]) < len(SKILLS)


def reskilled(agent: Agent, pick: random.Random) -> Agent:
    skills = dict(agent.skills)
    if skills and pick.random() < 0.5:
        del skills[pick.choice(sorted(skills))]
    if pick.random() < 0.5:
        skills[pick.choice(SKILLS)] = pick.randint(1, 5)
    return msgspec.structs.replace(agent, skills=skills)


async def test_a_store_written_before_the_skill_sets_gets_them_built_once(
    resp: RespClient,
) -> None:
    agents = AgentRepository(DocumentStore(resp), slice_size=3)  # ids added 3 at a time
    pick = random.Random(4)
    for n in range(20):
        new = agent_rules.new_agent(f"a{n:02d}", f"Agent {n}", random_skills(pick), NOW)
        await agents.save(None, new, NOW)
    await resp.execute("DEL", *[keys.skill(skill) for skill in SKILLS])  # as an older store
    assert [await agents.with_skill(skill) for skill in SKILLS] == [[]] * len(SKILLS)
    assert await agents.build_skills() == 20
    await assert_exact(resp, agents)
    assert await agents.build_skills() == 0  # once per store


async def test_an_agent_that_lost_the_skill_or_is_gone_is_left_out(resp: RespClient) -> None:
    agents = AgentRepository(DocumentStore(resp))
    for agent_id in ("a1", "a2"):
        new = agent_rules.new_agent(agent_id, agent_id, {"billing": 3}, NOW)
        await agents.save(None, new, NOW)
    # members an instance of an older version left behind: a2 lost the skill, a9 is gone
    a2 = await agents.get("a2")
    assert a2 is not None
    await agents.save(a2, msgspec.structs.replace(a2, skills={"sales": 1}), NOW)
    await resp.execute("SADD", keys.skill("billing"), "a2", "a9")
    assert [agent.id for agent in await agents.with_skill("billing")] == ["a1"]
