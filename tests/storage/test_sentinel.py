"""The client behind Redis Sentinel, against a real primary, replica and three sentinels:
it finds the primary, follows a failover (commands and the subscription both), never
writes to a replica, says clearly when no sentinel answers; with acknowledged replicas a
commit waits for the replica, and fails (NotReplicated) when the replica does not confirm
in time, while a retry of the same change after it recovered is taken once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from callcenter.errors import NotReplicated, StorageUnavailable
from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore
from callcenter.storage.resp import RespClient, parse_url
from callcenter.storage.sentinel import SentinelConfig, SentinelLocator
from callcenter.storage.subscription import Subscribed
from tests.redis_topology import MASTER, SentinelSet, command, sentinel_set
from tests.storage.subscriptions import following

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[SentinelSet]:
    with sentinel_set(tmp_path) as found:
        yield found


def config(topology: SentinelSet) -> SentinelConfig:
    sentinels = tuple(("127.0.0.1", s.port) for s in topology.sentinels)
    return SentinelConfig(sentinels, MASTER)


@pytest.fixture
async def client(topology: SentinelSet) -> AsyncIterator[RespClient]:
    found = RespClient(
        parse_url("redis://"), sentinel=SentinelLocator(config(topology)), reply_timeout=5
    )
    yield found
    await found.aclose()


async def eventually_set(client: RespClient, key: str, value: str, seconds: float = 30) -> int:
    """SET until it works; the number of refusals on the way (503s a gateway retries)."""
    refused = 0
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await client.execute("SET", key, value)
            return refused
        except StorageUnavailable:
            refused += 1
            assert asyncio.get_running_loop().time() < deadline, "never written"
            await asyncio.sleep(0.05)


async def test_the_client_finds_the_primary_and_follows_a_failover(
    topology: SentinelSet, client: RespClient
) -> None:
    old = topology.primary_port()
    await client.execute("SET", "before", "1")
    assert topology.node(old).client().get("before") == b"1"

    new = await asyncio.to_thread(topology.failover)
    assert new != old
    # the watch heard the failover announced (the client moves at the first news)
    locator = client._sentinel
    assert locator is not None
    await asyncio.to_thread(_until, lambda: locator._announced == ("127.0.0.1", new))
    await eventually_set(client, "after", "2")
    assert topology.node(new).client().get("after") == b"2"
    assert command(new, "ROLE")[0] == b"master"
    # the old primary, now a replica of the new one, has what was written there
    await asyncio.to_thread(_until, lambda: topology.node(old).client().get("after") == b"2")


async def test_the_subscription_follows_a_failover(
    topology: SentinelSet, client: RespClient
) -> None:
    async with following(client, "news") as items:
        assert await asyncio.wait_for(items.get(), 10) == Subscribed(again=False)
        await client.execute("PUBLISH", "news", "one")
        assert await asyncio.wait_for(items.get(), 10) == b"one"
        await asyncio.to_thread(topology.failover)
        # once resubscribed (to the new primary), what is published there arrives
        assert await asyncio.wait_for(items.get(), 30) == Subscribed(again=True)
        await eventually_set(client, "k", "v")
        await client.execute("PUBLISH", "news", "two")
        assert await asyncio.wait_for(items.get(), 10) == b"two"


async def test_a_replica_is_never_written_to(topology: SentinelSet) -> None:
    """Sentinels that (wrongly) name a replica: the client checks the role and refuses."""
    replica = topology.nodes[1]
    for sentinel in topology.sentinels:  # a name whose "primary" is the replica
        command(sentinel.port, "SENTINEL", "MONITOR", "stale", "127.0.0.1", replica.port, 2)
    stale = SentinelConfig(config(topology).sentinels, "stale")
    wrong = RespClient(parse_url("redis://"), sentinel=SentinelLocator(stale))
    try:
        with pytest.raises(StorageUnavailable, match="is not the primary"):
            await wrong.execute("SET", "x", "1")
    finally:
        await wrong.aclose()
    assert replica.client().get("x") is None


async def test_no_sentinel_answering_is_a_clear_error(topology: SentinelSet) -> None:
    for sentinel in topology.sentinels:
        sentinel.stop()
    lost = RespClient(parse_url("redis://"), sentinel=SentinelLocator(config(topology)))
    try:
        with pytest.raises(StorageUnavailable, match="no sentinel gave the primary 'mymaster'"):
            await lost.ping()
    finally:
        await lost.aclose()


async def test_a_commit_waits_for_the_replica_or_fails(topology: SentinelSet) -> None:
    acked = RespClient(
        parse_url("redis://"),
        sentinel=SentinelLocator(config(topology)),
        ack_replicas=1,
        ack_timeout_ms=3000,  # a loaded machine may take a few hundred ms to confirm
    )
    store = DocumentStore(acked)
    replica = topology.nodes[1]

    def plan(key: str) -> CommitPlan:
        change = CommitPlan().guard(f"{{t}}seen:{key}", 600)  # one slot, as in a Cluster
        change.put(f"{{t}}{key}", 0, {"n": 1})
        return change

    try:
        assert (await store.commit(plan("a")))[0] is CommitResult.COMMITTED
        assert replica.client().hget("{t}a", "d") is not None  # on the replica when answered

        replica.process.send_signal(signal.SIGSTOP)  # the replica stops confirming
        try:
            with pytest.raises(NotReplicated, match="reached 0 of 1 replicas in 3000 ms"):
                await store.commit(plan("b"))
        finally:
            replica.process.send_signal(signal.SIGCONT)
        # the gateway retries the same change until answered: taken once, once replicated
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            try:
                assert (await store.commit(plan("b")))[0] is CommitResult.DUPLICATE
                break
            except NotReplicated:  # the replica is still catching up
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
        assert replica.client().hget("{t}b", "d") is not None
    finally:
        await acked.aclose()


def _until(ready: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)
