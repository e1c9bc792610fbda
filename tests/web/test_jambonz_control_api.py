"""jambonz live call control end to end: the real app and Redis, jambonz's api server as the
loopback fake (tests/gateways/jambonz_rest_fake.py), every webhook signed as jambonz signs
it. A caller reported by the status webhook (and answered by jambonz for the hold) waits
and is offered to an agent; on accept the live call is redirected to the agent-dial hook,
which dials the agent; a busy agent leg puts the caller back in their place, holding, and
the next agent's answered dial ends in a hang-up. Around it: the agent's own leg is no
call, the hold loop, and refusals (signature, body, call)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from callcenter.app import create_app
from callcenter.gateways.jambonz.signature import SIGNATURE_HEADER, sign_jambonz
from callcenter.settings import Secret, Settings
from callcenter.web.state import METRICS, SERVICES
from tests.conftest import FIXTURES, AppClient
from tests.gateways.jambonz_rest_fake import FakeJambonzApi

pytestmark = pytest.mark.timeout(60)

Json = dict[str, Any]
SECRET = "jambonz-webhook-secret"
ACCOUNT_SID = "9351f46a-678c-43f5-b8a6-d4eb58d131af"
API_KEY = "3f9c2d1e-7b4a-4e8f-9a6c-5d2b1e0f7a93"
CALL_SID = "9fb35c28-9688-4531-943c-e280b04f3adf"  # the caller in the fixtures
PUBLIC = "https://cc.example.com"
HOLD_URL = f"{PUBLIC}/gateways/jambonz/hold?call={CALL_SID}"
SILENT_HOLD = [
    {"verb": "answer"},
    {"verb": "pause", "length": 20},
    {"verb": "redirect", "actionHook": {"url": HOLD_URL, "method": "POST"}},
]
HANGUP = [{"verb": "hangup"}]


def body_of(name: str, **changes: Any) -> bytes:
    """A recorded jambonz body with fields replaced (None removes one)."""
    document: Json = json.loads((FIXTURES / "jambonz" / name).read_bytes()) | changes
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


NEW_CALL = body_of("call_hook_new_call.json")
# what jambonz posts to a call hook of the call once it is up: its call info
LIVE_CALL = body_of("call_hook_new_call.json", sip=None, call_status="in-progress", sip_status=200)


@pytest.fixture
async def jambonz() -> AsyncIterator[FakeJambonzApi]:
    async with FakeJambonzApi(ACCOUNT_SID, API_KEY) as fake:
        fake.add_call(CALL_SID)
        yield fake


def configured(settings: Settings, api_url: str | None, **changes: Any) -> Settings:
    """jambonz configured for the fake api server at `api_url` (None: no REST control)."""
    chosen: dict[str, Any] = {
        "jambonz_secret": Secret(SECRET),
        "jambonz_api_url": api_url,
        "jambonz_account_sid": ACCOUNT_SID,
        "jambonz_api_key": Secret(API_KEY),
        "jambonz_agent_ring_seconds": 20,
        "public_url": PUBLIC,
    }
    return dataclasses.replace(settings, **(chosen | changes))


class Jambonz:
    """The server as jambonz and an admin use it."""

    def __init__(self, client: AppClient, fake: FakeJambonzApi, admin: dict[str, str]) -> None:
        self.client = client
        self.fake = fake
        self.admin = admin

    async def post(self, path: str, body: bytes, *, signed: bool = True) -> Any:
        stamp = int(time.time())
        headers = {SIGNATURE_HEADER: sign_jambonz(SECRET, stamp, body)} if signed else {}
        headers["Content-Type"] = "application/json"
        return await self.client.post(path, data=body, headers=headers)

    async def verbs(self, path: str, body: bytes) -> Any:
        answer = await self.post(path, body)
        assert answer.status == 200, await answer.text()
        assert answer.content_type == "application/json"
        return await answer.json()

    async def problem(self, path: str, body: bytes, status: int) -> Json:
        answer = await self.post(path, body)
        assert answer.status == status, await answer.text()
        assert answer.content_type == "application/problem+json"
        problem: Json = await answer.json()
        return problem

    async def agent(self, agent_id: str) -> None:
        put = await self.client.put(
            f"/v1/agents/{agent_id}", json={"name": agent_id, "skills": {}}, headers=self.admin
        )
        assert put.status in (200, 201), await put.text()
        presence = {"presence": "available"}
        answer = await self.client.post(
            f"/v1/agents/{agent_id}/presence", json=presence, headers=self.admin
        )
        assert answer.status == 200, await answer.text()

    async def until(self, path: str, done: Callable[[Json], bool], seconds: float = 10) -> Json:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            answer = await self.client.get(path, headers=self.admin)
            if answer.status == 200:
                value: Json = await answer.json()
                if done(value):
                    return value
            assert loop.time() < deadline, f"{path}: {await answer.text()}"
            await asyncio.sleep(0.02)

    async def accept_offer(self, agent_id: str) -> None:
        """Accept the caller's offer to `agent_id`, once it is made."""
        offered = await self.until(
            f"/v1/calls/{CALL_SID}",
            lambda c: c["state"] == "offered" and c["agent_id"] == agent_id,
        )
        reservation = offered["reservation"]["id"]
        answer = await self.client.post(
            f"/v1/reservations/{reservation}/accept", headers=self.admin
        )
        assert answer.status == 200, await answer.text()

    async def accept(self, agent_id: str) -> Json:
        """Accept the caller's offer to `agent_id`; the redirect jambonz got for it."""
        before = len(self.fake.requests)
        await self.accept_offer(agent_id)
        async with asyncio.timeout(10):
            requests = await self.fake.wait_for_requests(before + 1)
        redirect: Json = requests[-1].body
        return redirect

    async def metric(self, line: str) -> bool:
        return line in await (await self.client.get("/metrics")).text()


