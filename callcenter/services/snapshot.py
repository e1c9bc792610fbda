"""Shared-state figures read at scrape time: calls by state, agents by presence and activity."""

from __future__ import annotations

from collections import Counter

import msgspec

from callcenter.domain.calls import CallState
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    calls_by_state: dict[str, int]
    agents_by_state: dict[tuple[str, str], int]


class SnapshotService:
    def __init__(self, calls: CallRepository, agents: AgentRepository) -> None:
        self._calls = calls
        self._agents = agents

    async def read(self) -> Snapshot:
        counts = await self._calls.count_by_state(
            [s for s in CallState if s is not CallState.ENDED]
        )
        agents = await self._agents.all()
        by_state = Counter((str(a.presence), str(a.activity)) for a in agents)
        return Snapshot(calls_by_state=counts, agents_by_state=dict(by_state))
