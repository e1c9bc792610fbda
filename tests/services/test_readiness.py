"""Readiness is whether Redis answers in time: an unreachable one is not ready, and the
probe never raises."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from callcenter.services.readiness import Readiness
from callcenter.storage.resp import RespClient


@pytest.fixture
async def closed_port_client() -> AsyncIterator[RespClient]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RespClient.from_url(f"redis://127.0.0.1:{port}/0")
    yield client
    await client.aclose()


async def test_a_reachable_redis_is_ready(resp: RespClient) -> None:
    assert await Readiness(resp).ready()


async def test_an_unreachable_redis_is_not_ready(closed_port_client: RespClient) -> None:
    assert not await Readiness(closed_port_client).ready()
