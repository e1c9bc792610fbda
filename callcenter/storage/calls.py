"""Calls in Redis: the call document, its state index and the event dedupe guard."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.calls import ACTIVE_STATES, Call, CallState
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore, text

# A call that stays active this long without any event is presumed lost by its gateway.
ACTIVE_CALL_TTL = timedelta(days=1)


def _bumped(doc: Call | Agent) -> Call | Agent:
    return msgspec.structs.replace(doc, version=doc.version + 1)


class CallRepository:
    def __init__(
        self, store: DocumentStore, *, retention: timedelta, dedupe_window: timedelta
    ) -> None:
        self._store = store
        self._retention = retention
        self._dedupe_window = dedupe_window

    async def get(self, call_id: str) -> Call | None:
        return await self._store.load(keys.call(call_id), Call)

    async def get_agents(self, agent_ids: list[str]) -> dict[str, Agent]:
        found = await self._store.load_many([keys.agent(a) for a in agent_ids], Agent)
        return {agent.id: agent for agent in found if agent is not None}

    async def was_seen(self, event_id: str) -> bool:
        return bool(await self._store.client.exists(keys.event_seen(event_id)))

    async def recent(self, state: CallState | None, limit: int) -> list[Call]:
        """Newest-changed first; all non-ended states when `state` is None."""
        states = [state] if state else sorted(ACTIVE_STATES)
        ids: list[str] = []
        for one in states:
            members = await self._store.client.zrevrange(keys.calls_in_state(one), 0, limit - 1)
            ids.extend(text(member) for member in cast(list[bytes], members))
        calls = await self._store.load_many([keys.call(i) for i in ids], Call)
        found = [c for c in calls if c is not None and (state is None or c.state is state)]
        found.sort(key=lambda c: c.updated_at, reverse=True)
        return found[:limit]

    async def count_by_state(self, states: list[CallState]) -> dict[str, int]:
        async with self._store.client.pipeline(transaction=False) as pipe:
            for state in states:
                pipe.zcard(keys.calls_in_state(state))
            counts: list[int] = await pipe.execute()
        return {str(state): count for state, count in zip(states, counts, strict=True)}

    async def commit(
        self,
        old: Call | None,
        new: Call,
        agents: tuple[tuple[Agent, Agent], ...],
        *,
        event_id: str | None,
        now: datetime,
    ) -> tuple[CommitResult, str | None]:
        """Store `new` (read as `old`) and the agent changes (old, new) atomically,
        guarded by the event's dedupe marker."""
        plan = CommitPlan()
        if event_id is not None:
            plan.guard(keys.event_seen(event_id), int(self._dedupe_window.total_seconds()))
        if new != old:
            self._put_call(plan, old, new, now)
        for before, after in agents:
            if after != before:
                plan.put(keys.agent(after.id), before.version, _bumped(after))
        return await self._store.commit(plan)

    def _put_call(self, plan: CommitPlan, old: Call | None, new: Call, now: datetime) -> None:
        expected = old.version if old else 0
        ended = new.state is CallState.ENDED
        ttl = self._retention if ended else ACTIVE_CALL_TTL
        plan.put(keys.call(new.id), expected, _bumped(new), int(ttl.total_seconds()))
        if old is not None and old.state is not new.state:
            plan.zrem(keys.calls_in_state(old.state), old.id)
        plan.zadd(keys.calls_in_state(new.state), now.timestamp(), new.id)
        if ended:
            oldest_kept = (now - self._retention).timestamp()
            plan.ztrim(keys.calls_in_state(CallState.ENDED), oldest_kept)
