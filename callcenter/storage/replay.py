"""One-time markers: a signed webhook body may be accepted once within its tolerance window."""

from __future__ import annotations

import redis.asyncio as aioredis

from callcenter.storage import keys


class ReplayGuard:
    def __init__(self, client: aioredis.Redis, *, ttl_seconds: int) -> None:
        self._client = client
        self._ttl = max(1, ttl_seconds)

    async def first_use(self, digest: str) -> bool:
        """True the first time `digest` is seen within the window, False on a replay."""
        return bool(
            await self._client.set(keys.signature_seen(digest), b"1", nx=True, ex=self._ttl)
        )
