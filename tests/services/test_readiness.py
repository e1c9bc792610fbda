"""Readiness is whether Redis answers in time: an unreachable one is not ready, and the
probe never raises."""

from __future__ import annotations

from callcenter.services.readiness import Readiness
from callcenter.storage.resp import RespClient


async def test_a_reachable_redis_is_ready(resp: RespClient) -> None:
    assert await Readiness(resp).ready()


async def test_an_unreachable_redis_is_not_ready(closed_port_client: RespClient) -> None:
    assert not await Readiness(closed_port_client).ready()