@pytest.fixture
async def desk(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    jambonz: FakeJambonzApi,
    redis_client: aioredis.Redis,
) -> Jambonz:
    client = await aiohttp_client(create_app(configured(settings, jambonz.url)))
    token, _ = await client.app[SERVICES].auth.create_token("admin", "test")
    return Jambonz(client, jambonz, {"Authorization": f"Bearer {token}"})


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_the_caller_reaches_the_agent_who_accepts(desk: Jambonz) -> None:
    taken = await desk.post("/gateways/jambonz/status", NEW_CALL)
    assert taken.status == 204, await taken.text()
    # jambonz answers the caller for the hold: that is no agent taking the call
    answered = await desk.post("/gateways/jambonz/status", LIVE_CALL)
    assert answered.status == 204, await answered.text()
    assert (await desk.until(f"/v1/calls/{CALL_SID}", lambda c: True))["state"] == "queued"

    await desk.agent("ann")
    redirect = await desk.accept("ann")
    agent_dial = f"{PUBLIC}/gateways/jambonz/agent-dial?call={CALL_SID}"
    assert redirect == {"call_hook": {"url": agent_dial, "method": "POST"}}
    assert desk.fake.requests[-1].call_sid == CALL_SID
    queued_at = (await desk.until(f"/v1/calls/{CALL_SID}", lambda c: True))["queued_at"]

    verbs = await desk.verbs(path_of(agent_dial), LIVE_CALL)
    tag = {"callcenter_call_id": CALL_SID, "callcenter_agent_id": "ann"}
    dial_action = f"{PUBLIC}/gateways/jambonz/dial-action?call={CALL_SID}"
    assert verbs[0] == {"verb": "tag", "data": tag}
    assert verbs[1]["verb"] == "dial"
    assert verbs[1]["target"] == [{"type": "user", "name": "ann"}]
    assert verbs[1]["actionHook"] == {"url": dial_action, "method": "POST"}
    assert verbs[1]["timeout"] == 20

    # ann's phone is busy: the caller holds, in their old place; ann missed an offer
    busy = body_of("dial_action_busy.json", customerData=tag)
    assert await desk.verbs(path_of(dial_action), busy) == SILENT_HOLD
    call = await desk.until(f"/v1/calls/{CALL_SID}", lambda c: c["state"] != "connected")
    assert call["state"] in ("queued", "offered") and call["queued_at"] == queued_at
    ann = await desk.until("/v1/agents/ann", lambda a: a["missed_offers"] == 1)
    assert ann["activity"] == "idle"
    assert await desk.metric('callcenter_reservations_total{result="agent_leg_failed"} 1.0')
    again = await desk.verbs(path_of(dial_action), busy)  # redelivered: taken once
    assert again == SILENT_HOLD
    assert (await desk.until("/v1/agents/ann", lambda a: True))["missed_offers"] == 1

    # the next agent answers (ann steps away, so that it is bob); when the conversation
    # ends, so does the call
    away = {"presence": "away"}
    stepped = await desk.client.post("/v1/agents/ann/presence", json=away, headers=desk.admin)
    assert stepped.status == 200, await stepped.text()
    await desk.agent("bob")
    assert (await desk.accept("bob"))["call_hook"]["url"] == agent_dial
    verbs = await desk.verbs(path_of(agent_dial), LIVE_CALL)
    assert verbs[1]["target"] == [{"type": "user", "name": "bob"}]
    answered = body_of("dial_action_answered.json", customerData=verbs[0]["data"])
    assert await desk.verbs(path_of(dial_action), answered) == HANGUP
    ended = body_of("call_status_completed.json", call_sid=CALL_SID)
    assert (await desk.post("/gateways/jambonz/status", ended)).status == 204
    done = await desk.until(f"/v1/calls/{CALL_SID}", lambda c: c["state"] in ("wrap_up", "ended"))
    assert (done["agent_id"], done["outcome"]) == ("bob", "handled")


