"""Whether a call is live: the check every media connection passes before it may stream."""

from __future__ import annotations

from callcenter.domain.calls import ACTIVE_STATES, Call
from callcenter.errors import NotFound
from callcenter.services.calls import CallQueryService


async def live_call(calls: CallQueryService, call_id: str) -> Call | None:
    """The call if it is live (known, and still holding a caller or an agent), else None.
    Raises StorageUnavailable."""
    try:
        call = await calls.get(call_id)
    except NotFound:
        return None
    return call if call.state in ACTIVE_STATES else None
