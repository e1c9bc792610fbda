"""The Cluster client against a real three-primary Redis Cluster (`redis-server
--cluster-enabled yes`, `redis-cli --cluster create`): each command goes to the node of its
key's slot, a pipeline over several nodes comes back in order, a script runs on its slot's
node, a slot moved away is followed (MOVED) and one being migrated too (ASK), and a
publication on one node reaches a subscriber on another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from callcenter.storage import keys
from callcenter.storage.cluster import ClusterClient
from callcenter.storage.resp import Script, parse_url
from callcenter.storage.slots import key_slot
from callcenter.storage.subscription import Subscribed
from tests.redis_topology import ClusterSet, command, redis_cluster
from tests.storage.subscriptions import following

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as found:
        yield found


@pytest.fixture
async def client(cluster: ClusterSet) -> AsyncIterator[ClusterClient]:
    found = ClusterClient(parse_url("redis://"), cluster.seeds)
    assert await found.ping()
    yield found
    await found.aclose()


def spread_keys(cluster: ClusterSet) -> list[str]:
    """One key on each node."""
    found: dict[int, str] = {}
    for n in range(1000):
        key = f"k{n}"
        found.setdefault(cluster.owner(key_slot(key)), key)
    assert len(found) == len(cluster.nodes)
    return list(found.values())


async def test_each_command_goes_to_its_slots_node(
    cluster: ClusterSet, client: ClusterClient
) -> None:
    for key in spread_keys(cluster):
        await client.execute("SET", key, f"at {key}")
        assert await client.execute("GET", key) == f"at {key}".encode()
        assert command(cluster.owner(key_slot(key)), "GET", key) == f"at {key}".encode()


async def test_a_pipeline_over_every_node_comes_back_in_order(
    cluster: ClusterSet, client: ClusterClient
) -> None:
    names = spread_keys(cluster) * 3
    await client.pipeline([["SET", name, name.upper()] for name in names])
    replies = await client.pipeline([["GET", name] for name in names])
    assert replies == [name.upper().encode() for name in names]


async def test_a_script_runs_on_its_slots_node(client: ClusterClient) -> None:
    script = Script("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[2])")
    await client.execute("SET", keys.agent("ann"), "ann")
    assert await client.evalsha(script, [keys.TIMERS, keys.agent("ann")], ["t"]) == b"ann"


async def test_a_moved_slot_is_followed(cluster: ClusterSet, client: ClusterClient) -> None:
    key = spread_keys(cluster)[0]
    await client.execute("SET", key, "before")
    slot = key_slot(key)
    first = cluster.owner(slot)
    other = next(n.port for n in cluster.nodes if n.port != first)
    await asyncio.to_thread(cluster.move_slot, slot, other)  # the client's map is stale
    assert await client.execute("GET", key) == b"before"  # MOVED, then the new owner
    await client.execute("SET", key, "after")
    assert command(other, "GET", key) == b"after"
    replies = await client.pipeline([["GET", key], ["GET", key]])  # in a pipeline too
    assert replies == [b"after", b"after"]
    # moved back: fifty commands redirected at once read the slot map once between them
    await asyncio.to_thread(cluster.move_slot, slot, first)
    readings = client._generation
    answers = await asyncio.gather(*(client.execute("GET", key) for _ in range(50)))
    assert answers == [b"after"] * 50
    assert client._generation - readings == 1


async def test_a_slot_being_migrated_is_followed(
    cluster: ClusterSet, client: ClusterClient
) -> None:
    key = spread_keys(cluster)[1]
    await client.execute("SET", key, "migrating")
    slot, source = key_slot(key), cluster.owner(key_slot(key))
    target = next(n.port for n in cluster.nodes if n.port != source)
    ids = {n.port: command(n.port, "CLUSTER", "MYID").decode() for n in cluster.nodes}
    command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
    command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
    command(source, "MIGRATE", "127.0.0.1", target, key, 0, 5000)
    try:
        assert await client.execute("GET", key) == b"migrating"  # ASK, then ASKING + GET
    finally:
        for node in cluster.nodes:
            command(node.port, "CLUSTER", "SETSLOT", slot, "NODE", ids[target])


async def test_writes_of_one_slot_run_once_on_its_node_and_follow_it_when_moved(
    cluster: ClusterSet, client: ClusterClient
) -> None:
    """`pipeline_with_scripts(acked=True)` (a claim, and the dispatch turn given up after
    it): every command of one slot, in one round trip to its node; a script the node
    lacks is loaded there and only its command is sent again; a slot moved is followed."""
    tag = spread_keys(cluster)[2]
    first, second = f"{{{tag}}}:first", f"{{{tag}}}:second"
    script = Script("return redis.call('INCR', KEYS[1]) * 10")  # no node has it yet
    writes = [("EVALSHA", script.sha, 1, first), ("INCR", second)]
    assert await client.pipeline_with_scripts(writes, [script], acked=True) == [10, 1]
    slot = key_slot(first)
    owner = cluster.owner(slot)
    assert (command(owner, "GET", first), command(owner, "GET", second)) == (b"1", b"1")
    other = next(n.port for n in cluster.nodes if n.port != owner)
    await asyncio.to_thread(cluster.move_slot, slot, other)  # the client's map is stale
    try:
        assert await client.pipeline_with_scripts(writes, [script], acked=True) == [20, 2]
        assert command(other, "GET", second) == b"2"
    finally:
        await asyncio.to_thread(cluster.move_slot, slot, owner)


async def test_a_publication_reaches_a_subscriber_on_another_node(
    client: ClusterClient,
) -> None:
    async with following(client, "news") as items:
        assert await asyncio.wait_for(items.get(), 10) == Subscribed(again=False)
        for node in list(client._nodes.values()):  # published on every node in turn
            await node.execute("PUBLISH", "news", "hello")
            assert await asyncio.wait_for(items.get(), 10) == b"hello"
