"""The one Redis connection pool of a process: opened and closed here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callcenter import __version__
from callcenter.errors import StorageUnavailable


@asynccontextmanager
async def redis_client(url: str, *, max_connections: int = 64) -> AsyncIterator[aioredis.Redis]:
    """A client on a bounded pool, checked with PING before it is handed out."""
    client = aioredis.Redis.from_url(
        url,
        max_connections=max_connections,
        socket_connect_timeout=5,
        health_check_interval=30,
        **_driver_info(),
    )
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as error:
            raise StorageUnavailable(f"cannot reach Redis at {_safe(url)}: {error}") from error
        yield client
    finally:
        await client.aclose()


def _driver_info() -> dict[str, Any]:
    """Client identification resolved once: without it redis-py reads its package metadata
    (file I/O) every time the pool opens a connection, on the event loop."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # older redis-py: no per-connection lookup to avoid
        return {}
    info = DriverInfo().add_upstream_driver("callcenter", __version__)
    return {"driver_info": info}


async def is_reachable(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
