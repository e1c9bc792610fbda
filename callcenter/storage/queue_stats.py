"""Today's figures per queue, as the wallboard shows them: calls answered (and how many
within the queue's service-level threshold), abandoned, and the total wait of answered
calls. One hash per queue and day (UTC), kept two days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import msgspec

from callcenter.storage import keys
from callcenter.storage.resp import Command, RespClient

KEEP_SECONDS = 2 * 86_400


class QueueDay(msgspec.Struct, frozen=True, kw_only=True):
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    wait_seconds_sum: float = 0.0

    def plus(self, other: QueueDay) -> QueueDay:
        return QueueDay(
            answered=self.answered + other.answered,
            answered_in_sl=self.answered_in_sl + other.answered_in_sl,
            abandoned=self.abandoned + other.abandoned,
            wait_seconds_sum=self.wait_seconds_sum + other.wait_seconds_sum,
        )


class QueueStatsRepository:
    def __init__(self, client: RespClient) -> None:
        self._client = client

    async def add_many(
        self, changes: Mapping[tuple[date, str], QueueDay]
    ) -> dict[tuple[date, str], QueueDay]:
        """Add each change to its queue's day, all in one pipeline; each day's figures
        after (keyed as `changes`)."""
        commands: list[Command] = []
        read_at: list[int] = []  # where each day's HGETALL is
        for (day, queue), change in changes.items():
            key = keys.queue_day(day.isoformat(), queue)
            commands += [
                ("HINCRBY", key, name, value)
                for name in ("answered", "answered_in_sl", "abandoned")
                if (value := getattr(change, name))
            ]
            if change.wait_seconds_sum:
                commands.append(
                    ("HINCRBYFLOAT", key, "wait_seconds_sum", round(change.wait_seconds_sum, 3))
                )
            commands += [("EXPIRE", key, KEEP_SECONDS), ("HGETALL", key)]
            read_at.append(len(commands) - 1)
        replies = await self._client.pipeline(commands) if commands else []
        return {where: _day(replies[i]) for where, i in zip(changes, read_at, strict=True)}

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
