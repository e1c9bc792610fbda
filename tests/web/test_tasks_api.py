"""Text tasks through the API: opened by a gateway, routed to an agent with room on the
channel, worked (messages both ways), resolved into the customer's history; capacity and
the cross-channel rule hold; bad input is refused naming the field."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.speech.sentiment import load_scorer
from callcenter.web.state import SERVICES
from tests.conftest import AppClient, TokenFactory
from tests.web.test_routing_api import wait_for

Json = dict[str, Any]


class Desk:
    """The API as a gateway, an admin and agents use it."""

    def __init__(self, client: AppClient, admin: dict[str, str], gateway: dict[str, str]):
        self.client = client
        self.admin = admin
        self.gateway = gateway

    async def agent(self, agent_id: str, capacity: dict[str, int]) -> None:
        body = {"name": agent_id, "skills": {}, "capacity": capacity}
        put = await self.client.put(f"/v1/agents/{agent_id}", json=body, headers=self.admin)
        assert put.status in (200, 201), await put.text()
        answer = await self.client.post(
            f"/v1/agents/{agent_id}/presence", json={"presence": "available"}, headers=self.admin
        )
        assert answer.status == 200, await answer.text()

    async def open(self, channel: str = "chat", **fields: Any) -> str:
        body = {"channel": channel, "from": "+15551230000", **fields}
        answer = await self.client.post("/v1/tasks", json=body, headers=self.gateway)
        assert answer.status == 201, await answer.text()
        created: Json = await answer.json()
        return str(created["task_id"])

    async def task(self, task_id: str) -> Json:
        answer = await self.client.get(f"/v1/tasks/{task_id}", headers=self.admin)
        assert answer.status == 200, await answer.text()
        found: Json = await answer.json()
        return found

    async def offered(self, task_id: str) -> Json:
        view = await wait_for(lambda: self.task(task_id), lambda v: v["task"]["state"] == "offered")
        return dict(view["task"])

    async def accept(self, task: Json, headers: dict[str, str]) -> None:
        reservation = task["reservation"]["id"]
        answer = await self.client.post(f"/v1/reservations/{reservation}/accept", headers=headers)
        assert answer.status == 200, await answer.text()


async def test_a_chat_is_routed_worked_and_resolved_into_the_history(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"chat": 2})
    ann = await token_for("agent:ann")
    task_id = await desk.open(body="Hello, my parcel never arrived", name="Pat")
    task = await desk.offered(task_id)
    assert (task["channel"], task["agent_id"]) == ("chat", "ann")
    agent = await (await client.get("/v1/agents/ann", headers=admin)).json()
    assert (agent["tasks"], agent["activity"]) == ({task_id: "chat"}, "idle")

    await desk.accept(task, ann)
    reply = await client.post(
        f"/v1/tasks/{task_id}/messages", json={"body": "Sorry! Let me check."}, headers=ann
    )
    assert reply.status == 201, await reply.text()
    again = await client.post(
        f"/v1/tasks/{task_id}/messages", json={"body": "It says delivered?"}, headers=gateway
    )
    assert again.status == 201
    view = await desk.task(task_id)
    assert [(m["author"], m["body"]) for m in view["messages"]] == [
        ("customer", "Hello, my parcel never arrived"),
        ("agent", "Sorry! Let me check."),
        ("customer", "It says delivered?"),
    ]
    first, reply = view["messages"][0], view["messages"][1]
    scorer = await asyncio.to_thread(load_scorer)
    scored = scorer.score(first["body"])  # the scorer's score and its own label
    assert (first["sentiment"], first["sentiment_label"]) == (
        round(scored.score, 3),
        str(scored.label),
    )
    assert "sentiment" not in reply and "sentiment_label" not in reply  # agents are not scored
    conversation = view["task"]["conversation"]
    assert (conversation["customer_messages"], conversation["agent_messages"]) == (2, 1)
    assert conversation["first_response_at"] is not None

    resolved = await client.post(
        f"/v1/tasks/{task_id}/resolve",
        json={"disposition": "resent", "notes": "new parcel sent"},
        headers=ann,
    )
    assert resolved.status == 200, await resolved.text()
    ended = await resolved.json()
    assert (ended["state"], ended["outcome"]) == ("ended", "handled")
    agent = await (await client.get("/v1/agents/ann", headers=admin)).json()
    assert agent["tasks"] == {}
    caller = await (await client.get("/v1/callers/+15551230000", headers=admin)).json()
    latest = caller["history"]["recent"][0]
    assert (latest["call_id"], latest["outcome"], latest["disposition"]) == (
        task_id,
        "handled",
        "resent",
    )
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_tasks_total{channel="chat",outcome="handled",queue="general"} 1.0' in (
        metrics
    )
    assert 'callcenter_first_response_seconds_count{channel="chat"} 1.0' in metrics
    # the survey after a chat counts as after a call (CSAT, NPS, CES by queue)
    survey = {"type": "survey.completed", "event_id": "s1", "call_id": task_id, "csat": 5}
    answer = await client.post("/v1/events", json=survey, headers=gateway)
    assert answer.status == 200, await answer.text()
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_survey_csat_count{queue="general"} 1.0' in metrics
    caller = await (await client.get("/v1/callers/+15551230000", headers=admin)).json()
    assert caller["history"]["last_survey"] == {"csat": 5}


async def test_an_agent_never_holds_more_than_its_capacity(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"chat": 2})
    ann = await token_for("agent:ann")
    first, second, third = [await desk.open(body=f"question {n}") for n in range(3)]
    offered = [await desk.offered(first), await desk.offered(second)]
    waiting = await desk.task(third)
    assert waiting["task"]["state"] == "queued"
    explained = await (await client.get(f"/v1/calls/{third}/routing", headers=admin)).json()
    verdicts = {v["agent_id"]: v["reason"] for v in explained["ready_agents"]}
    assert verdicts["ann"] == "chat capacity full (2/2)"
    metrics = await (await client.get("/metrics")).text()
    for line in (
        'callcenter_queue_tasks_waiting{channel="chat",queue="general"} 3.0',
        'callcenter_agent_tasks_held{channel="chat"} 2.0',
        'callcenter_agent_task_capacity{channel="chat"} 2.0',
    ):
        assert line in metrics.splitlines(), line
    # chats are not callers: the voice gauges do not count them
    assert 'callcenter_queue_calls_waiting{queue="general"} 3.0' not in metrics

    await desk.accept(offered[0], ann)
    done = await client.post(f"/v1/tasks/{first}/resolve", json={}, headers=ann)
    assert done.status == 200
    third_task = await desk.offered(third)
    assert third_task["agent_id"] == "ann"
    decision = await (await client.get(f"/v1/calls/{third}/routing", headers=admin)).json()
    assert decision["last_decision"]["channel"] == "chat"
    assert decision["last_decision"]["capacity"] == "chat 1/2"


async def test_a_voice_call_blocks_new_chats_and_a_chat_does_not_block_a_call(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"voice": 1, "chat": 3})
    chat = await desk.open(body="hi")
    await desk.offered(chat)
    event = {"type": "call.created", "event_id": "e1", "call_id": "v1", "from": "+15550001111"}
    created = await client.post("/v1/events", json=event, headers=gateway)
    assert created.status == 200
    call = await wait_for(
        lambda: _json(client, "/v1/calls/v1", admin), lambda c: c["state"] == "offered"
    )
    assert call["agent_id"] == "ann"  # the chat she holds does not keep the call from her
    later = await desk.open(body="another")
    explained = await wait_for(
        lambda: _json(client, f"/v1/calls/{later}/routing", admin),
        lambda e: any(v["agent_id"] == "ann" for v in e["ready_agents"]),
    )
    reasons = {v["agent_id"]: v["reason"] for v in explained["ready_agents"]}
    assert reasons["ann"] == "reserved: no chat during voice"
    assert (await desk.task(later))["task"]["state"] == "queued"


async def test_bad_task_input_is_refused_naming_the_field(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    cases = [
        ({"channel": "fax", "from": "x"}, "/channel"),
        ({"channel": "chat", "from": ""}, "/from"),
        ({"channel": "chat", "from": "x", "body": "   "}, "/body"),
        ({"channel": "chat", "from": "x", "body": "y" * 4001}, "/body"),
        ({"channel": "chat", "from": "x", "surprise": 1}, "/surprise"),
    ]
    for body, pointer in cases:
        answer = await client.post("/v1/tasks", json=body, headers=gateway)
        assert answer.status == 422, (body, await answer.text())
        problem = await answer.json()
        assert problem["pointer"] == pointer, problem
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"chat": 1})
    await desk.agent("bob", {"chat": 0})
    task_id = await desk.open(body="hello")
    await desk.offered(task_id)
    ann, bob = await token_for("agent:ann"), await token_for("agent:bob")
    early = await client.post(f"/v1/tasks/{task_id}/messages", json={"body": "hi"}, headers=ann)
    assert early.status == 409  # offered, not accepted yet
    other = await client.post(f"/v1/tasks/{task_id}/messages", json={"body": "hi"}, headers=bob)
    assert other.status == 403
    missing = await client.get("/v1/tasks/t-nothere", headers=admin)
    assert missing.status == 404


async def _json(client: AppClient, path: str, headers: dict[str, str]) -> Json:
    answer = await client.get(path, headers=headers)
    assert answer.status == 200, await answer.text()
    found: Json = await answer.json()
    return found


async def test_one_customer_record_across_channels_and_identities(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    """A CRM links an email to a number; a chat that gives a number and an email links
    them; contacts from any identity land in one history, and a chat after a handled call
    makes the call unresolved (first-contact resolution across channels)."""
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"voice": 1, "chat": 3, "email": 3})
    ann = await token_for("agent:ann")
    crm = {"name": "Pat", "identities": ["Pat@Example.com"]}
    put = await client.put("/v1/callers/+15551230000", json=crm, headers=admin)
    assert put.status == 200, await put.text()

    event = {"type": "call.created", "event_id": "e1", "call_id": "v1", "from": "+15551230000"}
    assert (await client.post("/v1/events", json=event, headers=gateway)).status == 200
    call = await wait_for(
        lambda: _json(client, "/v1/calls/v1", admin), lambda c: c["state"] == "offered"
    )
    await desk.accept(call, ann)
    for kind in ("call.ended",):
        ended = {"type": kind, "event_id": "e2", "call_id": "v1", "end_reason": "normal"}
        assert (await client.post("/v1/events", json=ended, headers=gateway)).status == 200
    done = await client.post("/v1/agents/ann/wrap-up/done", headers=ann)
    assert done.status == 200, await done.text()

    task_id = await desk.open("email", **{"from": "pat@example.com", "body": "About my call"})
    task = await desk.offered(task_id)
    assert task["caller_key"] == "+15551230000"  # the email is Pat's other identity
    await desk.accept(task, ann)
    assert (await client.post(f"/v1/tasks/{task_id}/resolve", json={}, headers=ann)).status == 200

    caller = await _json(client, "/v1/callers/pat@example.com", admin)
    recent = caller["history"]["recent"]
    assert [(c["channel"], c["call_id"]) for c in recent] == [("email", task_id), ("voice", "v1")]
    assert recent[1]["unresolved"] is True  # Pat had to write again about the call
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_unresolved_calls_total{queue="general"} 1.0' in metrics

    fields: dict[str, Any] = {"from": "+15550009999", "body": "hi"}
    chat = await desk.open(identities=["sam@example.com"], **fields)
    assert (await desk.task(chat))["task"]["caller_key"] == "+15550009999"
    sam = await _json(client, "/v1/callers/sam@example.com", admin)
    assert sam["profile"]["identities"] == ["sam@example.com"]
    assert sam["key"] == "+15550009999"


async def test_a_call_from_a_linked_number_lands_on_the_customers_record(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    """A chat from an email that gives a phone number makes the number another identity of
    the email's record: a later call from that number is keyed by the record and joins its
    history; once the CRM removes the number, it leads nowhere."""
    desk = Desk(client, admin, gateway)
    fields: dict[str, Any] = {"from": "lee@example.com", "body": "hello", "name": "Lee"}
    chat = await desk.open(identities=["+1 555 000 1111"], **fields)
    assert (await client.post(f"/v1/tasks/{chat}/resolve", json={}, headers=admin)).status == 200

    event = {
        "type": "call.created",
        "event_id": "l1",
        "call_id": "lee-call",
        "from": "+15550001111",
    }
    assert (await client.post("/v1/events", json=event, headers=gateway)).status == 200
    call = await _json(client, "/v1/calls/lee-call", admin)
    assert call["caller_key"] == "lee@example.com"
    ended = {"type": "call.ended", "event_id": "l2", "call_id": "lee-call"}
    assert (await client.post("/v1/events", json=ended, headers=gateway)).status == 200
    lee = await _json(client, "/v1/callers/+15550001111", admin)
    assert lee["key"] == "lee@example.com"
    recent = [(c["channel"], c["call_id"]) for c in lee["history"]["recent"]]
    assert recent == [("voice", "lee-call"), ("chat", chat)]

    # the CRM drops the number from Lee's record: it no longer leads there
    crm = {"name": "Lee", "identities": []}
    put = await client.put("/v1/callers/lee@example.com", json=crm, headers=admin)
    assert put.status == 200, await put.text()
    assert (await client.get("/v1/callers/+15550001111", headers=admin)).status == 404


async def test_the_queue_outlook_shows_each_text_channel_apart_from_callers(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"chat": 2})
    ann = await token_for("agent:ann")
    first, second, third = [await desk.open(body=f"question {n}") for n in range(3)]
    await desk.offered(first)
    await desk.offered(second)
    general = await _json(client, "/v1/queues/general", admin)
    assert general["calls_waiting"] == 0  # chats do not wait for the phones
    channels = {view["channel"]: view for view in general["channels"]}
    chat = channels["chat"]
    assert (chat["waiting"], chat["held"], chat["capacity"]) == (1, 2, 2)
    assert (channels["sms"]["waiting"], channels["sms"]["capacity"]) == (0, 3)  # the default
    assert chat["oldest_wait_seconds"] >= 0

    await desk.accept(await desk.offered(first), ann)
    reply = {"body": "here"}
    assert (await client.post(f"/v1/tasks/{first}/messages", json=reply, headers=ann)).status == 201
    answered = await wait_for(
        lambda: _json(client, "/v1/queues/general", admin),
        lambda q: q["channels"][0]["first_response_seconds"] is not None,
    )
    assert answered["channels"][0]["channel"] == "chat"
    assert answered["channels"][0]["first_response_seconds"] >= 0
    assert third


async def test_a_queue_may_let_agents_take_chats_during_a_call(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(
        "queues:\n  general: {text_during_voice: true}\nrules:\n  - name: default\n"
    )
    client = await aiohttp_client(create_app(dataclasses.replace(settings, rules_dir=rules)))
    auth = client.app[SERVICES].auth
    admin = {"Authorization": f"Bearer {(await auth.create_token('admin', 't'))[0]}"}
    desk = Desk(client, admin, admin)
    await desk.agent("ann", {"voice": 1, "chat": 1})
    event = {"type": "call.created", "event_id": "e1", "call_id": "v1", "from": "+15550001111"}
    assert (await client.post("/v1/events", json=event, headers=admin)).status == 200
    await wait_for(lambda: _json(client, "/v1/calls/v1", admin), lambda c: c["state"] == "offered")
    chat = await desk.open(body="hi")
    task = await desk.offered(chat)  # ann is ringing for the call, and still gets the chat
    assert task["agent_id"] == "ann"
    agent = await _json(client, "/v1/agents/ann", admin)
    assert (agent["activity"], agent["call_id"], agent["tasks"]) == (
        "reserved",
        "v1",
        {chat: "chat"},
    )
