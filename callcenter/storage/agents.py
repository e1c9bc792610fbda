"""Agents in Redis: one versioned document per agent, the set of agent ids, and the set of
agents of each skill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.capacity import readied, ready, ready_on_voice
from callcenter.domain.timers import dispatch_due
from callcenter.storage import keys
from callcenter.storage.documents import (
    CommitPlan,
    CommitResult,
    DecodeCache,
    DocumentStore,
    load_script,
)
from callcenter.storage.joint_reads import Read
from callcenter.storage.resp import Command
from callcenter.storage.timers import schedule


def bump_agent(before: Agent | None, after: Agent) -> Agent:
    """`after` as stored over `before`: with the next version."""
    return msgspec.structs.replace(after, version=(before.version if before else 0) + 1)


def put_agent(plan: CommitPlan, before: Agent | None, after: Agent, now: datetime) -> None:
    """Write `after` (read as `before`), keep the skill and ready-agents indexes in step,
    and owe a dispatch pass when the agent became ready or has room for more text tasks."""
    expected = before.version if before else 0
    plan.put(keys.agent(after.id), expected, bump_agent(before, after), 0)
    if before is None or before.skills != after.skills:
        _index_skills(plan, before, after)
    _index_ready(plan, before, after, now)


def _index_ready(plan: CommitPlan, before: Agent | None, after: Agent, now: datetime) -> None:
    for index, member in ((keys.READY, ready), (keys.READY_ON_VOICE, ready_on_voice)):
        if member(after):
            plan.sadd(index, after.id)
            if readied(before, after, member):
                schedule(plan, dispatch_due(now))
        elif before is None or member(before):
            plan.srem(index, after.id)


def _index_skills(plan: CommitPlan, before: Agent | None, after: Agent) -> None:
    """The agent in the set of each skill it has, out of those of skills it lost."""
    for skill in after.skills:
        plan.sadd(keys.skill(skill), after.id)
    for skill in before.skills if before else ():
        if skill not in after.skills:
            plan.srem(keys.skill(skill), after.id)


AGENTS_PER_SLICE = 500  # 15,000 agents: no command holds Redis for more than a few ms

AgentHook = Callable[[Agent | None, Agent | None], None]
"""on_change(before, after) of a committed agent write; after is None when removed."""


class AgentRepository:
    def __init__(
        self,
        store: DocumentStore,
        *,
        on_change: AgentHook | None = None,
        slice_size: int = AGENTS_PER_SLICE,
    ) -> None:
        """`on_change` is told of every committed write, on the loop, right after it;
        `slice_size`: the agents read per command when reading all of them."""
        self._store = store
        self._on_change = on_change
        self._agents_in = load_script("agents_in")
        self._documents_of = load_script("documents_of")
        self._slice_size = slice_size
        # decoded agents by their stored bytes: the outlook and the wallboard read them all
        self._decoded = DecodeCache(Agent)

    async def get(self, agent_id: str) -> Agent | None:
        return await self._store.load(keys.agent(agent_id), Agent)

    async def ready(self, *, on_voice: bool = False) -> list[Agent]:
        """Agents in the ready index (available and idle when last written); `on_voice`
        adds those on a call with room for a text task."""
        return await self.ready_read(on_voice=on_voice).run()

    def ready_read(self, *, on_voice: bool = False) -> Read[list[Agent]]:
        """`ready` as a read that may be sent with others (see `joint_reads`)."""
        indexes = self.ready_indexes(on_voice=on_voice)
        script = self._agents_in
        return Read(
            self._store.client,
            [("EVALSHA", script.sha, len(indexes), *indexes, keys.agent(""))],
            [script],
            lambda replies: self._decoded.decode_all(replies[0]),
        )

    def ready_indexes(self, *, on_voice: bool = False) -> list[str]:
        """The keys of the ready index (with `on_voice`, and of the one of agents on a
        call with room for text): empty, nobody is ready."""
        return [keys.READY, keys.READY_ON_VOICE] if on_voice else [keys.READY]

    async def all(self) -> list[Agent]:
        """Every agent, by id (unchanged documents are not decoded again). The ids, then
        their documents in slices of `slice_size`, in one pipeline: Redis is never held
        for the whole read (see lua/documents_of.lua)."""
        return await self._members_of(keys.AGENTS)

    async def with_skill(self, skill: str) -> list[Agent]:
        """Every agent with `skill` (any proficiency), by id, as `all` reads them: what
        one queue's staffing needs, without reading every agent."""
        return [a for a in await self._members_of(keys.skill(skill)) if skill in a.skills]

    async def _members_of(self, index: str) -> list[Agent]:
        """The agents whose ids set `index` holds, by id (ids without a document left
        out): the ids, then their documents in slices of `slice_size`, in one pipeline."""
        client = self._store.client
        ids = cast(list[bytes], await client.execute("SMEMBERS", index))
        if not ids:
            return []
        prefix, size = keys.agent(""), self._slice_size
        slices: list[Command] = [
            ("EVALSHA", self._documents_of.sha, 1, index, prefix, *ids[at : at + size])
            for at in range(0, len(ids), size)
        ]
        replies = await client.pipeline_with_scripts(slices, [self._documents_of])
        documents = [document for reply in replies for document in reply]
        agents = await self._decoded.decode_spread(documents)
        agents.sort(key=lambda agent: agent.id)
        return agents

    async def build_skills(self) -> int:
        """Put every agent in the sets of its skills, once per store (one written before
        they existed); the number of agents placed (0 when built already). Two instances
        building at once add the same members."""
        client = self._store.client
        if await client.execute("EXISTS", keys.SKILLS_BUILT):
            return 0
        agents = await self.all()
        await self.place_in_skills(agents)
        await client.execute("SET", keys.SKILLS_BUILT, "1")
        return len(agents)

    async def place_in_skills(self, agents: list[Agent]) -> int:
        """Put each of `agents` in the set of every skill it has (one `SADD` per skill and
        slice of ids, in one pipeline); the members that were missing. An agent that has
        lost a skill since it was read may be put back in its set: reads leave it out."""
        by_skill: dict[str, list[str]] = {}
        for agent in agents:
            for skill in agent.skills:
                by_skill.setdefault(skill, []).append(agent.id)
        size = self._slice_size
        adds: list[Command] = [
            ("SADD", keys.skill(skill), *ids[at : at + size])
            for skill, ids in sorted(by_skill.items())
            for at in range(0, len(ids), size)
        ]
        return sum(cast(list[int], await self._store.client.pipeline(adds)))

    async def save(self, old: Agent | None, new: Agent, now: datetime) -> CommitResult:
        """Store `new` if the stored agent is still `old` (None: must not exist yet)."""
        plan = CommitPlan()
        put_agent(plan, old, new, now)
        plan.sadd(keys.AGENTS, new.id)
        result, _ = await self._store.commit(plan)
        if result is CommitResult.COMMITTED and self._on_change is not None:
            self._on_change(old, bump_agent(old, new))
        return result

    async def delete(self, old: Agent) -> CommitResult:
        plan = CommitPlan()
        plan.delete(keys.agent(old.id), old.version)
        plan.srem(keys.AGENTS, old.id)
        for skill in old.skills:
            plan.srem(keys.skill(skill), old.id)
        plan.srem(keys.READY, old.id)
        plan.srem(keys.READY_ON_VOICE, old.id)
        result, _ = await self._store.commit(plan)
        if result is CommitResult.COMMITTED and self._on_change is not None:
            self._on_change(old, None)
        return result
