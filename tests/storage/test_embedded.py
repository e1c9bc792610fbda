"""The embedded redis-server: listens on a Unix socket in its data directory (loopback TCP
when no socket path fits), persists, stops cleanly."""

from __future__ import annotations

import stat
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from callcenter.storage.embedded import (
    SOCKET_FILE,
    SOCKET_PATH_MAX,
    embedded_redis,
    redis_url_for,
    running_embedded_url,
    socket_path,
)
from callcenter.storage.resp import RespClient


async def test_starts_persists_and_stops(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path) as url:
        assert url == f"unix://{_resolved(tmp_path) / SOCKET_FILE}"
        # only this user may connect through the socket
        mode = (tmp_path / SOCKET_FILE).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o700
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


async def test_a_socket_path_too_long_or_unnamable_falls_back_to_loopback_tcp(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * (SOCKET_PATH_MAX - len(str(_resolved(tmp_path)))))
    odd = tmp_path / "what?"
    assert socket_path(deep) is None and socket_path(odd) is None
    assert socket_path(tmp_path) == _resolved(tmp_path) / SOCKET_FILE
    for data_dir in (deep, odd):
        async with embedded_redis(data_dir, persist=False) as url:
            assert url.startswith("redis://127.0.0.1:")
            client = RespClient.from_url(url, connections=1)
            assert await client.execute("PING") == b"PONG"
            await client.aclose()
        assert not (data_dir / SOCKET_FILE).exists()


async def test_without_the_socket_the_url_is_the_loopback_ports(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path, persist=False, unix_socket=False) as url:
        assert url.startswith("redis://127.0.0.1:")
        assert not (tmp_path / SOCKET_FILE).exists()
        client = RespClient.from_url(url, connections=1)
        assert await client.execute("SET", "k", "v") == b"OK"
        await client.aclose()


async def test_a_second_user_joins_the_running_server(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path) as url, redis_url_for(None, tmp_path) as joined:
        assert joined == url


async def test_explicit_url_wins(tmp_path: Path, redis_url: str) -> None:
    async with redis_url_for(redis_url, tmp_path) as url:
        assert url == redis_url
    assert not (tmp_path / "server.url").exists()


def _resolved(path: Path) -> Path:
    return path.resolve()
