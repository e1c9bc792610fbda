"""Queue figures are written in batches: many changes in a moment make one write per
queue and day, one `QueueStats` per queue on the bus, and the sums are exact."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import redis.asyncio as aioredis

from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.clock import SystemClock
from callcenter.services.figure_batch import FigureBatch
from callcenter.storage.bus import BusRepository
from callcenter.storage.queue_activity import QueueActivityRepository, minute_of
from callcenter.storage.queue_stats import QueueDay, QueueStatsRepository
from callcenter.storage.resp import RespClient

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
DAY = date(2026, 3, 2)


async def test_a_moment_of_changes_is_one_write_and_one_figure_per_queue(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    bus_repository = BusRepository(resp)
    bus = EventBus(bus_repository, clock=SystemClock(), metrics=Metrics())
    activity, stats = QueueActivityRepository(resp), QueueStatsRepository(resp)
    batch = FigureBatch(activity, stats, bus, metrics=Metrics(), batch_seconds=0.2)
    await redis_client.config_resetstat()
    for i in range(40):
        queue = ("billing", "sales")[i % 2]
        batch.add_traffic(minute_of(NOW), queue, QueueTraffic(arrived=1, answered=1))
        batch.add_day(
            DAY, queue, QueueDay(answered=1, answered_in_sl=i % 4 // 2, wait_seconds_sum=1.5)
        )
    batch.add_day(DAY, "sales", QueueDay(abandoned=1))
    await batch.drain()
    await bus.drain()

    minutes = await activity.minutes(NOW, 1)
    assert minutes[0] == {
        "billing": QueueTraffic(arrived=20, answered=20),
        "sales": QueueTraffic(arrived=20, answered=20),
    }
    today = await stats.today(DAY, ["billing", "sales"])
    assert today["billing"] == QueueDay(answered=20, answered_in_sl=10, wait_seconds_sum=30.0)
    assert today["sales"] == QueueDay(
        answered=20, answered_in_sl=10, abandoned=1, wait_seconds_sum=30.0
    )
    published = [json.loads(raw) for raw in await bus_repository.since(0, 100)]
    assert [(e["type"], e["queue"]) for e in published] == [
        ("queue.stats", "billing"),
        ("queue.stats", "sales"),
    ]
    assert published[1]["data"]["today"]["abandoned"] == 1
    commands = await redis_client.info("commandstats")
    # 40 answers per counter would be 40 HINCRBYs each: batched, one per queue and counter
    assert commands["cmdstat_hincrby"]["calls"] == 2 * 2 + 2 * 2 + 1
