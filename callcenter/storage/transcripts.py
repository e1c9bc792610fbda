"""Transcripts: one capped Redis stream per call, expiring with the call's retention."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from callcenter.domain.transcripts import TranscriptEntry
from callcenter.storage import keys
from callcenter.storage.resp import RespClient

MAX_ENTRIES_PER_CALL = 2000


_DECODER = msgspec.json.Decoder(TranscriptEntry)


class TranscriptRepository:
    def __init__(self, client: RespClient, *, retention: timedelta) -> None:
        self._client = client
        self._ttl = int(retention.total_seconds())

    async def append(self, call_id: str, entry: TranscriptEntry) -> None:
        key = keys.transcript(call_id)
        await self._client.pipeline(
            [
                (
                    "XADD",
                    key,
                    "MAXLEN",
                    "~",
                    MAX_ENTRIES_PER_CALL,
                    "*",
                    "e",
                    msgspec.json.encode(entry),
                ),
                ("EXPIRE", key, self._ttl),
            ]
        )

    async def read(self, call_id: str, limit: int = MAX_ENTRIES_PER_CALL) -> list[TranscriptEntry]:
        rows = await self._client.execute(
            "XRANGE", keys.transcript(call_id), "-", "+", "COUNT", limit
        )
        return [_DECODER.decode(fields[1]) for _, fields in rows]

    async def last(self, call_id: str, count: int) -> list[TranscriptEntry]:
        """The call's last `count` utterances, oldest first."""
        rows = await self._client.execute(
            "XREVRANGE", keys.transcript(call_id), "+", "-", "COUNT", count
        )
        return [_DECODER.decode(fields[1]) for _, fields in reversed(rows)]
