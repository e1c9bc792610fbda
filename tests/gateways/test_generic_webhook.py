"""Routing decisions reach a (loopback) gateway as signed webhooks, retried on failure."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.gateways.generic.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_signature,
)
from callcenter.settings import Secret, Settings
from callcenter.web.state import SERVICES
from tests.conftest import FIXTURES, AppClient

SECRET = "gateway-secret"


class Gateway:
    """A loopback gateway that records webhooks; answers the first `fail_first` with 503."""

    def __init__(self, fail_first: int = 0, status: int = 200) -> None:
        self.received: list[dict[str, object]] = []
        self.attempts: list[object] = []  # the type of each POST, failed ones included
        self.fail_first = fail_first
        self.status = status

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        check_signature(
            SECRET,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            now=time.time(),
            tolerance_seconds=300,
        )
        self.attempts.append(msgspec.json.decode(body)["type"])
        if len(self.attempts) <= self.fail_first:
            return web.Response(status=503)
        self.received.append(msgspec.json.decode(body))
        return web.Response(status=self.status)


@pytest.fixture
async def gateway_server() -> AsyncIterator[tuple[Gateway, TestServer]]:
    gateway = Gateway(fail_first=2)
    app = web.Application()
    app.router.add_post("/hooks", gateway.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield gateway, server
    await server.close()


async def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_offer_is_delivered_signed_after_retries(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    gateway_server: tuple[Gateway, TestServer],
) -> None:
    gateway, server = gateway_server
    app = create_app(
        dataclasses.replace(
            settings,
            rules_dir=FIXTURES / "rules" / "routing",
            webhook_secret=Secret(SECRET),
            gateway_webhook_url=str(server.make_url("/hooks")),
        )
    )
    client = await aiohttp_client(app)
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    headers = {"Authorization": f"Bearer {token}"}
    await client.put(
        "/v1/agents/ann", json={"name": "Ann", "skills": {"billing": 5}}, headers=headers
    )
    await client.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=headers)
    created = await client.post(
        "/v1/events",
        headers=headers,
        json={
            "type": "call.created",
            "event_id": "e1",
            "call_id": "CA1",
            "from": "+15551230000",
            "queue": "billing",
        },
    )
    assert created.status == 200
    await _until(lambda: len(gateway.received) >= 1)
    hook = gateway.received[0]
    assert hook["type"] == "route.offered"
    assert (hook["call_id"], hook["agent_id"], hook["queue"]) == ("CA1", "ann", "billing")
    decision = hook["decision"]
    assert isinstance(decision, dict) and decision["rule"] == "billing"
    assert gateway.attempts[:3] == ["route.offered"] * 3  # two 503s, then delivered
    metrics = await (await client.get("/metrics")).text()
    assert (
        'callcenter_webhook_deliveries_total{result="delivered",type="route.offered"} 1.0'
        in metrics
    )
