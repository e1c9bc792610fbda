"""The commit script against a real Redis: all or nothing, versions, guards, expiry (the keys
share a hash tag, as a script's keys must in a Cluster)."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore
from callcenter.storage.resp import RespClient


class Doc(msgspec.Struct, frozen=True):
    name: str
    version: int = 0


async def test_put_then_load_round_trips(redis_client: aioredis.Redis, resp: RespClient) -> None:
    store = DocumentStore(resp)
    plan = CommitPlan()
    plan.put("{t}d:1", 0, Doc("one", version=1))
    assert await store.commit(plan) == (CommitResult.COMMITTED, None)
    assert await store.load("{t}d:1", Doc) == Doc("one", version=1)
    assert await redis_client.hget("{t}d:1", "v") == b"1"


async def test_stale_version_writes_nothing(redis_client: aioredis.Redis, resp: RespClient) -> None:
    store = DocumentStore(resp)
    first = CommitPlan()
    first.put("{t}d:1", 0, Doc("one", version=1))
    await store.commit(first)
    racing = CommitPlan()
    racing.put("{t}d:2", 0, Doc("two", version=1))
    racing.put("{t}d:1", 0, Doc("lost", version=1))  # read before the first commit
    racing.zadd("{t}z", 1.0, "m")
    result, key = await store.commit(racing)
    assert (result, key) == (CommitResult.CONFLICT, "{t}d:1")
    assert await redis_client.exists("{t}d:2", "{t}z") == 0
    assert await store.load("{t}d:1", Doc) == Doc("one", version=1)


async def test_guard_makes_a_plan_run_once(redis_client: aioredis.Redis, resp: RespClient) -> None:
    store = DocumentStore(resp)

    def plan(version: int) -> CommitPlan:
        p = CommitPlan().guard("{t}seen:e1", 60)
        p.put("{t}d:1", version, Doc("x", version=version + 1))
        return p

    assert (await store.commit(plan(0)))[0] is CommitResult.COMMITTED
    assert (await store.commit(plan(1)))[0] is CommitResult.DUPLICATE
    assert await redis_client.hget("{t}d:1", "v") == b"1"
    assert 0 < await redis_client.ttl("{t}seen:e1") <= 60


async def test_ttl_persist_delete_and_indexes(
    redis_client: aioredis.Redis, resp: RespClient
) -> None:
    store = DocumentStore(resp)
    plan = CommitPlan()
    plan.put("{t}d:1", 0, Doc("a", version=1), 100)
    plan.zadd("{t}z", 5.0, "old")
    plan.zadd("{t}z", 50.0, "new")
    plan.sadd("{t}s", "a")
    await store.commit(plan)
    assert 0 < await redis_client.ttl("{t}d:1") <= 100

    again = CommitPlan()
    again.put("{t}d:1", 1, Doc("b", version=2), 0)
    again.ztrim("{t}z", 10.0)
    again.srem("{t}s", "a")
    await store.commit(again)
    assert await redis_client.ttl("{t}d:1") == -1
    assert await redis_client.zrange("{t}z", 0, -1) == [b"new"]
    assert await redis_client.smembers("{t}s") == set()

    gone = CommitPlan()
    gone.delete("{t}d:1", 2)
    gone.zrem("{t}z", "new")
    await store.commit(gone)
    assert await redis_client.exists("{t}d:1", "{t}z") == 0


async def test_load_many_keeps_order_and_gaps(
    redis_client: aioredis.Redis, resp: RespClient
) -> None:
    store = DocumentStore(resp)
    plan = CommitPlan()
    plan.put("{t}d:2", 0, Doc("two", version=1))
    await store.commit(plan)
    assert await store.load_many(["{t}d:1", "{t}d:2"], Doc) == [None, Doc("two", version=1)]


async def test_a_count_keeps_what_made_it_unless_counted_twice_in_one_plan(
    redis_client: aioredis.Redis, resp: RespClient
) -> None:
    store = DocumentStore(resp)
    for value in ("first", "second"):
        plan = CommitPlan()
        plan.hincrby("{t}counts", "a", tagged=("{t}made", value))
        await store.commit(plan)
    assert await redis_client.hget("{t}made", "a") == b"2 second"
    # two changes of one field in one plan count once: neither made the count alone
    plan = CommitPlan()
    plan.hincrby("{t}counts", "a", tagged=("{t}made", "third"))
    plan.hincrby("{t}counts", "a", tagged=("{t}made", "fourth"))
    await store.commit(plan)
    assert await redis_client.hget("{t}counts", "a") == b"3"
    assert await redis_client.hget("{t}made", "a") == b"2 second"


async def test_values_go_as_arguments_of_their_own_and_come_back_byte_for_byte(
    redis_client: aioredis.Redis, resp: RespClient
) -> None:
    """Documents and values are arguments beside the plan, not JSON inside its JSON: what
    Redis stores is exactly what was encoded, escapes and all; a value given twice is
    sent once."""
    tricky = Doc('say "hi" \\ to café ☎ \n now', version=1)
    plan = CommitPlan()
    plan.put("{t}d:1", 0, tricky)
    plan.hset("{t}h", "a", b'{"x":"\\"y\\""}')
    plan.hincrby("{t}counts", "a", tagged=("{t}made", b'{"x":"\\"y\\""}'))
    plan.set("{t}s", {"k": "v\u2028"}, 60)
    arguments = plan.arguments()
    assert len(arguments) == 4  # the plan, the document, the value (once), the string
    assert await DocumentStore(resp).commit(plan) == (CommitResult.COMMITTED, None)
    assert await redis_client.hget("{t}d:1", "d") == msgspec.json.encode(tricky)
    assert await DocumentStore(resp).load("{t}d:1", Doc) == tricky
    assert await redis_client.hget("{t}h", "a") == b'{"x":"\\"y\\""}'
    assert await redis_client.hget("{t}made", "a") == b'1 {"x":"\\"y\\""}'
    assert await redis_client.get("{t}s") == msgspec.json.encode({"k": "v\u2028"})
