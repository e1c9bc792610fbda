"""The web chat as a customer's program uses it, for the chat tests: open a session, follow
the chat socket, read what it says; the settings those tests run with."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from callcenter.settings import Secret, Settings
from callcenter.web.state import METRICS
from tests.conftest import AppClient

Json = dict[str, Any]
SECRET = "the chat secret of these tests"
PER_MINUTE = 5
XSS = "<img src=x onerror=alert(1)>"


def chat_settings(settings: Settings) -> Settings:
    """A known chat key (to forge expired tokens with) and a small new-chat limit."""
    return dataclasses.replace(
        settings, chat_secret=Secret(SECRET), chat_sessions_per_minute=PER_MINUTE
    )


async def open_chat(client: AppClient, **fields: Any) -> Json:
    answer = await client.post("/v1/chat/sessions", json=fields)
    assert answer.status == 201, await answer.text()
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    session: Json = await answer.json()
    return session


async def chat_socket(client: AppClient, token: str) -> ClientWebSocketResponse:
    ws = await client.ws_connect("/ws/chat")
    await ws.send_json({"type": "auth", "token": token})
    return ws


async def frame(ws: ClientWebSocketResponse) -> Json:
    message = await ws.receive(timeout=5)
    assert message.type is WSMsgType.TEXT, message
    found: Json = json.loads(message.data)
    return found


async def frames_until(ws: ClientWebSocketResponse, kind: str) -> list[Json]:
    """Frames up to and including the first of `kind`."""
    seen: list[Json] = []
    for _ in range(50):
        seen.append(await frame(ws))
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} frame in {seen}")


async def refused(ws: ClientWebSocketResponse) -> tuple[str, int, str]:
    """The error frame's reason, then the close code and reason."""
    error = await frame(ws)
    assert error["type"] == "error", error
    closed = await ws.receive(timeout=5)
    assert closed.type is WSMsgType.CLOSE, closed
    return str(error["reason"]), int(closed.data), str(closed.extra)


def rejections(client: AppClient, reason: str) -> float:
    value = client.app[METRICS].registry.get_sample_value(
        "callcenter_chat_rejections_total", {"reason": reason}
    )
    return value or 0.0


async def task_view(client: AppClient, task_id: str, admin: dict[str, str]) -> Json:
    answer = await client.get(f"/v1/tasks/{task_id}", headers=admin)
    assert answer.status == 200, await answer.text()
    found: Json = await answer.json()
    return found


async def add_agent(client: AppClient, admin: dict[str, str], agent_id: str, name: str) -> None:
    body = {"name": name, "skills": {}, "capacity": {"voice": 0, "chat": 3}}
    assert (await client.put(f"/v1/agents/{agent_id}", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    answer = await client.post(f"/v1/agents/{agent_id}/presence", json=presence, headers=admin)
    assert answer.status == 200


async def drain(ws: ClientWebSocketResponse, quiet: float = 0.5) -> list[Json]:
    """Every frame until none came for `quiet` seconds."""
    found: list[Json] = []
    while True:
        try:
            message = await ws.receive(timeout=quiet)
        except TimeoutError:
            return found
        assert message.type is WSMsgType.TEXT, message
        found.append(json.loads(message.data))
