"""Exactly-once callback dialling across `callcenter serve` processes sharing one Redis,
with the instance that took each accept SIGKILLed right after it answered: before its
timer loop dialled, while it was dialling (the gateway holds its request), or after. The
loopback gateway reports `call.ringing` as soon as a dial reaches it, as a real one does
once the call is placed; every callback must reach it exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import FIXTURES
from tests.integration.serve_processes import (
    Served,
    admin_token,
    serve_environment,
    start_servers,
)
from tests.polling import eventually

RULES = FIXTURES / "rules" / "callbacks"
SECRET = "exactly-once-secret"
DOOMED = 3  # instances killed, one per callback
# A dial whose instance died before the gateway heard of it waits for the timer lease
# (30 s) or the claim timeout (20 s) before a survivor places it: allow both and slack.
SETTLE_SECONDS = 75
Json = dict[str, Any]


class Gateway:
    """Takes route.callback; reports the new leg ringing to the survivor, then answers
    after a short hold (so an instance killed meanwhile dies mid-dial)."""

    def __init__(self) -> None:
        self.dials: list[Json] = []
        self.report_to = ""
        self.headers: dict[str, str] = {}
        self.session: aiohttp.ClientSession | None = None

    async def webhook(self, request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        if payload["type"] != "route.callback":
            return web.Response(status=204)
        self.dials.append(payload)
        assert self.session is not None
        event = {
            "type": "call.ringing",
            "event_id": f"ring-{payload['event_id']}",
            "call_id": payload["call_id"],
        }
        async with self.session.post(
            f"{self.report_to}/v1/events", json=event, headers=self.headers
        ) as answer:
            assert answer.status == 200, await answer.text()
        await asyncio.sleep(0.5)
        return web.Response(status=204)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    fake = Gateway()
    app = web.Application()
    app.router.add_post("/hooks", fake.webhook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        fake.session = session
        yield fake, str(server.make_url("/hooks"))
    await server.close()


@pytest.fixture
def instances(
    redis_client: aioredis.Redis, redis_url: str, tmp_path: Path, gateway: tuple[Gateway, str]
) -> Iterator[list[Served]]:
    with ExitStack() as stack:
        yield start_servers(
            stack,
            DOOMED + 1,
            redis_url=redis_url,
            rules_dir=RULES,
            folder=tmp_path,
            environ=serve_environment(
                CALLCENTER_GATEWAY_WEBHOOK_URL=gateway[1],
                CALLCENTER_WEBHOOK_SECRET=SECRET,
                # the survivor is stopped with attempts still being placed (this gateway
                # answers once it has reported back): bounded by this grace, not 10 s
                CALLCENTER_SHUTDOWN_TIMEOUT_SECONDS="2",
            ),
        )


async def _send(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], **kw: Any
) -> Json:
    async with session.request(method, url, headers=headers, **kw) as answer:
        assert answer.status < 300, f"{method} {url}: {answer.status} {await answer.text()}"
        result: Json = await answer.json()
        return result


async def test_each_accepted_callback_is_dialled_once_though_its_instance_dies(
    instances: list[Served], gateway: tuple[Gateway, str], redis_url: str
) -> None:
    fake = gateway[0]
    survivor, doomed = instances[-1], instances[:-1]
    headers = {"Authorization": f"Bearer {admin_token(redis_url)}"}
    fake.report_to, fake.headers = survivor.url, headers
    async with aiohttp.ClientSession() as session:
        calls = []
        for index in range(DOOMED):
            body = {"number": f"+1555999000{index}"}
            made = await _send(session, "POST", f"{survivor.url}/v1/callbacks", headers, json=body)
            calls.append(made["call_id"])
        for index, instance in enumerate(doomed):
            agent = f"agent{index}"
            await _send(
                session,
                "PUT",
                f"{instance.url}/v1/agents/{agent}",
                headers,
                json={"name": agent, "skills": {}},
            )
            await _send(
                session,
                "POST",
                f"{instance.url}/v1/agents/{agent}/presence",
                headers,
                json={"presence": "available"},
            )
        # every callback is offered to one of the agents: accept each through the
        # instance its agent was made on, and kill that instance as soon as it answers
        offers: dict[str, Json] = {}

        async def all_offered() -> bool:
            for call_id in calls:
                offers[call_id] = await _send(
                    session, "GET", f"{survivor.url}/v1/calls/{call_id}", headers
                )
            return all(call["state"] == "offered" for call in offers.values())

        await eventually(all_offered, seconds=15)
        for call in offers.values():
            instance = doomed[int(call["agent_id"].removeprefix("agent"))]
            reservation = call["reservation"]["id"]
            url = f"{instance.url}/v1/reservations/{reservation}/accept"
            accepted = await _send(session, "POST", url, headers)
            instance.process.send_signal(signal.SIGKILL)
            assert accepted["state"] == "connected"

        async def all_placed() -> bool:
            for call_id in calls:
                call = await _send(session, "GET", f"{survivor.url}/v1/calls/{call_id}", headers)
                if call["callback"]["dial"]["state"] != "placed":
                    return False
            return True

        await eventually(all_placed, seconds=SETTLE_SECONDS, every=0.25)
    per_call = Counter(dial["call_id"] for dial in fake.dials)
    assert per_call == Counter(calls), (per_call, [i.log.read_text()[-2000:] for i in instances])
    assert len({dial["event_id"] for dial in fake.dials}) == DOOMED
