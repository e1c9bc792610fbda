"""Callbacks end to end through the generic dialect, against a loopback gateway that takes
signed `route.callback` webhooks and reports back with canonical events: asked for by the
API or by the gateway, dialled once per accepted offer, retried per the queue's policy,
canceled, and counted; two instances sharing Redis still dial each attempt once."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.web.state import SERVICES
from tests.conftest import FIXTURES, AppClient
from tests.polling import eventually

SECRET = "callback-test-secret"
RULES = FIXTURES / "rules" / "callbacks"
NUMBER = "+15557770001"
Json = dict[str, Any]


class FakeGateway:
    """Takes route.* webhooks, checks each signature, keeps the route.callback ones."""

    def __init__(self) -> None:
        self.dials: list[Json] = []
        self.kinds: list[str] = []
        self.refuse_with: int | None = None

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-Callcenter-Timestamp"]
        digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        assert request.headers["X-Callcenter-Signature"] == "v1=" + digest.hexdigest()
        payload = json.loads(body)
        self.kinds.append(payload["type"])
        if payload["type"] == "route.callback":
            self.dials.append(payload)
            if self.refuse_with is not None:
                return web.Response(status=self.refuse_with)
        return web.Response(status=204)


@pytest.fixture
async def gateway_server() -> AsyncIterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/hooks", fake.webhook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/hooks"))
    await server.close()


@pytest.fixture
def callback_settings(
    settings: Settings, tmp_path: Path, gateway_server: tuple[FakeGateway, str]
) -> Settings:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    return dataclasses.replace(
        settings,
        rules_dir=rules,
        gateway_webhook_url=gateway_server[1],
        webhook_secret=Secret(SECRET),
    )


class Api:
    def __init__(self, client: AppClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.sent = 0

    async def send(self, method: str, path: str, expect: int, **kwargs: Any) -> Json:
        answer = await self.client.request(method, path, headers=self.headers, **kwargs)
        assert answer.status == expect, await answer.text()
        result: Json = await answer.json()
        return result

    async def agent(self, agent_id: str) -> None:
        body = {"name": agent_id, "skills": {}}
        answer = await self.client.put(f"/v1/agents/{agent_id}", json=body, headers=self.headers)
        assert answer.status in (200, 201), await answer.text()
        await self.send(
            "POST", f"/v1/agents/{agent_id}/presence", 200, json={"presence": "available"}
        )

    async def event(self, kind: str, call_id: str, **fields: Any) -> Json:
        self.sent += 1
        body = {"type": kind, "event_id": f"cb-ev{self.sent}", "call_id": call_id, **fields}
        return await self.send("POST", "/v1/events", 200, json=body)

    async def call(self, call_id: str) -> Json:
        return await self.send("GET", f"/v1/calls/{call_id}", 200)

    async def agent_state(self, agent_id: str) -> Json:
        return await self.send("GET", f"/v1/agents/{agent_id}", 200)

    async def accept_offer(self, call_id: str) -> Json:
        offered: Json = {}

        async def is_offered() -> bool:
            offered.update(await self.call(call_id))
            return bool(offered["state"] == "offered")

        await eventually(is_offered, seconds=10)
        reservation = offered["reservation"]["id"]
        return await self.send("POST", f"/v1/reservations/{reservation}/accept", 200)

    async def metric(self, name: str, **labels: str) -> float:
        answer = await self.client.get("/metrics")
        text = await answer.text()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name}{{{wanted}}} not exported")


async def _api(aiohttp_client: Callable[..., Awaitable[AppClient]], settings: Settings) -> Api:
    client = await aiohttp_client(create_app(settings))
    token, _ = await client.app[SERVICES].auth.create_token("admin", "test")
    return Api(client, {"Authorization": f"Bearer {token}"})


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    callback_settings: Settings,
    redis_client: object,
) -> Api:
    return await _api(aiohttp_client, callback_settings)


async def test_an_api_callback_is_dialled_once_answered_and_kept_in_history(
    api: Api, gateway_server: tuple[FakeGateway, str]
) -> None:
    gateway = gateway_server[0]
    made = await api.send("POST", "/v1/callbacks", 201, json={"number": NUMBER, "name": "Ana"})
    call_id = made["call_id"]
    assert (made["state"], made["queue"], made["duplicate"]) == ("queued", "billing", False)
    waiting = await api.call(call_id)
    assert waiting["callback"]["number"] == NUMBER and waiting["callback"]["source"] == "api"
    listed = await api.send("GET", "/v1/calls?state=queued", 200)
    assert call_id in [c["id"] for c in listed["calls"]]
    again = await api.send("POST", "/v1/callbacks", 200, json={"number": NUMBER})
    assert (again["call_id"], again["duplicate"]) == (call_id, True)

    await api.agent("ann")
    accepted = await api.accept_offer(call_id)
    assert accepted["state"] == "connected"
    await eventually(lambda: len(gateway.dials) == 1, seconds=10)
    dial = gateway.dials[0]
    assert (dial["call_id"], dial["agent_id"], dial["number"], dial["attempt"]) == (
        call_id,
        "ann",
        NUMBER,
        1,
    )
    assert dial["name"] == "Ana"
    assert "route.assigned" not in gateway.kinds  # nobody to bridge: route.callback instead
    assert "route.offered" in gateway.kinds

    await api.event("call.ringing", call_id)
    placed = await api.call(call_id)
    assert placed["callback"]["dial"]["state"] == "placed"
    await api.event("call.answered", call_id)
    ended = await api.event("call.ended", call_id)
    assert ended["state"] == "wrap_up"
    history = await api.send("GET", f"/v1/callers/{NUMBER}", 200)
    assert [(c["call_id"], c["callback"]) for c in history["history"]["recent"]] == [
        (call_id, "answered")
    ]
    assert await api.metric("callcenter_callbacks_total", queue="billing", outcome="requested") == 1
    assert await api.metric("callcenter_callbacks_total", queue="billing", outcome="answered") == 1
    assert await api.metric("callcenter_callback_wait_seconds_count", queue="billing") == 1
    assert len(gateway.dials) == 1


async def test_unanswered_attempts_free_the_agent_retry_then_end_failed(
    api: Api, gateway_server: tuple[FakeGateway, str]
) -> None:
    gateway = gateway_server[0]
    call_id = (await api.send("POST", "/v1/callbacks", 201, json={"number": NUMBER}))["call_id"]
    await api.agent("ann")
    await api.accept_offer(call_id)
    await eventually(lambda: len(gateway.dials) == 1, seconds=10)
    busy = await api.event("call.ended", call_id, end_reason="busy")
    assert busy["state"] == "queued"
    ann = await api.agent_state("ann")
    assert (ann["activity"], ann["call_id"]) == ("idle", None)  # no wrap-up for a failed dial
    retry = (await api.call(call_id))["callback"]
    assert (retry["last_outcome"], retry["attempts"]) == ("busy", 1)
    assert retry["not_before"] is not None

    await api.accept_offer(call_id)  # offered again once the retry pause is over
    await eventually(lambda: len(gateway.dials) == 2, seconds=10)
    assert gateway.dials[1]["attempt"] == 2
    assert gateway.dials[1]["event_id"] != gateway.dials[0]["event_id"]
    stale = await api.event(  # a late report about the first attempt, tagged with its id
        "call.ended",
        call_id,
        end_reason="busy",
        attributes={"dial_id": gateway.dials[0]["event_id"]},
    )
    assert (stale["result"], stale["state"]) == ("stale", "connected")
    tag = {"dial_id": gateway.dials[1]["event_id"]}
    last = await api.event("call.ended", call_id, end_reason="no_answer", attributes=tag)
    assert last["state"] == "ended"
    ended = await api.call(call_id)
    assert (ended["outcome"], ended["end_reason"]) == ("failed", "callback_no_answer")
    history = await api.send("GET", f"/v1/callers/{NUMBER}", 200)
    assert [c["callback"] for c in history["history"]["recent"]] == ["no_answer"]
    assert await api.metric("callcenter_callbacks_total", queue="billing", outcome="retried") == 1
    assert await api.metric("callcenter_callbacks_total", queue="billing", outcome="no_answer") == 1


async def test_a_gateway_that_refuses_the_dial_counts_a_failed_attempt(
    api: Api, gateway_server: tuple[FakeGateway, str]
) -> None:
    gateway = gateway_server[0]
    gateway.refuse_with = 422
    call_id = (await api.send("POST", "/v1/callbacks", 201, json={"number": NUMBER}))["call_id"]
    await api.agent("ann")
    await api.accept_offer(call_id)

    async def failed_once() -> bool:
        callback = (await api.call(call_id))["callback"]
        return bool(callback.get("last_outcome") == "failed")

    await eventually(failed_once, seconds=10)
    assert len(gateway.dials) == 1  # a refusal is final for the attempt: not repeated
    assert (await api.agent_state("ann"))["activity"] in ("idle", "reserved")


async def test_the_gateway_turns_a_waiting_call_into_a_callback(api: Api) -> None:
    await api.event("call.created", "c1", **{"from": "+15551230000", "queue": "billing"})
    taken = await api.event("call.callback_requested", "c1")
    assert (taken["result"], taken["state"]) == ("applied", "queued")
    hung_up = await api.event("call.ended", "c1")
    assert hung_up["result"] == "stale"
    call = await api.call("c1")
    assert call["state"] == "queued" and call["callback"]["number"] == "+15551230000"
    assert call["callback"]["source"] == "event"
    repeated = await api.event("call.callback_requested", "c1", number="+15550000000")
    assert repeated["result"] == "stale"
    assert (await api.call("c1"))["callback"]["number"] == "+15551230000"


async def test_bad_requests_name_the_field(api: Api) -> None:
    now = datetime.now(UTC)
    cases: list[tuple[Json, str, str]] = [
        ({"number": "5551234"}, "/number", "E.164"),
        ({"number": "+1 555 123"}, "/number", "E.164"),
        ({}, "/number", "missing required field"),
        (
            {"number": NUMBER, "not_before": (now - timedelta(hours=1)).isoformat()},
            "/not_before",
            "past",
        ),
        (
            {"number": NUMBER, "not_before": (now + timedelta(days=31)).isoformat()},
            "/not_before",
            "30 days",
        ),
        ({"number": NUMBER, "not_before": "2030-01-01T00:00:00"}, "/not_before", "timezone"),
        ({"number": NUMBER, "queue": "no spaces"}, "/queue", "regex"),
        ({"number": NUMBER, "colour": "red"}, "/colour", "unknown field"),
    ]
    for body, pointer, reason in cases:
        problem = await api.send("POST", "/v1/callbacks", 422, json=body)
        assert (problem.get("pointer", ""), problem["status"]) == (pointer, 422), problem
        assert reason in problem["detail"], problem
    wrong = await api.send(
        "POST",
        "/v1/events",
        422,
        json={"type": "call.callback_requested", "event_id": "n", "call_id": "x", "number": "12"},
    )
    assert wrong["pointer"] == "/number"
    await api.event("call.created", "gone", **{"from": "+15551230000"})
    await api.event("call.ended", "gone")
    conflict = await api.send(
        "POST",
        "/v1/events",
        409,
        json={"type": "call.callback_requested", "event_id": "late", "call_id": "gone"},
    )
    assert "only a waiting call" in conflict["detail"]


async def test_cancel_a_waiting_callback(api: Api) -> None:
    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    made = await api.send(
        "POST", "/v1/callbacks", 201, json={"number": NUMBER, "not_before": later}
    )
    assert made["not_before"] is not None
    canceled = await api.send("DELETE", f"/v1/callbacks/{made['call_id']}", 200)
    assert (canceled["state"], canceled["end_reason"]) == ("ended", "callback_canceled")
    again = await api.send("DELETE", f"/v1/callbacks/{made['call_id']}", 200)
    assert again["state"] == "ended"
    fresh = await api.send("POST", "/v1/callbacks", 201, json={"number": NUMBER})
    assert fresh["call_id"] != made["call_id"]  # the canceled one no longer counts
    await api.send("DELETE", "/v1/callbacks/nope", 404)
    await api.event("call.created", "live", **{"from": "+15551230000"})
    await api.send("DELETE", "/v1/callbacks/live", 409)
    history = await api.send("GET", f"/v1/callers/{NUMBER}", 200)
    assert [c["callback"] for c in history["history"]["recent"]] == ["canceled"]


async def test_two_instances_dial_each_accepted_callback_once(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    callback_settings: Settings,
    redis_client: object,
    gateway_server: tuple[FakeGateway, str],
) -> None:
    """Offers accepted through one instance that then stops at once (before or after its
    timer loop took the dial): the other instance's timer loop finishes the work, and
    the gateway hears of each attempt once."""
    gateway = gateway_server[0]
    survivor = await _api(aiohttp_client, callback_settings)
    created = []
    for n in range(4):
        number = f"+1555888000{n}"
        made = await survivor.send("POST", "/v1/callbacks", 201, json={"number": number})
        created.append(made["call_id"])
        doomed = await _api(aiohttp_client, callback_settings)
        await doomed.agent(f"agent{n}")
        await doomed.accept_offer(made["call_id"])
        await doomed.client.close()

    async def all_placed() -> bool:
        calls = [await survivor.call(call_id) for call_id in created]
        return all(c["callback"]["dial"]["state"] == "placed" for c in calls)

    # an instance stopped right after claiming an attempt leaves it to the claim timeout
    await eventually(all_placed, seconds=45)
    dialled = sorted(d["call_id"] for d in gateway.dials)
    assert dialled == sorted(created)


async def test_stopping_does_not_wait_on_a_gateway_that_never_answers(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    callback_settings: Settings,
    redis_client: object,
) -> None:
    """A dial under way when the server stops gets the shutdown grace, then is cancelled
    (its claim runs out and it is placed again by another instance)."""
    heard = asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        heard.set()
        await asyncio.sleep(3600)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", never)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    stalled = dataclasses.replace(
        callback_settings,
        gateway_webhook_url=str(server.make_url("/hooks")),
        shutdown_timeout_seconds=0.5,
    )
    api = await _api(aiohttp_client, stalled)
    call_id = (await api.send("POST", "/v1/callbacks", 201, json={"number": NUMBER}))["call_id"]
    await api.agent("ann")
    await api.accept_offer(call_id)
    await asyncio.wait_for(heard.wait(), 10)
    async with asyncio.timeout(8):  # the dial's own timeouts and retries take 30 s and more
        await api.client.close()
    await server.close()
