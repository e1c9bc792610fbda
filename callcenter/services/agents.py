"""Agent registration, presence and wrap-up completion."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.call_lifecycle import complete_wrap_up
from callcenter.domain.capacity import CapacitySetting, ready
from callcenter.errors import Conflict, IllegalTransition, NotFound
from callcenter.services.clock import Clock
from callcenter.services.optimistic import Retry, with_retries
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import CommitResult


class AgentService:
    def __init__(
        self,
        agents: AgentRepository,
        calls: CallRepository,
        *,
        clock: Clock,
        on_ready: Callable[[], None],
    ) -> None:
        """`on_ready` is called when an agent becomes ready for offers (dispatch)."""
        self._agents = agents
        self._calls = calls
        self._clock = clock
        self._on_ready = on_ready

    async def get(self, agent_id: str) -> Agent:
        agent = await self._agents.get(agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        return agent

    async def all(self) -> list[Agent]:
        return await self._agents.all()

    async def upsert(
        self,
        agent_id: str,
        name: str,
        skills: dict[str, int],
        *,
        capacity: CapacitySetting | None = None,
    ) -> tuple[Agent, bool]:
        """Create or update name, skills and (when given) capacity; True when the agent is
        new."""
        own = None if capacity is None else {str(c): n for c, n in capacity.items()}

        async def attempt() -> tuple[Agent, bool]:
            old = await self._agents.get(agent_id)
            new = (
                agent_rules.update_profile(old, name, skills, own)
                if old
                else agent_rules.update_profile(
                    agent_rules.new_agent(agent_id, name, skills, self._clock.now()),
                    name,
                    skills,
                    own,
                )
            )
            if await self._agents.save(old, new, self._clock.now()) is not CommitResult.COMMITTED:
                raise Retry
            return msgspec.structs.replace(
                new, version=(old.version if old else 0) + 1
            ), old is None

        return await with_retries("agent", agent_id, attempt)

    async def set_presence(self, agent_id: str, presence: Presence) -> Agent:
        async def attempt() -> Agent:
            old = await self.get(agent_id)
            new = agent_rules.set_presence(old, presence, self._clock.now())
            if new is old:
                return old
            if await self._agents.save(old, new, self._clock.now()) is not CommitResult.COMMITTED:
                raise Retry
            return msgspec.structs.replace(new, version=old.version + 1)

        agent = await with_retries("agent", agent_id, attempt)
        if ready(agent):
            self._on_ready()
        return agent

    async def delete(self, agent_id: str) -> None:
        """Remove an agent that holds no call."""

        async def attempt() -> None:
            old = await self.get(agent_id)
            if old.call_id is not None:
                raise Conflict(f"agent {agent_id!r} holds call {old.call_id!r}; finish it first")
            if old.tasks:
                held = ", ".join(sorted(old.tasks))
                raise Conflict(f"agent {agent_id!r} holds tasks {held}; resolve them first")
            if await self._agents.delete(old) is not CommitResult.COMMITTED:
                raise Retry

        await with_retries("agent", agent_id, attempt)

    async def finish_wrap_up(self, agent_id: str) -> Agent:
        """The agent is done with wrap-up: it goes idle and its call ends."""

        async def attempt() -> Agent:
            agent = await self.get(agent_id)
            call = await self._calls.get(agent.call_id) if agent.call_id else None
            idle, ended = complete_wrap_up(call, agent, self._clock.now())
            if call is None:
                result = await self._agents.save(agent, idle, self._clock.now())
            else:
                result, _ = await self._calls.commit(
                    call, ended or call, ((agent, idle),), event_id=None, now=self._clock.now()
                )
            if result is not CommitResult.COMMITTED:
                raise Retry
            return msgspec.structs.replace(idle, version=agent.version + 1)

        agent = await with_retries("agent", agent_id, attempt)
        if ready(agent):
            self._on_ready()
        return agent

    async def wrap_up_expired(self, agent_id: str, call_id: str) -> None:
        """The queue's wrap-up time is over: finish it unless the agent already did."""
        agent = await self._agents.get(agent_id)
        if agent is None or agent.activity is not Activity.WRAP_UP or agent.call_id != call_id:
            return
        try:
            await self.finish_wrap_up(agent_id)
        except IllegalTransition:
            return  # finished by the agent meanwhile
