"""Queue traffic per minute, outlook points and outlook tick claims in a real Redis: sums
per minute and queue, a window read back in order, a point replaced within its minute,
every key with a TTL, and one claimant per tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from callcenter.domain.queue_outlook import OutlookPoint
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.storage.queue_activity import (
    KEEP_SECONDS,
    QueueActivityRepository,
    minute_of,
    minute_start,
)
from callcenter.storage.resp import RespClient

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)


def point(waiting: int, gap: int | None) -> OutlookPoint:
    return OutlookPoint(
        minute=minute_start(minute_of(NOW)),
        waiting=waiting,
        service_level=0.75,
        needed=3,
        staffed=3 - (gap or 0),
        gap=gap,
    )


async def test_traffic_adds_up_per_minute_and_queue(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    activity = QueueActivityRepository(resp)
    earlier = NOW - timedelta(minutes=2)
    await activity.record(earlier, "billing", QueueTraffic(arrived=1))
    await activity.record(NOW, "billing", QueueTraffic(arrived=1, answered=1, answered_in_sl=1))
    await activity.record(
        NOW, "billing", QueueTraffic(handled=1, handle_seconds=100.5, talk_seconds=80.25)
    )
    await activity.record(NOW, "a:queue:with:colons", QueueTraffic(abandoned=1))
    await activity.record(NOW, "sales", QueueTraffic())  # nothing: no write
    minutes = await activity.minutes(NOW, 3)
    assert minutes[0] == {"billing": QueueTraffic(arrived=1)}
    assert minutes[1] == {}
    assert minutes[2] == {
        "billing": QueueTraffic(
            arrived=1,
            answered=1,
            answered_in_sl=1,
            handled=1,
            handle_seconds=100.5,
            talk_seconds=80.25,
        ),
        "a:queue:with:colons": QueueTraffic(abandoned=1),
    }
    keys = [key async for key in redis_client.scan_iter(match="cc:{qact}:*")]
    assert len(keys) == 2
    for key in keys:
        assert 0 < await redis_client.ttl(key) <= KEEP_SECONDS


async def test_points_are_kept_per_minute_and_replaced_within_it(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    activity = QueueActivityRepository(resp)
    await activity.save_points(NOW, {"billing": point(4, 1), "sales": point(0, None)})
    await activity.save_points(NOW + timedelta(seconds=20), {"billing": point(2, -1)})
    later = NOW + timedelta(minutes=1)
    later_point = OutlookPoint(
        minute=minute_start(minute_of(later)),
        waiting=1,
        service_level=None,
        needed=None,
        staffed=0,
        gap=None,
    )
    await activity.save_points(later, {"billing": later_point})
    series = await activity.points(later, 60)
    assert series["billing"] == [point(2, -1), later_point]
    assert series["sales"] == [point(0, None)]
    for key in [key async for key in redis_client.scan_iter(match="cc:{qact}:*")]:
        assert 0 < await redis_client.ttl(key) <= KEEP_SECONDS


async def test_one_claimant_per_tick(resp: RespClient, redis_url: str) -> None:
    other = RespClient.from_url(redis_url)
    try:
        one, two = QueueActivityRepository(resp), QueueActivityRepository(other)
        assert await one.claim_tick(7) is True
        assert await two.claim_tick(7) is False
        assert await one.claim_tick(7) is False
        assert await two.claim_tick(8) is True
    finally:
        await other.aclose()


async def test_settled_minutes_are_read_once_recent_ones_every_time(resp: RespClient) -> None:
    activity = QueueActivityRepository(resp)
    old, recent = NOW - timedelta(minutes=10), NOW - timedelta(minutes=1)
    for at in (old, recent, NOW):
        await activity.record(at, "billing", QueueTraffic(arrived=1))
    first = await activity.minutes(NOW, 15)
    assert [m.get("billing", QueueTraffic()).arrived for m in first].count(1) == 3
    for at in (old, recent, NOW):  # (a late write to a settled minute: clocks far apart)
        await activity.record(at, "billing", QueueTraffic(arrived=1))
    again = await activity.minutes(NOW, 15)
    assert again[4]["billing"].arrived == 1  # ten minutes ago: as first read
    assert (again[13]["billing"].arrived, again[14]["billing"].arrived) == (2, 2)
    fresh = await QueueActivityRepository(resp).minutes(NOW, 15)
    assert fresh[4]["billing"].arrived == 2  # what Redis holds
