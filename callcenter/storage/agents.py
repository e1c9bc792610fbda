"""Agents in Redis: one versioned document per agent and the set of agent ids."""

from __future__ import annotations

import msgspec

from callcenter.domain.agents import Agent
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore, text


def put_agent(plan: CommitPlan, before: Agent | None, after: Agent) -> None:
    """Write `after` (read as `before`) and keep the ready-agents index in step."""
    expected = before.version if before else 0
    plan.put(
        keys.agent(after.id), expected, msgspec.structs.replace(after, version=expected + 1), 0
    )
    if after.eligible:
        plan.sadd(keys.READY, after.id)
    elif before is None or before.eligible:
        plan.srem(keys.READY, after.id)


class AgentRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, agent_id: str) -> Agent | None:
        return await self._store.load(keys.agent(agent_id), Agent)

    async def ready(self) -> list[Agent]:
        """Agents in the ready index (available and idle when last written)."""
        ids = [text(m) for m in await self._store.client.execute("SMEMBERS", keys.READY)]
        found = await self._store.load_many([keys.agent(i) for i in ids], Agent)
        return [agent for agent in found if agent is not None]

    async def all(self) -> list[Agent]:
        ids = sorted(text(m) for m in await self._store.client.execute("SMEMBERS", keys.AGENTS))
        found = await self._store.load_many([keys.agent(i) for i in ids], Agent)
        return [agent for agent in found if agent is not None]

    async def save(self, old: Agent | None, new: Agent) -> CommitResult:
        """Store `new` if the stored agent is still `old` (None: must not exist yet)."""
        plan = CommitPlan()
        put_agent(plan, old, new)
        plan.sadd(keys.AGENTS, new.id)
        result, _ = await self._store.commit(plan)
        return result

    async def delete(self, old: Agent) -> CommitResult:
        plan = CommitPlan()
        plan.delete(keys.agent(old.id), old.version)
        plan.srem(keys.AGENTS, old.id)
        plan.srem(keys.READY, old.id)
        result, _ = await self._store.commit(plan)
        return result
