"""Agents in Redis: one versioned document per agent and the set of agent ids."""

from __future__ import annotations

import msgspec

from callcenter.domain.agents import Agent
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore, text


class AgentRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, agent_id: str) -> Agent | None:
        return await self._store.load(keys.agent(agent_id), Agent)

    async def all(self) -> list[Agent]:
        ids = sorted(text(m) for m in await self._store.client.smembers(keys.AGENTS))
        found = await self._store.load_many([keys.agent(i) for i in ids], Agent)
        return [agent for agent in found if agent is not None]

    async def save(self, old: Agent | None, new: Agent) -> CommitResult:
        """Store `new` if the stored agent is still `old` (None: must not exist yet)."""
        plan = CommitPlan()
        plan.put(
            keys.agent(new.id),
            old.version if old else 0,
            msgspec.structs.replace(new, version=(old.version if old else 0) + 1),
            0,
        )
        plan.sadd(keys.AGENTS, new.id)
        result, _ = await self._store.commit(plan)
        return result

    async def delete(self, old: Agent) -> CommitResult:
        plan = CommitPlan()
        plan.delete(keys.agent(old.id), old.version)
        plan.srem(keys.AGENTS, old.id)
        result, _ = await self._store.commit(plan)
        return result