async def test_the_agents_own_leg_is_no_call(desk: Jambonz) -> None:
    assert (await desk.post("/gateways/jambonz/status", NEW_CALL)).status == 204
    leg = body_of("call_status_agent_leg.json")
    for status in ("trying", "ringing", "in-progress", "completed"):
        answer = await desk.post(
            "/gateways/jambonz/status", body_of("call_status_agent_leg.json", call_status=status)
        )
        assert answer.status == 204, await answer.text()
    # each webhook was handled before its answer: nothing is left to arrive
    leg_sid = json.loads(leg)["call_sid"]
    missing = await desk.client.get(f"/v1/calls/{leg_sid}", headers=desk.admin)
    assert missing.status == 404
    calls = await (await desk.client.get("/v1/calls", headers=desk.admin)).json()
    assert [c["id"] for c in calls["calls"]] == [CALL_SID]


HOOKS = ("agent-dial", "dial-action", "hold")


@pytest.mark.parametrize("hook", HOOKS)
async def test_an_unsigned_hook_is_forbidden_and_counted(desk: Jambonz, hook: str) -> None:
    assert (await desk.post("/gateways/jambonz/status", NEW_CALL)).status == 204
    path = f"/gateways/jambonz/{hook}?call={CALL_SID}"
    unsigned = await desk.post(path, LIVE_CALL, signed=False)
    assert unsigned.status == 403
    assert unsigned.content_type == "application/problem+json"
    assert "missing Jambonz-Signature" in (await unsigned.json())["detail"]
    stamp = int(time.time())
    forged = {SIGNATURE_HEADER: sign_jambonz("a guess", stamp, LIVE_CALL)}
    assert (await desk.client.post(path, data=LIVE_CALL, headers=forged)).status == 403
    failures = desk.client.app[METRICS].registry.get_sample_value(
        "callcenter_auth_failures_total", {"reason": "jambonz_signature"}
    )
    assert failures == 2


@pytest.mark.parametrize(
    ("hook", "body", "pointer"),
    [
        ("agent-dial", body_of("call_hook_new_call.json", call_sid=None), "/call_sid"),
        ("agent-dial", b"[]", ""),
        ("hold", body_of("call_hook_new_call.json", call_status="on-hold"), "/call_status"),
        (
            "dial-action",
            body_of("dial_action_busy.json", dial_call_status="x"),
            "/dial_call_status",
        ),
        (
            "dial-action",
            body_of("dial_action_busy.json", dial_sip_status="486"),
            "/dial_sip_status",
        ),
        ("dial-action", b"not json", ""),
    ],
)
async def test_a_malformed_body_is_422_naming_the_field(
    desk: Jambonz, hook: str, body: bytes, pointer: str
) -> None:
    problem = await desk.problem(f"/gateways/jambonz/{hook}?call={CALL_SID}", body, 422)
    assert problem.get("pointer", "") == pointer
    assert await desk.metric('callcenter_http_rejections_total{status="422"} 1.0')


@pytest.mark.parametrize("hook", ["agent-dial", "dial-action"])
async def test_the_call_must_be_named_known_and_the_bodys(desk: Jambonz, hook: str) -> None:
    body = LIVE_CALL if hook == "agent-dial" else body_of("dial_action_busy.json")
    path = f"/gateways/jambonz/{hook}"
    assert (await desk.problem(path, body, 422))["pointer"] == "/call"
    assert (await desk.problem(f"{path}?call={'x' * 129}", body, 422))["pointer"] == "/call"
    assert "does not exist" in (await desk.problem(f"{path}?call={CALL_SID}", body, 404))["detail"]
    other = "0b6f3c1e-52a4-4d8e-9f61-3c2a7b9e4d10"
    created = body_of("call_hook_new_call.json", call_sid=other)
    assert (await desk.post("/gateways/jambonz/status", created)).status == 204
    problem = await desk.problem(f"{path}?call={other}", body, 409)
    assert CALL_SID in problem["detail"] and other in problem["detail"]


