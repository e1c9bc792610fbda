"""Readiness: whether this instance can serve, which is whether its Redis answers."""

from __future__ import annotations

from callcenter.storage.connection import is_reachable
from callcenter.storage.resp import RespClient


class Readiness:
    def __init__(self, redis: RespClient) -> None:
        self._redis = redis

    async def ready(self) -> bool:
        """True if Redis answers in time; never raises for an outage."""
        return await is_reachable(self._redis)
