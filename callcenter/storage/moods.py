"""The final sentiment of each call, as far as its transcript goes: written by the instance
transcribing the call after every final utterance, read when the call ends."""

from __future__ import annotations

from datetime import timedelta

from callcenter.storage import keys
from callcenter.storage.resp import RespClient


class CallMoodRepository:
    def __init__(self, client: RespClient, *, retention: timedelta) -> None:
        self._client = client
        self._ttl = int(retention.total_seconds())

    async def set_final(self, call_id: str, score: float) -> None:
        await self._client.execute("SET", keys.call_mood(call_id), repr(score), "EX", self._ttl)

    async def final(self, call_id: str) -> float | None:
        raw = await self._client.execute("GET", keys.call_mood(call_id))
        return float(raw) if raw is not None else None
