"""The Redis client of a process: opened, checked and closed here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from callcenter.errors import StorageUnavailable
from callcenter.settings import Settings
from callcenter.storage.cluster import ClusterClient
from callcenter.storage.embedded import embedded_redis, redis_url_for
from callcenter.storage.resp import RespClient, parse_url
from callcenter.storage.sentinel import SentinelConfig, SentinelLocator


@asynccontextmanager
async def redis_client(
    url: str | None,
    *,
    connections: int = 2,
    sentinel: SentinelConfig | None = None,
    cluster: Sequence[tuple[str, int]] = (),
    ack_replicas: int = 0,
    ack_timeout_ms: int = 500,
) -> AsyncIterator[RespClient]:
    """A client multiplexing `connections` sockets to the primary at `url`, or to the
    one `sentinel` names (the URL, if any, then gives its password, database and TLS),
    checked with PING before it is handed out. Raises StorageUnavailable naming the
    (password-less) URL or the sentinels."""
    endpoint = parse_url(url or "redis://")
    client = (
        ClusterClient(
            endpoint,
            cluster,
            connections=connections,
            ack_replicas=ack_replicas,
            ack_timeout_ms=ack_timeout_ms,
        )
        if cluster
        else RespClient(
            endpoint,
            connections=connections,
            sentinel=SentinelLocator(sentinel) if sentinel else None,
            ack_replicas=ack_replicas,
            ack_timeout_ms=ack_timeout_ms,
        )
    )
    where = _where(url, sentinel, cluster)
    try:
        try:
            await client.ping()
        except StorageUnavailable as error:
            raise StorageUnavailable(f"cannot reach Redis at {where}: {error}") from error
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def configured_redis(
    settings: Settings, *, embedded_dir: Path, reuse_embedded: bool = False
) -> AsyncIterator[RespClient]:
    """The client the settings name: the URL's Redis, or the primary the sentinels name;
    else an embedded redis-server in `embedded_dir` (with `reuse_embedded`, the one
    already running there, if any)."""
    sentinel = None
    if settings.redis_sentinels:
        password = settings.redis_sentinel_password.reveal() or None
        sentinel = SentinelConfig(settings.redis_sentinels, settings.redis_master_name, password)
    replicas, timeout_ms = settings.redis_ack_replicas, settings.redis_ack_timeout_ms
    if settings.redis_url or sentinel is not None or settings.redis_cluster_nodes:
        async with redis_client(
            settings.redis_url,
            sentinel=sentinel,
            cluster=settings.redis_cluster_nodes,
            ack_replicas=replicas,
            ack_timeout_ms=timeout_ms,
        ) as client:
            yield client
        return
    embedded = redis_url_for(None, embedded_dir) if reuse_embedded else embedded_redis(embedded_dir)
    async with (
        embedded as url,
        redis_client(url, ack_replicas=replicas, ack_timeout_ms=timeout_ms) as client,
    ):
        yield client


async def is_reachable(client: RespClient, within: float = 0.8) -> bool:
    """True if Redis answers a PING within `within` seconds (a readiness probe must answer
    in time whatever Redis does, frozen included)."""
    try:
        return await asyncio.wait_for(client.ping(), within)
    except (StorageUnavailable, TimeoutError):
        return False


def _where(
    url: str | None, sentinel: SentinelConfig | None, cluster: Sequence[tuple[str, int]]
) -> str:
    if cluster:
        return "the Redis Cluster of " + ",".join(f"{host}:{port}" for host, port in cluster)
    if sentinel is None:
        return _safe(url or "redis://")
    sentinels = ",".join(f"{host}:{port}" for host, port in sentinel.sentinels)
    return f"the primary {sentinel.master_name!r} of sentinels {sentinels}"


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
