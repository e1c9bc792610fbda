"""The bus when its sequence goes back (FLUSHALL, a DECRBY, a restore from an older file or a
failover to a replica that lagged): every instance notices, starts its listeners over and
follows the new epoch, instead of skipping every event it thinks it has seen."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from callcenter.metrics import Metrics
from callcenter.services.bus import Delivered, EventBus
from callcenter.services.clock import SystemClock
from callcenter.storage import keys
from callcenter.storage.bus import BusRepository
from callcenter.storage.resp import RespClient
from tests.bus_events import Probe
from tests.polling import eventually


@dataclass
class Instance:
    """One server instance's bus, with what its subscriber saw."""

    bus: EventBus
    metrics: Metrics
    events: list[dict[str, object]] = field(default_factory=list)
    restarts: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, header: Delivered, text: str) -> None:
        self.events.append(json.loads(text))
        self.changed.set()

    def start_over(self) -> None:
        self.restarts += 1
        self.events.clear()
        self.changed.set()

    async def until(self, count: int) -> list[dict[str, object]]:
        async with asyncio.timeout(5):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events

    @property
    def rewinds(self) -> float:
        value = self.metrics.registry.get_sample_value("callcenter_bus_rewinds_total")
        assert value is not None
        return value


@pytest.fixture
async def instances(
    redis_url: str, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[Instance, Instance]]:
    clients = [RespClient.from_url(redis_url) for _ in range(2)]
    made = []
    for client in clients:
        metrics = Metrics()
        bus = EventBus(BusRepository(client), clock=SystemClock(), metrics=metrics)
        instance = Instance(bus, metrics)
        bus.subscribe(instance.deliver, start_over=instance.start_over)
        made.append(instance)
    tasks = [asyncio.create_task(i.bus.run()) for i in made]
    for instance in made:
        await asyncio.wait_for(instance.bus.wait_ready(), 5)
    yield made[0], made[1]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()


async def publish(instance: Instance, count: int, tag: str) -> list[int]:
    return [await instance.bus.publish(Probe(data={"tag": tag, "n": n})) for n in range(count)]


async def test_a_counter_behind_its_log_starts_a_new_epoch_everyone_follows(
    instances: tuple[Instance, Instance], redis_client: aioredis.Redis
) -> None:
    a, b = instances
    await publish(a, 5, "before")
    old_epoch = (await b.until(5))[0]["epoch"]
    assert b.restarts == 0 and b.rewinds == 0
    await redis_client.decrby(keys.BUS_SEQ, 200)  # the reproduction
    seqs = await publish(a, 10, "after")
    assert seqs == list(range(1, 11))  # a fresh sequence
    got = await b.until(10)
    assert b.restarts == 1 and b.rewinds == 1
    assert [e["seq"] for e in got] == seqs
    assert {e["data"]["tag"] for e in got} == {"after"}  # type: ignore[index]
    assert got[0]["epoch"] != old_epoch and b.bus.epoch == got[0]["epoch"]
    assert a.restarts == 1  # the publishing instance follows too


async def test_a_flushed_redis_starts_a_new_epoch(
    instances: tuple[Instance, Instance], redis_client: aioredis.Redis
) -> None:
    a, b = instances
    await publish(a, 3, "before")
    await b.until(3)
    await redis_client.flushall()
    await publish(a, 2, "after")
    got = await b.until(2)
    assert [e["seq"] for e in got] == [1, 2] and b.rewinds == 1
    assert b.bus.last_seq == 2


async def test_a_restore_within_the_same_epoch_is_noticed_on_resubscribing(
    instances: tuple[Instance, Instance], redis_client: aioredis.Redis
) -> None:
    """An older snapshot comes back whole (counter, log and epoch agree, only older), as a
    restore or a failover to a lagging replica does; the subscriptions drop with it."""
    a, b = instances
    await publish(a, 3, "kept")
    await b.until(3)
    snapshot = {
        name: await redis_client.dump(name) for name in (keys.BUS_SEQ, keys.BUS_LOG, keys.BUS_EPOCH)
    }
    await publish(a, 7, "lost")
    await b.until(10)
    for name, value in snapshot.items():
        assert value is not None
        await redis_client.restore(name, 0, value, replace=True)
    await redis_client.client_kill_filter(_type="pubsub")
    await eventually(lambda: a.restarts and b.restarts)  # both resubscribe, see the rewind
    seqs = await publish(a, 2, "new")
    got = await b.until(2)
    assert [e["seq"] for e in got] == seqs == [1, 2]
    assert b.rewinds == 1 and a.rewinds == 1
    assert a.bus.epoch == b.bus.epoch  # one new epoch, however many instances noticed


async def test_old_epoch_messages_in_flight_do_not_flip_a_listener_back(
    instances: tuple[Instance, Instance], redis_client: aioredis.Redis
) -> None:
    a, b = instances
    await publish(a, 2, "first")
    first = (await b.until(2))[0]["epoch"]
    await redis_client.decrby(keys.BUS_SEQ, 2)
    await publish(a, 1, "second")
    await b.until(1)
    # an event of the epoch left behind arrives late: it is ignored, not followed
    stale = json.dumps({"seq": 99, "epoch": first, "type": "alert.raised", "at": "x"})
    await redis_client.publish(keys.BUS_CHANNEL, stale)
    await publish(a, 1, "third")
    got = await b.until(2)
    assert [e["data"]["tag"] for e in got] == ["second", "third"]  # type: ignore[index]
    assert b.restarts == 1
