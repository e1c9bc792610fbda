"""The event bus on a real Redis: sequence numbers, delivery across instances, no gaps or
duplicates after a lost subscription, bounded listeners."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.clock import SystemClock
from callcenter.storage.bus import BusRepository
from callcenter.storage.resp import RespClient
from tests.bus_events import BusEvents, Probe


@pytest.fixture
async def instances(
    redis_url: str, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """Two buses, as two server instances would have, each with its own connections."""
    clients = [RespClient.from_url(redis_url) for _ in range(2)]
    buses = [EventBus(BusRepository(c), clock=SystemClock(), metrics=Metrics()) for c in clients]
    tasks = [asyncio.create_task(bus.run()) for bus in buses]
    for bus in buses:
        await asyncio.wait_for(bus.wait_ready(), 5)
    yield buses[0], buses[1]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()


async def take(listener: BusEvents, count: int) -> list[dict[str, object]]:
    got = []
    for _ in range(count):
        _, raw = await asyncio.wait_for(listener.get(), 5)
        got.append(json.loads(raw))
    return got


async def test_events_published_on_one_instance_reach_the_other_in_order(
    instances: tuple[EventBus, EventBus],
) -> None:
    a, b = instances
    listener = BusEvents(b)
    seqs = [await a.publish(Probe(data={"score": i / 10}, call_id="c1")) for i in range(5)]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    got = await take(listener, 5)
    assert [event["seq"] for event in got] == seqs
    assert [event["data"]["score"] for event in got] == [0.0, 0.1, 0.2, 0.3, 0.4]  # type: ignore[index]
    assert got[0]["type"] == "test.probe" and got[0]["call_id"] == "c1"
    assert b.last_seq == seqs[-1]


async def test_a_lost_subscription_is_filled_from_the_log_without_gaps_or_duplicates(
    instances: tuple[EventBus, EventBus], redis_client: aioredis.Redis
) -> None:
    a, b = instances
    listener = BusEvents(b)
    first = await a.publish(Probe(data={"n": 0}))
    await take(listener, 1)
    await redis_client.client_kill_filter(_type="pubsub")
    # published while the subscriptions are down: only the log has them
    for n in range(1, 6):
        await a.publish(Probe(data={"n": n}))
    got = await take(listener, 5)
    assert [event["seq"] for event in got] == list(range(first + 1, first + 6))
    later = await a.publish(Probe(data={"n": 6}))
    (last,) = await take(listener, 1)
    assert last["seq"] == later
    assert listener.get_nowait() is None  # nothing delivered twice


async def test_a_client_resumes_from_its_last_sequence_number(
    instances: tuple[EventBus, EventBus],
) -> None:
    a, _ = instances
    seqs = [await a.publish(Probe(data={"n": n})) for n in range(4)]
    missed = await a.since(seqs[1], 100)
    assert [json.loads(raw)["seq"] for raw in missed] == seqs[2:]
    assert await a.oldest_seq() == seqs[0]


async def test_the_bus_refuses_what_is_not_a_json_object(resp: RespClient) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        await BusRepository(resp).publish(b"[1]")