async def test_the_dial_actions_tag_must_be_the_calls(desk: Jambonz) -> None:
    await desk.agent("ann")
    assert (await desk.post("/gateways/jambonz/status", NEW_CALL)).status == 204
    await desk.accept("ann")
    # the recorded body's tag names another call of ours
    body = body_of("dial_action_busy.json")
    path = f"/gateways/jambonz/dial-action?call={CALL_SID}"
    assert "0b6f3c1e" in (await desk.problem(path, body, 409))["detail"]
    assert (await desk.until("/v1/agents/ann", lambda a: True))["missed_offers"] == 0


async def test_a_caller_who_hung_up_while_the_agent_rang_is_no_missed_offer(
    desk: Jambonz,
) -> None:
    await desk.agent("ann")
    assert (await desk.post("/gateways/jambonz/status", NEW_CALL)).status == 204
    await desk.accept("ann")
    tag = {"callcenter_call_id": CALL_SID, "callcenter_agent_id": "ann"}
    gone = body_of("dial_action_no_answer.json", customerData=tag, call_status="completed")
    assert await desk.verbs(f"/gateways/jambonz/dial-action?call={CALL_SID}", gone) == HANGUP
    ann = await desk.until("/v1/agents/ann", lambda a: True)
    assert (ann["missed_offers"], ann["activity"]) == (0, "on_call")  # until the call ends


async def test_the_hold_loop_and_a_redirect_that_finds_no_agent(desk: Jambonz) -> None:
    # without ?call= the hold is the application's calling webhook: the call is recorded
    assert await desk.verbs("/gateways/jambonz/hold", NEW_CALL) == SILENT_HOLD
    call = await desk.until(f"/v1/calls/{CALL_SID}", lambda c: c["state"] == "queued")
    assert call["from"] == "+15083084809"
    assert await desk.verbs(f"/gateways/jambonz/hold?call={CALL_SID}", LIVE_CALL) == SILENT_HOLD
    # a redirect to the agent-dial hook for a call nobody holds: keep holding
    agent_dial = f"/gateways/jambonz/agent-dial?call={CALL_SID}"
    assert await desk.verbs(agent_dial, LIVE_CALL) == SILENT_HOLD
    ended = body_of("call_status_completed.json", call_sid=CALL_SID)
    assert (await desk.post("/gateways/jambonz/status", ended)).status == 204
    assert await desk.verbs(f"/gateways/jambonz/hold?call={CALL_SID}", LIVE_CALL) == HANGUP
    assert await desk.verbs(agent_dial, LIVE_CALL) == HANGUP


async def test_the_hold_plays_the_music_when_there_is_some(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    jambonz: FakeJambonzApi,
    redis_client: aioredis.Redis,
) -> None:
    music = "https://cdn.example.com/hold.mp3"
    chosen = configured(settings, jambonz.url, hold_music_url=music)
    desk = Jambonz(await aiohttp_client(create_app(chosen)), jambonz, {})
    assert await desk.verbs("/gateways/jambonz/hold", NEW_CALL) == [
        {"verb": "play", "url": music},
        {"verb": "redirect", "actionHook": {"url": HOLD_URL, "method": "POST"}},
    ]


async def test_an_agent_who_cannot_be_dialled_is_a_failed_leg(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    jambonz: FakeJambonzApi,
    redis_client: aioredis.Redis,
) -> None:
    # no API configured: the redirect is the operator's business, the dial ours
    chosen = configured(settings, None, jambonz_agent_dial_template="{agent_id}")
    client = await aiohttp_client(create_app(chosen))
    token, _ = await client.app[SERVICES].auth.create_token("admin", "test")
    desk = Jambonz(client, jambonz, {"Authorization": f"Bearer {token}"})
    await desk.agent("ann")
    assert (await desk.post("/gateways/jambonz/status", NEW_CALL)).status == 204
    await desk.accept_offer("ann")
    verbs = await desk.verbs(f"/gateways/jambonz/agent-dial?call={CALL_SID}", LIVE_CALL)
    assert verbs == SILENT_HOLD
    assert (await desk.until("/v1/agents/ann", lambda a: True))["missed_offers"] == 1
    assert jambonz.requests == []
