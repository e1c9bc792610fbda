"""SMS end to end through Twilio Messaging: incoming SMS webhooks (signed as Twilio's own
RequestValidator signs them) open one conversation per customer number, routed to an agent
with SMS capacity; the agent's replies go out through a loopback server speaking Twilio's
Messages API; a redelivered MessageSid is taken once; after the agent resolves it, the
customer's next SMS opens a new task; bad input is refused naming the field."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.server_command import free_port
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.gateways.twilio_messages_fake import FakeTwilioMessages
from tests.polling import eventually

ACCOUNT = "AC3f1f2a5b8c9d0e1f2a3b4c5d6e7f8a9b"
TOKEN = "sms-flow-auth-token"
CUSTOMER = "+15551230000"
OUR_NUMBER = "+14155550100"
Json = dict[str, object]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioMessages]:
    async with FakeTwilioMessages(ACCOUNT, TOKEN) as server:
        yield server


class Phone:
    """The customer's phone (through Twilio's webhook) and the admin's and agent's API."""

    def __init__(self, client: AppClient, headers: dict[str, dict[str, str]]) -> None:
        self.client = client
        self.headers = headers
        self.sent = 0

    async def text(self, body: str, *, sid: str | None = None, expect: int = 200) -> str:
        self.sent += 1
        form = {
            "MessageSid": sid or f"SM{self.sent:032x}",
            "AccountSid": ACCOUNT,
            "From": CUSTOMER,
            "To": OUR_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        return await self.post("/gateways/twilio/sms", form, expect)

    async def post(self, path: str, form: dict[str, str], expect: int) -> str:
        url = str(self.client.make_url(path))
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        answer = await self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        text = await answer.text()
        assert answer.status == expect, text
        return text

    async def get(self, path: str) -> dict[str, object]:
        answer = await self.client.get(path, headers=self.headers["admin"])
        assert answer.status == 200, await answer.text()
        found: dict[str, object] = await answer.json()
        return found


@pytest.fixture
async def phone(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    fake: FakeTwilioMessages,
) -> Phone:
    port = free_port()
    configured = dataclasses.replace(
        settings,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        twilio_api_url=fake.url,
        public_url=f"http://127.0.0.1:{port}",
    )
    client = await aiohttp_client(create_app(configured), server_kwargs={"port": port})
    auth = client.app[SERVICES].auth
    admin, _ = await auth.create_token("admin", "t")
    ann, _ = await auth.create_token("agent:ann", "t")
    headers = {
        "admin": {"Authorization": f"Bearer {admin}"},
        "ann": {"Authorization": f"Bearer {ann}"},
    }
    body = {"name": "Ann", "skills": {}, "capacity": {"sms": 2}}
    assert (await client.put("/v1/agents/ann", json=body, headers=headers["admin"])).status == 201
    presence = {"presence": "available"}
    answer = await client.post("/v1/agents/ann/presence", json=presence, headers=headers["admin"])
    assert answer.status == 200
    return Phone(client, headers)


async def _held_task(phone: Phone) -> str:
    async def held() -> bool:
        agent = await phone.get("/v1/agents/ann")
        return bool(agent["tasks"])

    await eventually(held)
    agent = await phone.get("/v1/agents/ann")
    tasks = agent["tasks"]
    assert isinstance(tasks, dict) and list(tasks.values()) == ["sms"]
    return str(next(iter(tasks)))


async def test_an_sms_conversation_is_worked_and_replied_to_through_twilio(
    phone: Phone, fake: FakeTwilioMessages
) -> None:
    twiml = await phone.text("Hi, is my order shipped?")
    assert twiml.endswith("<Response/>")
    task_id = await _held_task(phone)
    view = await phone.get(f"/v1/tasks/{task_id}")
    task = view["task"]
    assert isinstance(task, dict) and task["state"] == "offered"
    reservation = task["reservation"]["id"]
    ann = phone.headers["ann"]
    accepted = await phone.client.post(f"/v1/reservations/{reservation}/accept", headers=ann)
    assert accepted.status == 200
    await phone.text("Order 1234")  # the same number: the same conversation
    await phone.text("Order 1234", sid="SM" + "1" * 32)
    await phone.text("Order 1234", sid="SM" + "1" * 32)  # Twilio redelivers: taken once

    reply = await phone.client.post(
        f"/v1/tasks/{task_id}/messages", json={"body": "Yes, it left today."}, headers=ann
    )
    assert reply.status == 201, await reply.text()
    assert len(fake.requests) == 1
    sent = fake.requests[0].fields
    assert (sent["To"], sent["From"], sent["Body"]) == (CUSTOMER, OUR_NUMBER, "Yes, it left today.")
    assert sent["StatusCallback"] == str(phone.client.make_url("/gateways/twilio/sms-status"))
    messages = (await phone.get(f"/v1/tasks/{task_id}/messages"))["messages"]
    assert isinstance(messages, list)
    assert [(m["author"], m["body"]) for m in messages] == [
        ("customer", "Hi, is my order shipped?"),
        ("customer", "Order 1234"),
        ("customer", "Order 1234"),
        ("agent", "Yes, it left today."),
    ]

    status = {"MessageSid": fake.created[0]["sid"], "MessageStatus": "delivered", "To": CUSTOMER}
    await phone.post("/gateways/twilio/sms-status", {"AccountSid": ACCOUNT, **status}, 204)
    metrics = await (await phone.client.get("/metrics")).text()
    assert 'callcenter_sms_status_total{status="delivered"} 1.0' in metrics

    done = await phone.client.post(f"/v1/tasks/{task_id}/resolve", json={}, headers=ann)
    assert done.status == 200
    await phone.text("One more thing")  # a resolved conversation stays closed: a new task

    async def new_task() -> bool:
        agent = await phone.get("/v1/agents/ann")
        tasks = agent["tasks"]
        return isinstance(tasks, dict) and bool(tasks) and task_id not in tasks

    await eventually(new_task)


async def test_refused_replies_store_nothing_and_bad_webhooks_are_refused(
    phone: Phone, fake: FakeTwilioMessages
) -> None:
    await phone.text("hello")
    task_id = await _held_task(phone)
    task = (await phone.get(f"/v1/tasks/{task_id}"))["task"]
    assert isinstance(task, dict)
    ann = phone.headers["ann"]
    reservation = task["reservation"]["id"]
    assert (
        await phone.client.post(f"/v1/reservations/{reservation}/accept", headers=ann)
    ).status == 200
    fake.fail_next(1, 400)
    refused = await phone.client.post(
        f"/v1/tasks/{task_id}/messages", json={"body": "hi there"}, headers=ann
    )
    assert refused.status == 502, await refused.text()
    assert "Twilio refused it" in (await refused.json())["detail"]
    messages = (await phone.get(f"/v1/tasks/{task_id}/messages"))["messages"]
    assert isinstance(messages, list) and [m["author"] for m in messages] == ["customer"]

    forged = await phone.client.post(
        "/gateways/twilio/sms",
        data={"MessageSid": "SM" + "2" * 32, "From": CUSTOMER, "To": OUR_NUMBER, "Body": "x"},
        headers={"X-Twilio-Signature": "bogus"},
    )
    assert forged.status == 403
    missing = await phone.post(
        "/gateways/twilio/sms", {"MessageSid": "SM" + "3" * 32, "To": OUR_NUMBER, "Body": "x"}, 422
    )
    assert '"pointer":"/From"' in missing.replace(" ", "")


async def test_a_quiet_conversation_is_over_and_the_next_sms_opens_a_new_one(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    fake: FakeTwilioMessages,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(
        "queues:\n  general: {conversation_idle_seconds: 1}\nrules:\n  - name: default\n"
    )
    port = free_port()
    configured = dataclasses.replace(
        settings,
        rules_dir=rules,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        twilio_api_url=fake.url,
        public_url=f"http://127.0.0.1:{port}",
    )
    client = await aiohttp_client(create_app(configured), server_kwargs={"port": port})
    admin, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    phone = Phone(client, {"admin": {"Authorization": f"Bearer {admin}"}})
    await phone.text("first")
    first = await _only_task(phone)
    await asyncio.sleep(1.2)  # quiet past the queue's conversation_idle_seconds
    await phone.text("second")
    ended = (await phone.get(f"/v1/tasks/{first}"))["task"]
    assert isinstance(ended, dict)
    assert (ended["state"], ended["end_reason"], ended["outcome"]) == ("ended", "idle", "abandoned")
    waiting = await phone.get("/v1/calls?state=queued")
    calls = waiting["calls"]
    assert isinstance(calls, list)
    assert [c["channel"] for c in calls] == ["sms"] and calls[0]["id"] != first


async def _only_task(phone: Phone) -> str:
    waiting = await phone.get("/v1/calls?state=queued")
    calls = waiting["calls"]
    assert isinstance(calls, list) and len(calls) == 1
    return str(calls[0]["id"])
