"""Today's figures per queue, as the wallboard shows them: calls answered (and how many
within the queue's service-level threshold), abandoned, and the total wait of answered
calls. One hash per queue and day (UTC), kept two days."""

from __future__ import annotations

from datetime import date

import msgspec

from callcenter.storage import keys
from callcenter.storage.resp import RespClient

KEEP_SECONDS = 2 * 86_400


class QueueDay(msgspec.Struct, frozen=True, kw_only=True):
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    wait_seconds_sum: float = 0.0


class QueueStatsRepository:
    def __init__(self, client: RespClient) -> None:
        self._client = client

    async def answered(self, day: date, queue: str, wait_s: float, within_sl: bool) -> QueueDay:
        key = keys.queue_day(day.isoformat(), queue)
        replies = await self._client.pipeline(
            [
                ("HINCRBY", key, "answered", 1),
                ("HINCRBY", key, "answered_in_sl", int(within_sl)),
                ("HINCRBYFLOAT", key, "wait_seconds_sum", round(wait_s, 3)),
                ("EXPIRE", key, KEEP_SECONDS),
                ("HGETALL", key),
            ]
        )
        return _day(replies[-1])

    async def abandoned(self, day: date, queue: str) -> QueueDay:
        key = keys.queue_day(day.isoformat(), queue)
        replies = await self._client.pipeline(
            [("HINCRBY", key, "abandoned", 1), ("EXPIRE", key, KEEP_SECONDS), ("HGETALL", key)]
        )
        return _day(replies[-1])

    async def today(self, day: date, queues: list[str]) -> dict[str, QueueDay]:
        replies = await self._client.pipeline(
            [("HGETALL", keys.queue_day(day.isoformat(), q)) for q in queues]
        )
        return {queue: _day(reply) for queue, reply in zip(queues, replies, strict=True)}


def _day(flat: list[bytes]) -> QueueDay:
    fields = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
    return QueueDay(
        answered=int(fields.get("answered", 0)),
        answered_in_sl=int(fields.get("answered_in_sl", 0)),
        abandoned=int(fields.get("abandoned", 0)),
        wait_seconds_sum=float(fields.get("wait_seconds_sum", 0.0)),
    )
