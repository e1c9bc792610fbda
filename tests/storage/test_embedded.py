"""The embedded redis-server: starts on a free loopback port, persists, stops cleanly."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from callcenter.storage.embedded import embedded_redis, redis_url_for, running_embedded_url


async def test_starts_persists_and_stops(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path) as url:
        assert url.startswith("redis://127.0.0.1:")
        assert await running_embedded_url(tmp_path) == url
        client = aioredis.Redis.from_url(url)
        await client.set("k", "v")
        await client.aclose()
    assert await running_embedded_url(tmp_path) is None
    probe = aioredis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        await probe.ping()
        raise AssertionError("redis-server still answers after the context closed")
    except (RedisConnectionError, OSError):
        pass
    finally:
        await probe.aclose()
    # The AOF kept the write: a new server on the same directory has it.
    async with embedded_redis(tmp_path) as again:
        client = aioredis.Redis.from_url(again)
        assert await client.get("k") == b"v"
        await client.aclose()


async def test_a_second_user_joins_the_running_server(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path) as url, redis_url_for(None, tmp_path) as joined:
        assert joined == url


async def test_explicit_url_wins(tmp_path: Path, redis_url: str) -> None:
    async with redis_url_for(redis_url, tmp_path) as url:
        assert url == redis_url
    assert not (tmp_path / "server.url").exists()
