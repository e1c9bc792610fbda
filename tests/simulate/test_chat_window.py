"""The simulator's chat window against the app (real Redis): it opens a chat as the widget
does, follows it, gets the agent's replies even across a socket the server dropped (it
reconnects with its token and fills the gap from the history), has its messages echoed,
is told when its chat is over, and leaves over the socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from callcenter.settings import Settings
from callcenter.simulate.api import ServerApi
from callcenter.simulate.chat_window import ChatWindow
from callcenter.web.state import LIVE_SOCKETS
from tests.conftest import AppClient, TokenFactory
from tests.web.chat_client import add_agent, chat_settings, task_view
from tests.web.test_live_sockets import connect, until


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return chat_settings(settings)


async def eventually(ready: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not ready():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


async def taken_by_ann(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> tuple[ChatWindow, dict[str, str]]:
    """A chat window opened, and Ann accepted its chat."""
    await add_agent(client, admin, "ann", "Ann")
    ann = await token_for("agent:ann")
    desk = await connect(client, "/ws/agent", ann)
    await until(desk, lambda m: m["type"] == "snapshot")
    api = ServerApi(client.session, str(client.make_url("")), token="not used by a customer")
    window = ChatWindow(api, clock=asyncio.get_running_loop().time, changed=lambda: None)
    await window.open({"name": "Pat", "message": "Hi, my order is late"})
    offer = await until(desk, lambda m: m["type"] == "route.offered")
    assert offer["data"]["call"]["id"] == window.task_id
    accept = f"/v1/reservations/{offer['data']['reservation']['id']}/accept"
    assert (await client.post(accept, headers=ann)).status == 200
    await desk.close()
    return window, ann


async def test_replies_reach_the_window_across_a_dropped_socket(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    window, ann = await taken_by_ann(client, admin, token_for)
    assert await window.write("Order 1234") is None  # echoed: taken
    sockets = client.app[LIVE_SOCKETS]
    for socket in tuple(sockets):  # the server drops every socket
        await socket.close(code=1012, message=b"restarting")
    reply = {"body": "Found it, it ships today"}
    path = f"/v1/tasks/{window.task_id}/messages"
    assert (await client.post(path, json=reply, headers=ann)).status == 201
    await eventually(lambda: len(window.replies_seen) == 1)
    assert not window.ended
    assert await window.write("Thanks!") is None  # on the new socket
    view = await task_view(client, window.task_id, admin)
    bodies = [m["body"] for m in view["messages"]]
    assert bodies == ["Hi, my order is late", "Order 1234", reply["body"], "Thanks!"]
    assert await window.leave() is True
    view = await task_view(client, window.task_id, admin)
    assert (view["task"]["state"], view["task"]["outcome"]) == ("ended", "handled")
    await window.close()


async def test_a_resolved_chat_ends_the_window_and_refuses_later_messages(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    window, ann = await taken_by_ann(client, admin, token_for)
    path = f"/v1/tasks/{window.task_id}/resolve"
    assert (await client.post(path, json={}, headers=ann)).status == 200
    await eventually(lambda: window.saw_end)
    assert await window.write("one more thing") is not None
    assert await window.leave() is False  # it was over already
    view = await task_view(client, window.task_id, admin)
    assert [m["body"] for m in view["messages"]] == ["Hi, my order is late"]
    await window.close()
