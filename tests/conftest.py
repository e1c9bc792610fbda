"""Shared fixtures: one real redis-server per test session (flushed per test), the app on a
test server, and tokens for every role."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient
from blockbuster import blockbuster_ctx

from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.simulate.fake_asterisk import FakeAsterisk
from callcenter.simulate.fake_freeswitch import FakeFreeswitch
from callcenter.storage.embedded import find_redis_server, free_port
from callcenter.storage.resp import RespClient
from callcenter.web.state import SERVICES

pytest_plugins = ["tests.cluster_slots"]  # every script the suite runs stays in one slot

FIXTURES = Path(__file__).parent / "fixtures"
BASIC_RULES = FIXTURES / "rules" / "basic"
TokenFactory = Callable[[str], Awaitable[dict[str, str]]]
AppClient = TestClient[web.Request, web.Application]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a random loopback port for the whole session."""
    data = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the session's Redis, flushed before each test."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def resp(redis_url: str, redis_client: aioredis.Redis) -> AsyncIterator[RespClient]:
    """The service's own Redis client on the session's (flushed) Redis."""
    client = RespClient.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def closed_port_client() -> AsyncIterator[RespClient]:
    """A client of a loopback port nothing listens on."""
    client = RespClient.from_url(f"redis://127.0.0.1:{free_port()}/0")
    yield client
    await client.aclose()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url, data_dir=tmp_path, token_cache_seconds=0, rules_dir=BASIC_RULES
    )


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> AsyncIterator[AppClient]:
    """The whole application on a loopback test server, against the real Redis.

    Once it is up, any blocking call our code makes on the event loop fails the test."""
    started = await aiohttp_client(create_app(settings))
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield started


@pytest.fixture
def token_for(client: AppClient) -> TokenFactory:
    """`await token_for("agent:a1")` → Authorization headers for a fresh token of that role."""

    async def issue(role: str) -> dict[str, str]:
        token, _ = await client.app[SERVICES].auth.create_token(role, "test")
        return {"Authorization": f"Bearer {token}"}

    return issue


@pytest.fixture
async def admin(token_for: TokenFactory) -> dict[str, str]:
    return await token_for("admin")


@pytest.fixture
async def gateway(token_for: TokenFactory) -> dict[str, str]:
    return await token_for("gateway")


@pytest.fixture
async def fake_asterisk() -> AsyncIterator[FakeAsterisk]:
    """The loopback Asterisk (ARI), application `callcenter`, user callcenter / secret."""
    fake = FakeAsterisk(app="callcenter", username="callcenter", password="secret")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_freeswitch() -> AsyncIterator[FakeFreeswitch]:
    """The loopback FreeSWITCH event socket, password `secret`."""
    fake = FakeFreeswitch(password="secret")
    await fake.start()
    yield fake
    await fake.stop()
