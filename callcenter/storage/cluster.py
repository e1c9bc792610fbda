"""The Redis client for a Redis Cluster: the same interface as RespClient (which it is),
each command sent to the primary serving its key's slot through a RespClient per node.

The slot map comes from `CLUSTER SLOTS` of any seed node, and is read again on a `MOVED`
answer (the slot moved for good: the command goes to its new node) or when a node cannot
be reached; an `ASK` answer (a slot being migrated) sends that one command, after
`ASKING`, to the node named. A pipeline is split by node (each part in order, one round
trip per node, all at once) and its replies put back in order; a Lua script's keys are in
one slot (the test suite checks it), so it runs whole on one node. Commands without a key
(PING, PUBLISH: a Cluster passes a publication to every node) go to any node, and the bus
subscription listens on one."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import hiredis

from callcenter.errors import StorageUnavailable
from callcenter.storage.resp import Arg, Command, CommandError, Endpoint, Reply, RespClient, Script
from callcenter.storage.slots import SLOTS, key_slot
from callcenter.storage.subscription import Subscribed

logger = logging.getLogger(__name__)

T = TypeVar("T")
Address = tuple[str, int]

REDIRECTS = 5  # MOVED/ASK answers followed for one command before giving up
NO_KEY = frozenset({"PING", "PUBLISH", "SCRIPT", "WAIT", "INFO", "CLIENT", "ROLE", "CLUSTER"})
ALL_KEYS = frozenset({"MGET", "DEL", "EXISTS", "UNLINK", "SUNION", "SINTER", "PFCOUNT"})


def command_keys(command: Command) -> list[Arg]:
    """The keys a command touches (its slot's), as the Cluster reads them."""
    name = str(command[0]).upper()
    if name in NO_KEY or len(command) < 2:
        return []
    if name in ("EVALSHA", "EVAL"):
        return list(command[3 : 3 + int(command[2])])
    if name in ALL_KEYS:
        return list(command[1:])
    return [command[1]]


def _slot_of(keys: Sequence[Arg]) -> int:
    """The slot of the first key (a command's keys share it), 0 for none."""
    if not keys:
        return 0
    key = keys[0]
    return key_slot(key if isinstance(key, bytes | str) else str(key))


def _redirect(reply: Reply) -> tuple[str, int, Address] | None:
    """("MOVED" or "ASK", slot, address) of a redirection answer, else None."""
    if isinstance(reply, CommandError):
        words = reply.reason.split()
    elif isinstance(reply, hiredis.ReplyError):
        words = str(reply).split()
    else:
        return None
    if len(words) != 3 or words[0] not in ("MOVED", "ASK"):
        return None
    host, _, port = words[2].rpartition(":")
    return words[0], int(words[1]), (host, int(port))


class ClusterClient(RespClient):
    def __init__(
        self,
        endpoint: Endpoint,
        seeds: Sequence[Address],
        *,
        connections: int = 2,
        ack_replicas: int = 0,
        ack_timeout_ms: int = 500,
    ) -> None:
        """`endpoint` gives the password, database 0 and TLS of every node; `seeds` are
        nodes to read the slot map from."""
        super().__init__(endpoint, connections=connections)
        self._seeds = list(seeds)
        self._connections, self._ack_options = connections, (ack_replicas, ack_timeout_ms)
        self._nodes: dict[Address, RespClient] = {}
        self._owners: list[Address | None] = [None] * SLOTS
        self._mapping: asyncio.Lock | None = None
        self._generation = 0  # slot map readings so far

    def _node(self, address: Address) -> RespClient:
        client = self._nodes.get(address)
        if client is None:
            node = dataclasses.replace(self.endpoint, host=address[0], port=address[1], path=None)
            replicas, timeout_ms = self._ack_options
            client = self._nodes[address] = RespClient(
                node,
                connections=self._connections,
                ack_replicas=replicas,
                ack_timeout_ms=timeout_ms,
            )
        return client

    async def refresh(self, seen: int | None = None) -> None:
        """Read the slot map from the first node that answers (known nodes, then seeds);
        not again if it was read since generation `seen` (many commands redirected at
        once need one reading)."""
        if self._mapping is None:
            self._mapping = asyncio.Lock()
        async with self._mapping:
            if seen is not None and seen != self._generation:
                return
            failures = []
            for address in [*self._nodes, *self._seeds]:
                try:
                    ranges = await self._node(address).execute("CLUSTER", "SLOTS")
                except StorageUnavailable as error:
                    failures.append(f"{address[0]}:{address[1]}: {error}")
                    continue
                for start, end, primary, *_ in ranges:
                    owner = (primary[0].decode() or address[0], int(primary[1]))
                    self._owners[int(start) : int(end) + 1] = [owner] * (int(end) - int(start) + 1)
                self._generation += 1
                return
            raise StorageUnavailable(f"no Redis Cluster node gave its slots: {'; '.join(failures)}")

    async def _owner(self, keys: Sequence[Arg]) -> Address:
        slot = _slot_of(keys)
        owner = self._owners[slot]
        if owner is not None:
            return owner
        await self.refresh()
        owner = self._owners[slot]
        if owner is None:
            raise StorageUnavailable(f"no Redis Cluster node serves slot {slot}")
        return owner

    async def _routed(self, keys: Sequence[Arg], call: Callable[[Node], Awaitable[T]]) -> T:
        """`call` on the node serving `keys`, following MOVED (the map is read again) and
        ASK (`call` is made after ASKING: see _asking) answers."""
        address = await self._owner(keys)
        for _ in range(REDIRECTS):
            seen = self._generation
            try:
                return await call(self._node(address))
            except CommandError as error:
                redirect = _redirect(error)
                if redirect is None:
                    raise
                kind, slot, address = redirect
                if kind == "MOVED":
                    self._owners[slot] = address
                    await self.refresh(seen)
                    address = self._owners[slot] or address
                else:
                    return await _asking(self._node(address), call)
            except StorageUnavailable:
                await self._forget_node(seen)
                raise
        raise StorageUnavailable(f"more than {REDIRECTS} redirections for one command")

    async def execute(self, *command: Arg) -> Reply:
        return await self._routed(command_keys(command), lambda node: node.execute(*command))

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        return await self._routed(keys, lambda node: node.evalsha(script, keys, args))

    async def pipeline_with_scripts(
        self, commands: Sequence[Command], scripts: Sequence[Script], *, acked: bool = False
    ) -> list[Reply]:
        """Reads: split by node, as `pipeline`. `acked` (writes, and the WAIT after them):
        on the node of the first command's slot, so every command must be of that slot
        (a WAIT covers what its own connection wrote). While that slot is being migrated,
        the commands the old node still answered may run there and again on the new one
        (after ASK): the routing slot is not to be resharded while instances run (its
        multi-key scripts would meet TRYAGAIN as well)."""
        if not acked:
            return await super().pipeline_with_scripts(commands, scripts)
        return await self._routed(
            command_keys(commands[0]),
            lambda node: node.pipeline_with_scripts(commands, scripts, acked=True),
        )

    async def pipeline(
        self, commands: Sequence[Command], *, raise_errors: bool = True
    ) -> list[Reply]:
        """Each node's commands in one round trip, all nodes at once; a redirected
        command is sent again on its own (following the redirection)."""
        groups: dict[Address, list[int]] = {}
        for index, command in enumerate(commands):
            groups.setdefault(await self._owner(command_keys(command)), []).append(index)
        replies: list[Reply] = [None] * len(commands)

        seen = self._generation

        async def one_node(address: Address, indexes: list[int]) -> None:
            sent = [commands[i] for i in indexes]
            try:
                answers = await self._node(address).pipeline(sent, raise_errors=False)
            except StorageUnavailable:
                await self._forget_node(seen)
                raise
            for index, answer in zip(indexes, answers, strict=True):
                if _redirect(answer) is not None:
                    answer = await self._again(commands[index])
                replies[index] = answer

        await asyncio.gather(*(one_node(a, i) for a, i in groups.items()))
        if raise_errors:
            for reply in replies:
                if isinstance(reply, hiredis.ReplyError):
                    raise CommandError(str(reply))
        return replies

    async def _forget_node(self, seen: int) -> None:
        """A node could not be reached: read where its slots are now, if anyone can say."""
        with contextlib.suppress(StorageUnavailable):
            await self.refresh(seen)

    async def _again(self, command: Command) -> Reply:
        try:
            return await self.execute(*command)
        except CommandError as error:
            return hiredis.ReplyError(error.reason)

    async def _load(self, scripts: Sequence[Script]) -> None:
        """On every node: the one that lacked them, whichever it was."""
        for client in self._nodes.values():
            await client.pipeline([["SCRIPT", "LOAD", s.source] for s in scripts])

    async def subscribe(self, channel: str) -> AsyncIterator[bytes | Subscribed]:
        """The channel on one node (a Cluster passes every publication to all nodes)."""
        address = await self._owner([channel])
        async for item in self._node(address).subscribe(channel):
            yield item

    async def ping(self) -> bool:
        """Every primary of a fresh slot map answers PING."""
        await self.refresh()
        primaries = {address for address in self._owners if address is not None}
        answers = await asyncio.gather(*(self._node(a).ping() for a in primaries))
        return bool(primaries) and all(answers)

    async def aclose(self) -> None:
        for client in self._nodes.values():
            await client.aclose()
        self._nodes.clear()


class Node(Protocol):
    """What a routed call may ask of a node."""

    async def execute(self, *command: Arg) -> Reply: ...

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply: ...

    async def pipeline_with_scripts(
        self, commands: Sequence[Command], scripts: Sequence[Script], *, acked: bool = False
    ) -> list[Reply]: ...


async def _asking(node: RespClient, call: Callable[[Node], Awaitable[T]]) -> T:
    """`call` on a node after ASKING: a slot being migrated there takes this one command.
    ASKING holds for the next command on the same connection, so both go out together."""
    return await call(_Asking(node))


class _Asking:
    """A node whose next command (or script) is preceded by ASKING, in one pipeline."""

    def __init__(self, node: RespClient) -> None:
        self._node = node

    async def execute(self, *command: Arg) -> Reply:
        reply = (await self._node.pipeline([["ASKING"], command], raise_errors=False))[1]
        if isinstance(reply, hiredis.ReplyError):
            raise CommandError(str(reply))
        return reply

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        return await self._once(["EVALSHA", script.sha, len(keys), *keys, *args], [script])

    async def pipeline_with_scripts(
        self, commands: Sequence[Command], scripts: Sequence[Script], *, acked: bool = False
    ) -> list[Reply]:
        """One command after another, each after its own ASKING (for the moment a slot is
        migrated; the replicas are not waited for here)."""
        return [await self._once(command, scripts) for command in commands]

    async def _once(self, command: Command, scripts: Sequence[Script]) -> Reply:
        """`command`, once: sent again only when Redis lacked its script (loaded then)."""
        try:
            return await self.execute(*command)
        except CommandError as error:
            if not error.reason.startswith("NOSCRIPT"):
                raise
        await self._node.pipeline([["SCRIPT", "LOAD", script.source] for script in scripts])
        return await self.execute(*command)
