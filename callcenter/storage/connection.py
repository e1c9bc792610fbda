"""The Redis client of a process: opened, checked and closed here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callcenter.errors import StorageUnavailable
from callcenter.storage.resp import RespClient


@asynccontextmanager
async def redis_client(url: str, *, connections: int = 2) -> AsyncIterator[RespClient]:
    """A client multiplexing `connections` sockets, checked with PING before it is handed
    out. Raises StorageUnavailable naming the (password-less) URL."""
    client = RespClient.from_url(url, connections=connections)
    try:
        try:
            await client.ping()
        except StorageUnavailable as error:
            raise StorageUnavailable(f"cannot reach Redis at {_safe(url)}: {error}") from error
        yield client
    finally:
        await client.aclose()


async def is_reachable(client: RespClient, within: float = 0.8) -> bool:
    """True if Redis answers a PING within `within` seconds (a readiness probe must answer
    in time whatever Redis does, frozen included)."""
    try:
        return await asyncio.wait_for(client.ping(), within)
    except (StorageUnavailable, TimeoutError):
        return False


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
