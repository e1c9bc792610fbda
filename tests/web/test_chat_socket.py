"""The customer's chat socket (`/ws/chat`) against the real app and Redis: messages, the
chat's state and typing both ways (the customer's markup stays text), the history on every
connect, leaving, a chat across two instances with the key they share, and oversize frames
and messages, floods and bad frames answered with a reason and counted."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientWebSocketResponse, WSMsgType

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.web.state import SERVICES
from tests.conftest import AppClient, TokenFactory
from tests.web.chat_client import (
    XSS,
    Json,
    add_agent,
    chat_settings,
    chat_socket,
    drain,
    frame,
    frames_until,
    open_chat,
    rejections,
    task_view,
)
from tests.web.test_live_sockets import connect, until
from tests.web.test_routing_api import wait_for
from tests.web.test_tasks_api import Desk


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return chat_settings(settings)


@dataclasses.dataclass
class Chat:
    """A chat Ann has joined: its task, the customer's socket and session, Ann's desk."""

    task_id: str
    token: str
    ws: ClientWebSocketResponse
    desk: ClientWebSocketResponse
    ann: dict[str, str]


async def joined_chat(client: AppClient, admin: dict[str, str], token_for: TokenFactory) -> Chat:
    """A customer opens a chat, Ann (on her desk's socket) accepts it; the customer's socket
    had the history, then the news that Ann joined."""
    await add_agent(client, admin, "ann", "Ann")
    ann = await token_for("agent:ann")
    desk = await connect(client, "/ws/agent", ann)
    await until(desk, lambda m: m["type"] == "snapshot")
    session = await open_chat(client, message="Hi, my order is late")
    ws = await chat_socket(client, session["token"])
    history = await frame(ws)
    assert (history["type"], history["agent"]) == ("history", None)
    assert [m["body"] for m in history["messages"]] == ["Hi, my order is late"]
    offer = await until(desk, lambda m: m["type"] == "route.offered")
    accept = f"/v1/reservations/{offer['data']['reservation']['id']}/accept"
    assert (await client.post(accept, headers=ann)).status == 200
    states = [f for f in await frames_until_joined(ws) if f["type"] == "state"]
    assert states[-1] == {"type": "state", "state": "connected", "agent": "Ann"}
    return Chat(session["task_id"], session["token"], ws, desk, ann)


async def frames_until_joined(ws: ClientWebSocketResponse) -> list[Json]:
    seen: list[Json] = []
    while not seen or seen[-1].get("state") != "connected":
        seen.extend(await frames_until(ws, "state"))
    return seen


async def test_messages_and_typing_both_ways(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    chat = await joined_chat(client, admin, token_for)
    await chat.ws.send_json({"type": "message", "body": XSS})
    echoed = (await frames_until(chat.ws, "message"))[-1]["message"]
    assert (echoed["author"], echoed["body"]) == ("customer", XSS)  # text, as written
    seen = await until(chat.desk, lambda m: m["type"] == "task.message")
    assert (seen["call_id"], seen["agent_id"], seen["data"]["body"]) == (chat.task_id, "ann", XSS)
    assert (await task_view(client, chat.task_id, admin))["messages"][-1]["body"] == XSS
    await chat.ws.send_json({"type": "typing"})
    typed = await until(chat.desk, lambda m: m["type"] == "task.typing")
    assert (typed["call_id"], typed["data"]) == (chat.task_id, {"author": "customer"})

    reply = f"/v1/tasks/{chat.task_id}/messages"
    sent = await client.post(reply, json={"body": "Checking now."}, headers=chat.ann)
    assert sent.status == 201
    got = await frames_until(chat.ws, "message")
    assert [f["type"] for f in got] == ["message"]  # the customer's own typing stays away
    assert got[-1]["message"].keys() == {"id", "at", "author", "body"}  # no agent id, no score
    assert (got[-1]["message"]["author"], got[-1]["message"]["body"]) == ("agent", "Checking now.")
    for _ in range(2):  # twice in a second: announced once
        typing = await client.post(f"/v1/tasks/{chat.task_id}/typing", headers=chat.ann)
        assert typing.status == 204
    sent = await client.post(reply, json={"body": "It ships today."}, headers=chat.ann)
    assert sent.status == 201
    assert [f["type"] for f in await frames_until(chat.ws, "message")] == ["typing", "message"]


async def test_a_reconnect_gets_the_history_and_a_resolved_chat_closes(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    chat = await joined_chat(client, admin, token_for)
    await chat.ws.send_json({"type": "message", "body": XSS})
    await frames_until(chat.ws, "message")
    reply = {"body": "Checking now."}
    sent = await client.post(f"/v1/tasks/{chat.task_id}/messages", json=reply, headers=chat.ann)
    assert sent.status == 201
    await chat.ws.close()

    again = await chat_socket(client, chat.token)
    resumed = await frame(again)
    assert (resumed["type"], resumed["state"], resumed["agent"]) == ("history", "connected", "Ann")
    assert [(m["author"], m["body"]) for m in resumed["messages"]] == [
        ("customer", "Hi, my order is late"),
        ("customer", XSS),
        ("agent", "Checking now."),
    ]
    resolve = f"/v1/tasks/{chat.task_id}/resolve"
    assert (await client.post(resolve, json={}, headers=chat.ann)).status == 200
    closed = (await frames_until(again, "state"))[-1]
    assert (closed["state"], closed["agent"]) == ("ended", None)
    await again.send_json({"type": "message", "body": "one more thing"})
    error = (await frames_until(again, "error"))[-1]
    assert error["reason"] == f"task {chat.task_id} is ended"
    typing = await client.post(f"/v1/tasks/{chat.task_id}/typing", headers=chat.ann)
    assert typing.status == 409


async def test_a_customer_who_leaves_ends_the_chat(
    client: AppClient, admin: dict[str, str]
) -> None:
    session = await open_chat(client, message="never mind")
    ws = await chat_socket(client, session["token"])
    assert (await frame(ws))["type"] == "history"
    await ws.send_json({"type": "leave"})
    while (message := await ws.receive(timeout=5)).type is WSMsgType.TEXT:
        pass
    assert (message.type, message.data, message.extra) == (
        WSMsgType.CLOSE,
        1000,
        "you left the chat",
    )
    ended = (await task_view(client, session["task_id"], admin))["task"]
    assert (ended["state"], ended["outcome"]) == ("ended", "abandoned")


async def test_oversize_floods_and_bad_frames_get_a_reason_and_are_counted(
    client: AppClient, admin: dict[str, str]
) -> None:
    session = await open_chat(client)
    ws = await chat_socket(client, session["token"])
    assert (await frame(ws))["type"] == "history"
    await ws.send_json({"type": "message", "body": "x" * 4001})
    error = (await frames_until(ws, "error"))[-1]
    assert error["reason"] == "a message is at most 4000 characters (this one has 4001)"
    await ws.send_json({"type": "message", "body": "x" * 40_000})
    assert (await frames_until(ws, "error"))[-1]["reason"] == "a frame is at most 32768 characters"
    await ws.send_json({"type": "shout"})
    assert "not a chat message" in (await frames_until(ws, "error"))[-1]["reason"]
    await ws.send_bytes(b"\x00\x01")
    assert "JSON text" in (await frames_until(ws, "error"))[-1]["reason"]
    for n in range(15):
        await ws.send_json({"type": "message", "body": f"flood {n}"})
    errors = [f for f in await drain(ws) if f["type"] == "error"]
    assert errors and all(f["reason"] == "slow down: at most 5 messages a second" for f in errors)
    await asyncio.sleep(0.5)
    await ws.send_json({"type": "message", "body": "still here"})
    assert (await frames_until(ws, "message"))[-1]["message"]["body"] == "still here"
    stored = (await task_view(client, session["task_id"], admin))["messages"]
    assert len(stored) == 15 - len(errors) + 1  # every message taken is stored, no other
    for _ in range(40):
        await ws.send_json({"type": "typing"})
    while (closed := await ws.receive(timeout=5)).type is WSMsgType.TEXT:
        pass
    assert (closed.data, closed.extra) == (1008, "too many messages")

    huge = await chat_socket(client, session["token"])
    assert (await frame(huge))["type"] == "history"
    await huge.send_str("x" * 200_000)
    closed = await huge.receive(timeout=5)
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, 1009)
    for reason, count in {
        "too_long": 1,
        "too_big": 2,
        "bad_message": 2,
        "rate": len(errors),
        "flood": 1,
    }.items():
        assert rejections(client, reason) >= count, reason
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_chat_rejections_total{reason="rate"}' in metrics


async def test_a_chat_across_two_instances_with_the_key_they_share(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    shared = dataclasses.replace(settings, chat_secret=Secret(""))  # made once, in Redis
    one = await aiohttp_client(create_app(shared))
    other = await aiohttp_client(create_app(shared))
    assert await redis_client.get("cc:secret:chat") is not None
    auth = one.app[SERVICES].auth
    admin = {"Authorization": f"Bearer {(await auth.create_token('admin', 't'))[0]}"}
    ann = {"Authorization": f"Bearer {(await auth.create_token('agent:ann', 't'))[0]}"}
    desk = Desk(one, admin, admin)
    await add_agent(one, admin, "ann", "Ann")

    session = await open_chat(one, phone="+15557654321", message="hello from A")
    ws = await chat_socket(other, session["token"])  # B checks what A signed
    assert (await frame(ws))["type"] == "history"
    task = await desk.offered(session["task_id"])
    await desk.accept(task, ann)
    reply = f"/v1/tasks/{task['id']}/messages"
    assert (await one.post(reply, json={"body": "hello from A's agent"}, headers=ann)).status == 201
    got = (await frames_until(ws, "message"))[-1]["message"]
    assert (got["author"], got["body"]) == ("agent", "hello from A's agent")
    assert (await one.post(f"/v1/tasks/{task['id']}/typing", headers=ann)).status == 204
    await frames_until(ws, "typing")

    await ws.send_json({"type": "message", "body": "written on B"})
    view = await wait_for(
        lambda: task_view(one, task["id"], admin), lambda v: len(v["messages"]) == 3
    )
    assert view["messages"][-1]["body"] == "written on B"
