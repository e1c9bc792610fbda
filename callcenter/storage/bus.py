"""The event bus in Redis: every event gets the next sequence number, goes out on one
pub/sub channel to every instance, and stays in a capped log (a stream whose ids are the
sequence numbers) so a listener that missed some reads them back in order. Every event
carries the bus epoch: a sequence that went back (Redis flushed, restored or failed over)
starts a new epoch, so listeners can tell "seen already" from "numbered again".

Publishing is one Lua script (number, log, publish in one step), so the order on the
channel is the order of the numbers. Keys share the `{bus}` hash tag."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import hiredis

from callcenter.errors import StorageUnavailable
from callcenter.storage import keys
from callcenter.storage.documents import load_script, text
from callcenter.storage.resp import CONNECT_TIMEOUT_SECONDS, Endpoint, RespClient

logger = logging.getLogger(__name__)

DEFAULT_LOG_LENGTH = 10_000
_RETRY_SECONDS = (0.05, 0.2, 0.5, 1.0, 2.0)
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

    async def oldest_seq(self) -> int | None:
        """The oldest sequence number still in the log (None: empty)."""
        rows = await self._client.execute("XRANGE", keys.BUS_LOG, "-", "+", "COUNT", 1)
        if not rows:
            return None
        return int(rows[0][0].split(b"-")[0])


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The subscription is up: every message published from now on follows. `again`: it
    was lost and is back, so messages may have been missed meanwhile."""

    again: bool


async def subscribe(endpoint: Endpoint) -> AsyncIterator[bytes | Subscribed]:
    """Every message on the bus channel, for as long as the caller iterates; reconnects
    on its own (with back-off). A `Subscribed` item comes first and after every
    reconnection."""
    backoff = _Backoff()
    first = True
    while True:
        try:
            reader, writer = await _connect(endpoint)
        except (OSError, TimeoutError, StorageUnavailable) as error:
            await backoff.wait(error)
            continue
        try:
            replies = _ChannelReplies()
            # hiredis's stub types the command as a 1-tuple; any length is fine at run time
            writer.write(hiredis.pack_command(("SUBSCRIBE", keys.BUS_CHANNEL)))  # type: ignore[arg-type]
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("Redis closed the subscription")
                for message in replies.feed(data):
                    if message is None:
                        backoff.reset()
                        yield Subscribed(again=not first)
                        first = False
                    else:
                        yield message
        except (OSError, ConnectionResetError) as error:
            logger.warning("event bus: subscription lost (%s); resubscribing", error)
        finally:
            writer.close()


class _Backoff:
    """Growing waits between failed attempts to subscribe; logs the first failure and
    every 20th after it."""

    def __init__(self) -> None:
        self._attempt = 0

    async def wait(self, error: Exception) -> None:
        delay = _RETRY_SECONDS[min(self._attempt, len(_RETRY_SECONDS) - 1)]
        self._attempt += 1
        if self._attempt == 1 or self._attempt % 20 == 0:
            logger.warning("event bus: cannot subscribe (%s); retrying", error)
        await asyncio.sleep(delay)

    def reset(self) -> None:
        self._attempt = 0


class _ChannelReplies:
    """Parses what a subscribed connection reads: None when the subscription is confirmed,
    then each message's body. Anything else (and messages before the confirmation) is
    dropped."""

    def __init__(self) -> None:
        self._parser = hiredis.Reader()
        self._confirmed = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """The items completed by `data` (a list per read, not an object per message)."""
        self._parser.feed(data)
        items: list[bytes | None] = []
        while (reply := self._parser.gets()) is not False:
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            if reply[0] == b"subscribe":
                self._confirmed = True
                items.append(None)
            elif reply[0] == b"message" and self._confirmed:
                items.append(reply[2])
        return items


async def _connect(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if endpoint.path:
        connect = asyncio.open_unix_connection(endpoint.path)
    else:
        context = ssl.create_default_context() if endpoint.tls else None
        connect = asyncio.open_connection(endpoint.host, endpoint.port, ssl=context)
    reader, writer = await asyncio.wait_for(connect, CONNECT_TIMEOUT_SECONDS)
    if endpoint.password is not None:
        auth = [endpoint.username, endpoint.password] if endpoint.username else [endpoint.password]
        # hiredis's stub again (see `subscribe`)
        writer.write(hiredis.pack_command(("AUTH", *auth)))  # type: ignore[arg-type]
        reply = hiredis.Reader()
        while (answer := reply.gets()) is False:
            data = await asyncio.wait_for(reader.read(1024), CONNECT_TIMEOUT_SECONDS)
            if not data:
                raise StorageUnavailable("Redis closed the connection during AUTH")
            reply.feed(data)
        if isinstance(answer, hiredis.ReplyError):
            writer.close()
            raise StorageUnavailable(f"Redis refused the subscription: {answer}")
    return reader, writer
