"""The final sentiment of each call, as far as its transcript goes: written by the instance
transcribing the call after every final utterance, read when the call ends."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from callcenter.domain.mood import Mood
from callcenter.storage import keys
from callcenter.storage.resp import RespClient

_MOOD = msgspec.json.Decoder(Mood)


class CallMoodRepository:
    def __init__(self, client: RespClient, *, retention: timedelta) -> None:
        self._client = client
        self._ttl = int(retention.total_seconds())

    async def set_final(self, call_id: str, score: float) -> None:
        await self._client.execute("SET", keys.call_mood(call_id), repr(score), "EX", self._ttl)

    async def final(self, call_id: str) -> float | None:
        raw = await self._client.execute("GET", keys.call_mood(call_id))
        return float(raw) if raw is not None else None


class LiveMoodRepository:
    """Each speaker's latest mood per call, for the live pages' snapshots."""

    def __init__(self, client: RespClient, *, retention: timedelta) -> None:
        self._client = client
        self._ttl = int(retention.total_seconds())

    async def set(self, call_id: str, mood: Mood) -> None:
        key = keys.live_mood(call_id)
        await self._client.pipeline(
            [("HSET", key, mood.speaker, msgspec.json.encode(mood)), ("EXPIRE", key, self._ttl)]
        )

    async def of_calls(self, call_ids: list[str]) -> dict[str, dict[str, Mood]]:
        """call id → speaker → mood, for the calls that have any."""
        if not call_ids:
            return {}
        replies = await self._client.pipeline(
            [("HGETALL", keys.live_mood(call_id)) for call_id in call_ids]
        )
        found: dict[str, dict[str, Mood]] = {}
        for call_id, flat in zip(call_ids, replies, strict=True):
            if flat:
                found[call_id] = {
                    flat[i].decode(): _MOOD.decode(flat[i + 1]) for i in range(0, len(flat), 2)
                }
        return found
