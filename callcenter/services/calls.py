"""Reading calls, with what an agent is allowed to see."""

from __future__ import annotations

from callcenter.domain.auth import Principal, RoleKind
from callcenter.domain.calls import Call, CallState
from callcenter.errors import Forbidden, NotFound
from callcenter.storage.calls import CallRepository


class CallQueryService:
    def __init__(self, calls: CallRepository) -> None:
        self._calls = calls

    async def get(self, call_id: str, viewer: Principal) -> Call:
        """The call; an agent sees only calls it holds. Raises NotFound, Forbidden."""
        call = await self._calls.get(call_id)
        if call is None:
            raise NotFound("call", call_id)
        if viewer.kind is RoleKind.AGENT and call.agent_id != viewer.agent_id:
            raise Forbidden("an agent may only read its own calls")
        return call

    async def recent(self, state: CallState | None, limit: int) -> list[Call]:
        return await self._calls.recent(state, limit)

    async def agent_may_see_caller(self, viewer: Principal, caller_key: str) -> bool:
        """An agent may read a caller only while it holds (or is offered) that caller's call."""
        if viewer.kind is not RoleKind.AGENT or viewer.agent_id is None:
            return False
        agents = await self._calls.get_agents([viewer.agent_id])
        agent = agents.get(viewer.agent_id)
        if agent is None or agent.call_id is None:
            return False
        call = await self._calls.get(agent.call_id)
        return call is not None and call.caller_key == caller_key
