"""The event bus in Redis: every event gets the next sequence number, goes out on one
pub/sub channel to every instance, and stays in a capped log (a stream whose ids are the
sequence numbers) so a listener that missed some reads them back in order. Every event
carries the bus epoch: a sequence that went back (Redis flushed, restored or failed over)
starts a new epoch, so listeners can tell "seen already" from "numbered again".

Publishing is one Lua script (number, log, publish in one step), so the order on the
channel is the order of the numbers. Keys share the `{bus}` hash tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from callcenter.storage import keys
from callcenter.storage.documents import load_script, text
from callcenter.storage.resp import RespClient
from callcenter.storage.subscription import Subscribed

__all__ = ["BusRepository", "Position", "Subscribed"]

DEFAULT_LOG_LENGTH = 10_000
_KEYS = [keys.BUS_SEQ, keys.BUS_LOG, keys.BUS_EPOCH]


@dataclass(frozen=True, slots=True)
class Position:
    """Where the bus is: its epoch ("" before the first event) and last sequence number.
    Sequence numbers only compare within one epoch."""

    epoch: str
    seq: int


class BusRepository:
    def __init__(self, client: RespClient, *, log_length: int = DEFAULT_LOG_LENGTH) -> None:
        self._client = client
        self._log_length = log_length
        self._publish = load_script("bus_publish")
        self._new_epoch = load_script("bus_new_epoch")

    async def publish(self, body: bytes) -> Position:
        """Publish a JSON object (without "seq"); the position it was given."""
        return await self.publish_many([body])

    async def publish_many(self, bodies: list[bytes]) -> Position:
        """Publish JSON objects (without "seq") in order, in one step; the last one's
        position (a new epoch if the sequence had gone back)."""
        for body in bodies:
            if not body.startswith(b"{") or body == b"{}":
                raise ValueError("a bus event is a non-empty JSON object")
        epoch, last = await self._client.evalsha(
            self._publish, _KEYS, [self._log_length, keys.BUS_CHANNEL, *bodies]
        )
        return Position(text(epoch), int(last))

    async def position(self) -> Position:
        epoch, seq = await self._client.execute("MGET", keys.BUS_EPOCH, keys.BUS_SEQ)
        return Position(text(epoch) if epoch is not None else "", int(seq or 0))

    async def new_epoch(self, found: str) -> Position:
        """Start a new epoch unless the bus has left `found` already; where it is then."""
        epoch, seq = await self._client.evalsha(self._new_epoch, _KEYS, [found])
        return Position(text(epoch), int(seq))

    async def since(self, seq: int, limit: int) -> list[bytes]:
        """Up to `limit` logged events after `seq`, oldest first (as published)."""
        rows = await self._client.execute(
            "XRANGE", keys.BUS_LOG, f"{seq + 1}-0", "+", "COUNT", limit
        )
        return [fields[1] for _, fields in rows]

    def subscribe(self) -> AsyncIterator[bytes | Subscribed]:
        """Every event published from now on, for as long as the caller iterates (see
        RespClient.subscribe): a `Subscribed` item first and after every reconnection."""
        return self._client.subscribe(keys.BUS_CHANNEL)

    async def oldest_seq(self) -> int | None:
        """The oldest sequence number still in the log (None: empty)."""
        rows = await self._client.execute("XRANGE", keys.BUS_LOG, "-", "+", "COUNT", 1)
        if not rows:
            return None
        return int(rows[0][0].split(b"-")[0])
