"""The customer's chat socket: a chat started with a name, email and phone is one task linked
to the customer's record; the customer's messages reach the agent's task and the agent's
replies reach the socket; a resumed session gets the history; bad tokens, bad messages,
floods and oversize messages are refused with a reason and counted; markup stays text."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from callcenter.web.close_codes import CLOSE_UNAUTHORIZED
from tests.conftest import AppClient, TokenFactory
from tests.web.test_routing_api import wait_for
from tests.web.test_tasks_api import Desk

Json = dict[str, Any]
XSS = "<script>alert(1)</script>"


async def frame(ws: ClientWebSocketResponse) -> Json:
    message = await ws.receive(timeout=5)
    assert message.type is WSMsgType.TEXT, message
    found: Json = json.loads(message.data)
    return found


async def until_frame(ws: ClientWebSocketResponse, kind: str) -> Json:
    for _ in range(20):
        found = await frame(ws)
        if found["type"] == kind:
            return found
    raise AssertionError(f"no {kind} frame")


async def test_a_chat_from_start_to_agent_and_back(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str], token_for: TokenFactory
) -> None:
    desk = Desk(client, admin, gateway)
    await desk.agent("ann", {"chat": 2})
    ann = await token_for("agent:ann")
    ws = await client.ws_connect("/ws/chat")
    start = {
        "type": "start",
        "name": XSS,
        "email": "pat@example.com",
        "phone": "+15551230000",
        "message": "Hi, my order is late",
    }
    await ws.send_json(start)
    session = await frame(ws)
    assert session["type"] == "session" and session["token"]
    history = await frame(ws)
    assert history["type"] == "history" and history["state"] in ("queued", "offered")
    assert [m["body"] for m in history["messages"]] == ["Hi, my order is late"]
    task = await desk.offered(session["task_id"])
    assert (task["caller_key"], task["attributes"]["name"]) == ("+15551230000", XSS)
    caller = await (await client.get("/v1/callers/pat@example.com", headers=admin)).json()
    assert caller["key"] == "+15551230000"  # the email leads to the same customer

    await desk.accept(task, ann)
    assert (await until_frame(ws, "state"))["agent"] is True
    reply = {"body": "Sorry! Checking now."}
    answer = await client.post(f"/v1/tasks/{task['id']}/messages", json=reply, headers=ann)
    assert answer.status == 201
    got = await until_frame(ws, "message")
    assert (got["message"]["author"], got["message"]["body"]) == ("agent", "Sorry! Checking now.")
    assert "sentiment" not in got["message"] and "agent_id" not in got["message"]

    await ws.send_json({"type": "message", "body": XSS})
    view = await wait_for(
        lambda: _json(client, f"/v1/tasks/{task['id']}", admin), lambda v: len(v["messages"]) == 3
    )
    assert view["messages"][2]["body"] == XSS  # stored as written, shown as text
    await ws.close()

    again = await client.ws_connect("/ws/chat")
    await again.send_json({"type": "resume", "token": session["token"]})
    resumed = await frame(again)
    assert resumed["type"] == "history" and resumed["agent"] is True
    assert [m["author"] for m in resumed["messages"]] == ["customer", "agent", "customer"]
    await again.send_json({"type": "leave"})
    seen = []
    while (closed := await again.receive(timeout=5)).type is WSMsgType.TEXT:
        seen.append(json.loads(closed.data))
    assert closed.type is WSMsgType.CLOSE
    assert all(f["type"] == "state" and f["state"] == "ended" for f in seen)
    ended = await _json(client, f"/v1/tasks/{task['id']}", admin)
    assert (ended["task"]["state"], ended["task"]["outcome"]) == ("ended", "handled")


async def test_bad_input_is_refused_with_a_reason_and_counted(client: AppClient) -> None:
    forged = await client.ws_connect("/ws/chat")
    await forged.send_json({"type": "resume", "token": "t-1.9999999999.nope"})
    closed = await forged.receive(timeout=5)
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, CLOSE_UNAUTHORIZED)
    assert "not a chat session token" in str(closed.extra)

    bad = await client.ws_connect("/ws/chat")
    await bad.send_json({"type": "start", "phone": "555-1234"})
    closed = await bad.receive(timeout=5)
    assert closed.type is WSMsgType.CLOSE and "phone" in str(closed.extra)

    ws = await client.ws_connect("/ws/chat")
    await ws.send_json({"type": "start", "message": "hello"})
    assert (await frame(ws))["type"] == "session"
    await frame(ws)  # history
    await ws.send_json({"type": "message", "body": "x" * 4001})
    assert "4000" in (await until_frame(ws, "error"))["reason"]
    await ws.send_json({"type": "shout"})
    assert (await until_frame(ws, "error"))["type"] == "error"
    for n in range(15):
        await ws.send_json({"type": "message", "body": f"flood {n}"})
    assert "slow down" in (await until_frame(ws, "error"))["reason"]
    metrics = await (await client.get("/metrics")).text()
    for reason in ("bad_token", "bad_start", "bad_message", "rate"):
        assert f'callcenter_chat_rejections_total{{reason="{reason}"}}' in metrics, reason

    for _ in range(5):  # five new chats a minute from one address; the first made one
        more = await client.ws_connect("/ws/chat")
        await more.send_json({"type": "start"})
        answer = await more.receive(timeout=5)
        if answer.type is WSMsgType.CLOSE:
            assert "too many new chats" in str(answer.extra)
            break
    else:
        raise AssertionError("new chats were never limited")


async def _json(client: AppClient, path: str, headers: dict[str, str]) -> Json:
    answer = await client.get(path, headers=headers)
    assert answer.status == 200, await answer.text()
    found: Json = await answer.json()
    return found
