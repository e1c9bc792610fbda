"""Every queue's recent traffic and outlook history, shared by all instances: one hash per
minute of counters (field `<counter>:<queue>`: arrivals, answers, abandons, handled calls
and their talk and handle seconds), one hash per minute of outlook points (field = queue),
both kept two hours, the latest outlook of every queue (for scrapes), and the claim on
each outlook tick (one instance computes and publishes it).
A window of minutes is one pipeline, however many calls wait or queues there are."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import msgspec

from callcenter.domain.queue_outlook import OutlookPoint, QueueOutlookView
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.storage import keys
from callcenter.storage.resp import Command, RespClient

KEEP_SECONDS = 2 * 3600
TICK_KEEP_SECONDS = 60
# A minute this many minutes old gets no more writes, even from an instance whose clock is
# somewhat behind: it is read from Redis once, then kept.
SETTLED_MINUTES = 3
_INTEGERS = ("arrived", "answered", "answered_in_sl", "abandoned", "handled", "first_responses")
_FLOATS = ("handle_seconds", "talk_seconds", "first_response_seconds")
_POINTS = msgspec.json.Decoder(OutlookPoint)
BOARD_KEEP_SECONDS = 60


class StoredBoard(msgspec.Struct, frozen=True, kw_only=True):
    """Every queue's outlook as computed at `at` by the instance that took the tick."""

    at: datetime
    queues: list[QueueOutlookView]


_BOARD = msgspec.json.Decoder(StoredBoard)
_ENCODER = msgspec.json.Encoder()


def minute_of(at: datetime) -> int:
    """The minute `at` falls in: Unix time // 60."""
    return int(at.timestamp()) // 60


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


class QueueActivityRepository:
    def __init__(self, client: RespClient) -> None:
        self._client = client
        self._settled: dict[int, dict[str, QueueTraffic]] = {}  # minute -> its traffic

    async def record(self, at: datetime, queue: str, traffic: QueueTraffic) -> None:
        """Add `traffic` to `queue`'s minute of `at` (one pipeline; nothing when empty)."""
        await self.record_many({(minute_of(at), queue): traffic})

    async def record_many(self, traffic: Mapping[tuple[int, str], QueueTraffic]) -> None:
        """Add each queue's traffic to its minute (keyed by minute and queue), all in one
        pipeline; nothing for empty traffic."""
        commands: list[Command] = []
        expiring: set[str] = set()
        for (minute, queue), counts in traffic.items():
            if counts.empty:
                continue
            key = keys.queue_minute(minute)
            commands += [
                ("HINCRBY", key, f"{name}:{queue}", value)
                for name in _INTEGERS
                if (value := getattr(counts, name))
            ]
            commands += [
                ("HINCRBYFLOAT", key, f"{name}:{queue}", round(value, 3))
                for name in _FLOATS
                if (value := getattr(counts, name))
            ]
            expiring.add(key)
        if commands:
            await self._client.pipeline(
                [*commands, *(("EXPIRE", k, KEEP_SECONDS) for k in expiring)]
            )

    async def minutes(self, now: datetime, count: int) -> list[dict[str, QueueTraffic]]:
        """Every queue's traffic in each of the last `count` minutes (the current one last,
        so far), oldest first. Minutes more than SETTLED_MINUTES old no longer change (each
        instance writes to the minute of its own clock): they are read once and kept."""
        last = minute_of(now)
        wanted = range(last - count + 1, last + 1)
        missing = [m for m in wanted if m not in self._settled]
        replies = await self._client.pipeline([("HGETALL", keys.queue_minute(m)) for m in missing])
        read = {}
        for minute, reply in zip(missing, replies, strict=True):
            # a minute of 500 queues takes about 3 ms to parse: one per turn of the loop
            read[minute] = _traffic(reply)
            await asyncio.sleep(0)
        self._settle(read, oldest=wanted.start, newest=last - SETTLED_MINUTES)
        return [read[m] if m in read else self._settled[m] for m in wanted]

    def _settle(
        self, read: dict[int, dict[str, QueueTraffic]], *, oldest: int, newest: int
    ) -> None:
        """Keep the minutes of `read` up to `newest`; forget those before `oldest`."""
        for minute in [m for m in self._settled if m < oldest]:
            del self._settled[minute]
        self._settled.update((m, traffic) for m, traffic in read.items() if m <= newest)

    async def save_points(self, now: datetime, points: dict[str, OutlookPoint]) -> None:
        """Keep each queue's point for the minute of `now` (replacing an earlier one)."""
        await self._client.pipeline(_points(now, points))

    async def save_tick(
        self, now: datetime, points: dict[str, OutlookPoint], board: list[QueueOutlookView]
    ) -> None:
        """An outlook tick's results in one pipeline: the minute's points and the board."""
        encoded = _ENCODER.encode(StoredBoard(at=now, queues=board))
        await self._client.pipeline(
            [*_points(now, points), ("SET", keys.OUTLOOK_BOARD, encoded, "EX", BOARD_KEEP_SECONDS)]
        )

    async def board(self) -> StoredBoard | None:
        """The latest outlook a tick kept (None: no tick in the last minute)."""
        raw = await self._client.execute("GET", keys.OUTLOOK_BOARD)
        return _BOARD.decode(raw) if raw is not None else None

    async def points(self, now: datetime, count: int) -> dict[str, list[OutlookPoint]]:
        """Each queue's points of the last `count` minutes, oldest first (minutes nobody
        recorded are missing)."""
        last = minute_of(now)
        replies = await self._client.pipeline(
            [("HGETALL", keys.queue_points(m)) for m in range(last - count + 1, last + 1)]
        )
        series: dict[str, list[OutlookPoint]] = {}
        for flat in replies:
            for i in range(0, len(flat), 2):
                series.setdefault(flat[i].decode(), []).append(_POINTS.decode(flat[i + 1]))
        return series

    async def claim_tick(self, tick: int) -> bool:
        """True for the one caller that claims outlook tick `tick` first."""
        reply = await self._client.execute(
            "SET", keys.outlook_tick(tick), "1", "NX", "EX", TICK_KEEP_SECONDS
        )
        return reply is not None


def _points(now: datetime, points: dict[str, OutlookPoint]) -> list[Command]:
    if not points:
        return []
    key = keys.queue_points(minute_of(now))
    fields: list[bytes | str] = []
    for queue, point in points.items():
        fields += [queue, _ENCODER.encode(point)]
    return [("HSET", key, *fields), ("EXPIRE", key, KEEP_SECONDS)]


def _traffic(flat: Sequence[bytes]) -> dict[str, QueueTraffic]:
    counters: dict[str, dict[str, float]] = {}
    for i in range(0, len(flat), 2):
        name, _, queue = flat[i].decode().partition(":")
        if name in _INTEGERS or name in _FLOATS:
            counters.setdefault(queue, {})[name] = float(flat[i + 1])
    return {
        queue: QueueTraffic(
            arrived=int(values.get("arrived", 0)),
            answered=int(values.get("answered", 0)),
            answered_in_sl=int(values.get("answered_in_sl", 0)),
            abandoned=int(values.get("abandoned", 0)),
            handled=int(values.get("handled", 0)),
            handle_seconds=values.get("handle_seconds", 0.0),
            talk_seconds=values.get("talk_seconds", 0.0),
            first_responses=int(values.get("first_responses", 0)),
            first_response_seconds=values.get("first_response_seconds", 0.0),
        )
        for queue, values in counters.items()
    }
