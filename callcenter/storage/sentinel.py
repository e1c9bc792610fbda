"""Finding the Redis primary through Sentinel, and following its changes.

`primary()` asks the sentinels in turn (the one that answered last first) for the address
of the primary named `master_name` (`SENTINEL get-master-addr-by-name`). `watch()` stays
subscribed to every sentinel's `+selected-slave`, `+promoted-slave` and `+switch-master`
channels and calls back when the primary of that name moves, so the client drops its
connections at once rather than on their first failed write. It moves at the first news:
when the failover's leader chose the replica to promote, before the promotion (the
sentinels name the new primary only a second or so later, and every write the old primary
takes meanwhile is lost with it); until the promotion, connections are refused (503).
The client also checks the `ROLE` of every connection it opens and treats a `READONLY`
answer as a lost connection: it never writes to a replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from callcenter.errors import StorageUnavailable
from callcenter.storage.resp_connection import Connection, Endpoint, Reply, open_connection
from callcenter.storage.subscription import ChannelReplies, Retries

# the replica chosen, then promoted, then the switch: each names the new primary
ANNOUNCEMENTS = ("+selected-slave", "+promoted-slave", "+switch-master")
MOVING_SECONDS = 10.0  # after a replica was chosen: wait for it rather than the old primary
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
        self._announced: tuple[str, int] | None = None  # by the watch, ahead of the answers
        self._moving_until = 0.0  # loop time until which `_announced` is awaited, not doubted

    @property
    def master_name(self) -> str:
        return self._config.master_name

    async def primary(self) -> tuple[str, int]:
        """The primary's address: the one last announced, else as the first sentinel
        that knows it says. Raises StorageUnavailable when none does."""
        if self._announced is not None:
            return self._announced
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

    def forget(self, address: tuple[str, int]) -> None:
        """`address` turned out not to be the primary: ask the sentinels again, unless
        it is the replica a failover chose and is about to promote (then wait for it: the
        old primary's writes would be lost)."""
        moving = asyncio.get_running_loop().time() < self._moving_until
        if self._announced == address and not moving:
            self._announced = None

    async def watch(self, switched: Callable[[], None]) -> None:
        """Call `switched` whenever a sentinel announces a new primary of our name: the
        replica a failover chose (`+selected-slave`, the earliest news, from the sentinel
        leading the failover: its address is the primary's from then on, refused until it
        is promoted), its promotion or the switch; and when a watch is back after a
        break, since one may have been missed. Every sentinel is watched (any may lead a
        failover), each reconnected with back-off; runs until cancelled."""
        await asyncio.gather(
            *(self._watch_one(index, switched) for index in range(len(self._config.sentinels)))
        )

    async def _watch_one(self, index: int, switched: Callable[[], None]) -> None:
        backoff = Retries(f"sentinel {self._name(index)} watch")
        again = False
        while True:
            try:
                async for address in self._announcements(index, again=again):
                    backoff.reset()
                    if address is None or address != self._announced:
                        self._moving_until = asyncio.get_running_loop().time() + MOVING_SECONDS
                        self._announced = address
                        switched()
            except StorageUnavailable as error:
                await backoff.wait(error)
            again = True

    async def _announcements(
        self, index: int, *, again: bool
    ) -> AsyncIterator[tuple[str, int] | None]:
        """New primaries as sentinel `index` announces them; None once subscribed after a
        break (ask the sentinels again)."""
        connection = await self._open(index)
        queue: asyncio.Queue[Reply | None] = asyncio.Queue()
        subscribe = ["SUBSCRIBE", *ANNOUNCEMENTS]
        connection.listen(subscribe, queue.put_nowait, lambda: queue.put_nowait(None))
        replies = ChannelReplies()
        try:
            while (reply := await queue.get()) is not None:
                item = replies.item(reply)
                if item is None and again:
                    again = False
                    yield None
                elif isinstance(item, bytes):
                    address = announced_primary(item, self._config.master_name)
                    if address is not None:
                        yield address
        finally:
            connection.close()
        raise StorageUnavailable(f"sentinel {self._name(index)} closed the watch")

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


def announced_primary(payload: bytes, master_name: str) -> tuple[str, int] | None:
    """The new primary of `master_name` a sentinel event names, if it names one:
    `+switch-master` says "<name> <old ip> <old port> <new ip> <new port>",
    `+promoted-slave` "slave <ip>:<port> <ip> <port> @ <name> <old ip> <old port>"."""
    words = payload.decode(errors="replace").split()
    if len(words) == 5 and words[0] == master_name and words[4].isdigit():
        return words[3], int(words[4])
    if len(words) == 8 and words[0] == "slave" and words[4] == "@" and words[5] == master_name:
        return (words[2], int(words[3])) if words[3].isdigit() else None
    return None
