"""Reading calls (who may read which is the route table's and `access.py`'s business)."""

from __future__ import annotations

from callcenter.domain.calls import Call, CallState
from callcenter.errors import NotFound
from callcenter.storage.calls import CallRepository


class CallQueryService:
    def __init__(self, calls: CallRepository) -> None:
        self._calls = calls

    async def get(self, call_id: str) -> Call:
        """The call; raises NotFound."""
        call = await self._calls.get(call_id)
        if call is None:
            raise NotFound("call", call_id)
        return call

    async def recent(self, state: CallState | None, limit: int) -> list[Call]:
        return await self._calls.recent(state, limit)
