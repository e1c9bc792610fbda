"""One-time markers: a signed webhook body may be accepted once within its tolerance window."""

from __future__ import annotations

from callcenter.storage import keys
from callcenter.storage.resp import RespClient


class ReplayGuard:
    def __init__(self, client: RespClient, *, ttl_seconds: int) -> None:
        self._client = client
        self._ttl = max(1, ttl_seconds)

    async def first_use(self, digest: str) -> bool:
        """True the first time `digest` is seen within the window, False on a replay."""
        return bool(
            await self._client.execute("SET", keys.signature_seen(digest), 1, "NX", "EX", self._ttl)
        )
