"""One socket to a Redis server: RESP commands written at once (one write per turn of the
loop), replies parsed by hiredis and matched to their waiters in order; or, once
subscribed, every reply handed to a listener. Opening it (TCP, TLS or a Unix socket, then
AUTH, SELECT and a client name) happens only here, for commands and subscriptions alike."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis

from callcenter.errors import StorageUnavailable

logger = logging.getLogger(__name__)

Arg = bytes | str | int | float
Command = Sequence[Arg]
Reply = Any  # bytes | int | None | list[Reply] | hiredis.ReplyError

CONNECT_TIMEOUT_SECONDS = 5.0
REPLY_TIMEOUT_SECONDS = 10.0


class CommandError(StorageUnavailable):
    """Redis answered a command with an error reply."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # unix socket
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False


def pack(command: Command) -> bytes:
    # hiredis' stubs declare a 1-tuple; it takes a tuple of any length
    packed: bytes = hiredis.pack_command(tuple(command))  # type: ignore[arg-type]
    return packed


class Connection(asyncio.Protocol):
    """One socket: commands are written at once, replies matched to waiters in order."""

    def __init__(self, reply_timeout: float = REPLY_TIMEOUT_SECONDS) -> None:
        self._reply_timeout = reply_timeout
        self._reader = hiredis.Reader()
        self._waiters: deque[asyncio.Future[Reply]] = deque()
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._received = 0
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._listener: Callable[[Reply], None] | None = None
        self._on_lost: Callable[[], None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._received += 1
            if self._listener is not None:
                self._listener(reply)
                continue
            waiter = self._waiters.popleft()
            if not waiter.done():  # the caller may have been cancelled meanwhile
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        error = StorageUnavailable(f"connection to Redis lost: {exc or 'closed'}")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self._on_lost is not None:
            self._on_lost()

    def send(self, commands: Sequence[Command]) -> list[asyncio.Future[Reply]]:
        if self.closed or self._transport is None:
            raise StorageUnavailable("connection to Redis is closed")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._waiters.extend(futures)
        self._outgoing.extend(pack(c) for c in commands)
        if not self._flush_scheduled:
            # Everything sent during this turn of the loop goes out in one write: under
            # load that is one system call for many requests' commands.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._arm(loop)
        return futures

    def listen(
        self, command: Command, listener: Callable[[Reply], None], on_lost: Callable[[], None]
    ) -> None:
        """Send `command` (SUBSCRIBE …): from now on every reply goes to `listener`, and
        `on_lost` is called once the socket is gone."""
        if self.closed or self._transport is None:
            raise StorageUnavailable("connection to Redis is closed")
        self._listener, self._on_lost = listener, on_lost
        self._transport.write(pack(command))

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is not None and not self.closed and self._outgoing:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watchdog = loop.call_later(self._reply_timeout, self._check, self._received)

    def _check(self, received_then: int) -> None:
        # Replies are awaited but none came for a whole period: Redis is not answering.
        # Close the socket so every waiter fails instead of hanging.
        self._watchdog = None
        if not self._waiters:
            return
        if self._transport is not None and self._received == received_then:
            logger.error("Redis did not answer for %.1f s; reconnecting", self._reply_timeout)
            self._transport.abort()
            return
        self._arm(asyncio.get_running_loop())

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.close()


async def open_connection(
    endpoint: Endpoint, address: tuple[str, int] | None = None, *, reply_timeout: float
) -> Connection:
    """A connection to `address` (else the endpoint's own), set up with the endpoint's
    credentials, database and TLS. Raises StorageUnavailable, CommandError."""
    loop = asyncio.get_running_loop()
    host, port = address or (endpoint.host, endpoint.port)

    def protocol() -> Connection:
        return Connection(reply_timeout)

    try:
        if endpoint.path and address is None:
            connect = loop.create_unix_connection(protocol, endpoint.path)
        else:
            context = ssl.create_default_context() if endpoint.tls else None
            connect = loop.create_connection(protocol, host, port, ssl=context)
        _, connection = await asyncio.wait_for(connect, CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError) as error:
        raise StorageUnavailable(f"cannot connect to Redis: {error}") from error
    for reply in await in_order(connection.send(_hello(endpoint))):
        if isinstance(reply, hiredis.ReplyError) and "SETNAME" not in str(reply):
            connection.close()
            raise CommandError(f"Redis refused the connection setup: {reply}")
    return connection


async def in_order(futures: list[asyncio.Future[Reply]]) -> list[Reply]:
    """The replies of a pipeline's futures. Redis answers in order, so they are awaited
    one after the other (`asyncio.gather` costs about 5 µs more a pipeline). Should one
    fail (the connection lost), the errors of the others are taken as they come, so that
    none is left unretrieved."""
    try:
        return [await future for future in futures]
    except BaseException:
        for future in futures:
            future.add_done_callback(_retrieved)
        raise


def _retrieved(future: asyncio.Future[Reply]) -> None:
    if not future.cancelled():
        future.exception()


def _hello(endpoint: Endpoint) -> list[Command]:
    """What a new connection says first: its credentials, database and name."""
    hello: list[Command] = []
    if endpoint.password is not None:
        auth = [endpoint.username, endpoint.password] if endpoint.username else [endpoint.password]
        hello.append(["AUTH", *auth])
    if endpoint.db:
        hello.append(["SELECT", endpoint.db])
    hello.append(["CLIENT", "SETNAME", "callcenter"])
    return hello
