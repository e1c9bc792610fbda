"""The call commit against a real Redis: the call document and the indexes each change
keeps (state, waiting tickets, reservations, the ended window) and the change hook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import redis.asyncio as aioredis

from callcenter.domain.agents import Activity, Agent, new_agent
from callcenter.domain.calls import Call, CallState, Reservation
from callcenter.domain.routing_context import ticket_of
from callcenter.storage import keys
from callcenter.storage.calls import RESERVATION_GRACE_SECONDS, CallRepository
from callcenter.storage.documents import CommitResult, DocumentStore
from callcenter.storage.resp import RespClient

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=3)


@pytest.fixture
def calls(resp: RespClient) -> CallRepository:
    return CallRepository(
        DocumentStore(resp), retention=RETENTION, dedupe_window=timedelta(hours=1)
    )


def queued(call_id: str = "c1", **changes: object) -> Call:
    call = Call(
        id=call_id,
        gateway_call_id=call_id,
        state=CallState.QUEUED,
        queue="billing",
        created_at=NOW,
        updated_at=NOW,
        last_event_at=NOW,
        queued_at=NOW,
    )
    return msgspec.structs.replace(call, **changes)


async def stored(calls: CallRepository, old: Call | None, new: Call) -> Call:
    """Commit `new` over `old`; the call as stored (its version bumped)."""
    result, _ = await calls.commit(old, new, (), event_id=None, now=NOW)
    assert result is CommitResult.COMMITTED
    found = await calls.get(new.id)
    assert found is not None
    return found


async def in_state(redis_client: aioredis.Redis, state: CallState) -> list[object]:
    return list(await redis_client.zrange(keys.calls_in_state(state), 0, -1))


async def test_a_new_queued_call_is_indexed_waiting_and_wakes_dispatch(
    calls: CallRepository, redis_client: aioredis.Redis
) -> None:
    call = await stored(calls, None, queued())
    assert call.version == 1
    assert await in_state(redis_client, CallState.QUEUED) == [b"c1"]
    assert [t.call_id for t in await calls.waiting()] == ["c1"]
    assert await redis_client.zcard(keys.TIMERS) == 1  # the dispatch timer
    assert 0 < await redis_client.ttl(keys.call("c1")) <= timedelta(days=1).total_seconds()


async def test_every_waiting_ticket_is_read_in_pages_each_once(
    calls: CallRepository, redis_client: aioredis.Redis
) -> None:
    """More tickets than a page: Redis serves others between the pages, and each ticket
    comes once."""
    count = 2_500
    await redis_client.hset(
        keys.WAITING,
        mapping={
            f"c{i}": msgspec.json.encode(ticket_of(queued(f"c{i}", priority=i % 7)))
            for i in range(count)
        },
    )
    before = await hscan_calls(redis_client)
    tickets = await calls.waiting()
    assert sorted(t.call_id for t in tickets) == sorted(f"c{i}" for i in range(count))
    assert all(t.priority == int(t.call_id[1:]) % 7 for t in tickets)
    assert await hscan_calls(redis_client) - before >= 2  # pages, not one HVALS


async def hscan_calls(redis_client: aioredis.Redis) -> int:
    stats = await redis_client.info("commandstats")
    return int(stats.get("cmdstat_hscan", {}).get("calls", 0))


async def test_a_waiting_call_whose_ticket_changes_is_rewritten(
    calls: CallRepository,
) -> None:
    call = await stored(calls, None, queued())
    await stored(calls, call, msgspec.structs.replace(call, priority=7))
    assert [t.priority for t in await calls.waiting()] == [7]


async def test_a_waiting_call_whose_ticket_is_unchanged_is_not_rewritten(
    calls: CallRepository, redis_client: aioredis.Redis
) -> None:
    call = await stored(calls, None, queued())
    await redis_client.hdel(keys.WAITING, "c1")  # so that a rewrite would show
    await redis_client.delete(keys.TIMERS)
    await stored(calls, call, msgspec.structs.replace(call, attributes={"lang": "en"}))
    assert await calls.waiting() == []
    assert await redis_client.zcard(keys.TIMERS) == 0  # still waiting: no new wake-up


async def test_an_offer_leaves_the_queue_and_keeps_its_reservation(
    calls: CallRepository, redis_client: aioredis.Redis
) -> None:
    call = await stored(calls, None, queued())
    reservation = Reservation(
        id="r1", agent_id="a1", offered_at=NOW, expires_at=NOW + timedelta(seconds=15)
    )
    offered = msgspec.structs.replace(call, state=CallState.OFFERED, reservation=reservation)
    await stored(calls, call, offered)
    assert await in_state(redis_client, CallState.QUEUED) == []
    assert await in_state(redis_client, CallState.OFFERED) == [b"c1"]
    assert await calls.waiting() == []
    assert await calls.call_of_reservation("r1") == "c1"
    # expires_at is 15 s after NOW, the commit's clock, whatever the wall clock says
    assert await redis_client.ttl(keys.reservation("r1")) == 15 + RESERVATION_GRACE_SECONDS


async def test_an_unchanged_reservation_is_not_written_again(
    calls: CallRepository, redis_client: aioredis.Redis
) -> None:
    reservation = Reservation(
        id="r1", agent_id="a1", offered_at=NOW, expires_at=NOW + timedelta(seconds=15)
    )
    offered = await stored(calls, None, queued(state=CallState.OFFERED, reservation=reservation))
    await redis_client.delete(keys.reservation("r1"))
    await stored(calls, offered, msgspec.structs.replace(offered, priority=2))
    assert await calls.call_of_reservation("r1") is None


async def test_an_ended_call_is_kept_for_the_retention_and_old_ones_are_trimmed(
    calls: CallRepository, redis_client: aioredis.Redis
) -> None:
    too_old = (NOW - RETENTION - timedelta(seconds=1)).timestamp()
    await redis_client.zadd(keys.calls_in_state(CallState.ENDED), {"gone": too_old})
    call = await stored(calls, None, queued())
    await stored(calls, call, msgspec.structs.replace(call, state=CallState.ENDED))
    assert await in_state(redis_client, CallState.ENDED) == [b"c1"]
    assert await calls.waiting() == []
    ttl = await redis_client.ttl(keys.call("c1"))
    assert timedelta(days=1).total_seconds() < ttl <= RETENTION.total_seconds()


async def test_the_change_hook_hears_only_what_changed_as_stored(resp: RespClient) -> None:
    heard: list[tuple[list[tuple[Call | None, Call]], list[tuple[Agent | None, Agent]]]] = []

    def hook(
        changed: Sequence[tuple[Call | None, Call]],
        moved: Sequence[tuple[Agent | None, Agent]],
    ) -> None:
        heard.append((list(changed), list(moved)))

    calls = CallRepository(
        DocumentStore(resp), retention=RETENTION, dedupe_window=timedelta(hours=1), on_change=hook
    )
    call = queued()
    idle = new_agent("a1", "Ann", {}, NOW)
    reserved = msgspec.structs.replace(idle, activity=Activity.RESERVED)
    untouched = new_agent("a2", "Bo", {}, NOW)
    agents = ((idle, reserved), (untouched, untouched))
    await calls.commit(None, call, agents, event_id=None, now=NOW)
    await calls.commit(call, call, (), event_id=None, now=NOW)  # nothing to store
    [(changed, moved), (nothing, no_agents)] = heard
    assert changed == [(None, msgspec.structs.replace(call, version=1))]
    assert [(before, after.activity, after.version) for before, after in moved] == [
        (idle, Activity.RESERVED, 1)
    ]
    assert (nothing, no_agents) == ([], [])
