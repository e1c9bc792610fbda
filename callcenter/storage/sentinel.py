"""Finding the Redis primary through Sentinel, and following its changes.

`primary()` asks the sentinels in turn (the one that answered last first) for the address
of the primary named `master_name` (`SENTINEL get-master-addr-by-name`). `watch()` stays
subscribed to a sentinel's `+switch-master` channel and calls back when the primary of
that name moved, so the client drops its connections at once rather than on their first
failed write. The client also checks the `ROLE` of every connection it opens and treats a
`READONLY` answer as a lost connection: it never writes to a replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from callcenter.errors import StorageUnavailable
from callcenter.storage.resp_connection import Connection, Endpoint, Reply, open_connection
from callcenter.storage.subscription import Backoff, ChannelReplies, Subscribed

SWITCH_CHANNEL = "+switch-master"
ASK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    password: str | None = None  # the sentinels' own (requirepass in sentinel.conf)


class SentinelLocator:
    def __init__(self, config: SentinelConfig) -> None:
        self._config = config
        self._order = list(range(len(config.sentinels)))

    @property
    def master_name(self) -> str:
        return self._config.master_name

    async def primary(self) -> tuple[str, int]:
        """The primary's address as the first sentinel that knows it says. Raises
        StorageUnavailable when none does."""
        failures = []
        for index in list(self._order):
            try:
                connection = await self._open(index)
            except StorageUnavailable as error:
                failures.append(f"{self._name(index)}: {error}")
                continue
            try:
                ask = ["SENTINEL", "get-master-addr-by-name", self._config.master_name]
                reply = await asyncio.wait_for(connection.send([ask])[0], ASK_SECONDS)
            except (StorageUnavailable, TimeoutError) as error:
                failures.append(f"{self._name(index)}: {error or 'no answer'}")
                continue
            finally:
                connection.close()
            address = _address(reply)
            if address is None:
                failures.append(f"{self._name(index)}: knows no primary of that name")
                continue
            self._order.remove(index)
            self._order.insert(0, index)  # ask it first next time
            return address
        raise StorageUnavailable(
            f"no sentinel gave the primary {self._config.master_name!r}: {'; '.join(failures)}"
        )

    async def watch(self, switched: Callable[[], None]) -> None:
        """Call `switched` whenever a sentinel announces a new primary of our name (and
        when the watch is (re)established, since a switch may have been missed). Runs
        until cancelled, moving to the next sentinel when one goes away."""
        backoff = Backoff("sentinel watch")
        turn = 0
        while True:
            index = self._order[turn % len(self._order)]
            turn += 1
            try:
                async for item in self._switches(index):
                    backoff.reset()
                    if isinstance(item, Subscribed) and not item.again:
                        continue
                    switched()
            except StorageUnavailable as error:
                await backoff.wait(error)

    async def _switches(self, index: int) -> AsyncIterator[Subscribed]:
        connection = await self._open(index)
        queue: asyncio.Queue[Reply | None] = asyncio.Queue()
        connection.listen(
            ["SUBSCRIBE", SWITCH_CHANNEL], queue.put_nowait, lambda: queue.put_nowait(None)
        )
        replies = ChannelReplies()
        first = True
        try:
            while (reply := await queue.get()) is not None:
                item = replies.item(reply)
                if item is None:
                    yield Subscribed(again=not first)
                    first = False
                elif isinstance(item, bytes) and item.split(b" ", 1)[0] == self._name_bytes:
                    yield Subscribed(again=True)
        finally:
            connection.close()
        raise StorageUnavailable(f"sentinel {self._name(index)} closed the watch")

    @property
    def _name_bytes(self) -> bytes:
        return self._config.master_name.encode()

    async def _open(self, index: int) -> Connection:
        host, port = self._config.sentinels[index]
        endpoint = Endpoint(host=host, port=port, password=self._config.password)
        return await open_connection(endpoint, reply_timeout=ASK_SECONDS)

    def _name(self, index: int) -> str:
        host, port = self._config.sentinels[index]
        return f"{host}:{port}"


def _address(reply: Reply) -> tuple[str, int] | None:
    if not isinstance(reply, Sequence) or isinstance(reply, bytes) or len(reply) != 2:
        return None
    host, port = reply
    return (host.decode(), int(port)) if isinstance(host, bytes) else None
