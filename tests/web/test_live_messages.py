"""What the live sockets send is what the OpenAPI document lists for them, and the pages
handle every kind of bus event there is."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import msgspec

from callcenter.services.bus import tag_of
from callcenter.services.live_events import LIVE_EVENT_TYPES
from callcenter.web.handlers.live_protocol import AGENT_MESSAGES, WALLBOARD_MESSAGES
from callcenter.web.routes import OPERATIONS
from tests.conftest import AppClient, TokenFactory
from tests.web.test_live_sockets import connect, created, post, receive, until
from tests.web.test_openapi import document


def _reader(server: tuple[Any, ...]) -> Any:
    """A strict reader of one server message by the documented types: the snapshot by its
    `type`, everything else as the tagged union."""
    snapshot, *tagged = server
    union = msgspec.json.Decoder(tagged[0] if len(tagged) == 1 else _union(tagged))
    first = msgspec.json.Decoder(snapshot)

    def read(message: dict[str, Any]) -> Any:
        raw = json.dumps(message)
        return first.decode(raw) if message["type"] == "snapshot" else union.decode(raw)

    return read


def _union(kinds: list[Any]) -> Any:
    union = kinds[0]
    for kind in kinds[1:]:
        union = union | kind
    return union


async def test_the_sockets_document_their_messages(client: AppClient) -> None:
    doc = await document(client)
    sockets: list[tuple[str, tuple[tuple[Any, ...], tuple[Any, ...]]]] = [
        ("/ws/wallboard", WALLBOARD_MESSAGES),
        ("/ws/agent", AGENT_MESSAGES),
    ]
    for path, (client_kinds, server_kinds) in sockets:
        listed = doc["paths"][path]["get"]["x-websocket-messages"]
        names = {ref["$ref"].rsplit("/", 1)[1] for ref in listed["server"]["oneOf"]}
        assert names == {kind.__name__ for kind in server_kinds}
        asked = {ref["$ref"].rsplit("/", 1)[1] for ref in listed["client"]["oneOf"]}
        assert asked == {kind.__name__ for kind in client_kinds} >= {"Auth", "Ping"}
        for name in names:
            assert name in doc["components"]["schemas"], name
    # every operation that is a socket of the live pages lists its messages
    live = [op for op in OPERATIONS if op.path.startswith("/ws/")]
    assert live and all(op.messages is not None for op in live)


async def test_what_a_wallboard_and_an_agent_receive_reads_as_the_documented_types(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    board = await connect(client, "/ws/wallboard", await token_for("supervisor"))
    desk = await connect(client, "/ws/agent", await token_for("agent:ann"))
    read_board = _reader(WALLBOARD_MESSAGES[1])
    read_desk = _reader(AGENT_MESSAGES[1])
    read_board(await receive(board))
    read_desk(await receive(desk))
    await client.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=admin)
    await post(client, admin, created("m1"))
    seen: set[str] = set()

    def board_saw(message: dict[str, Any]) -> bool:
        read_board(message)
        seen.add(message["type"])
        return bool(message["type"] == "route.offered")

    await until(board, board_saw)
    assert {"agent.updated", "call.updated", "route.offered"} <= seen
    offer = await until(desk, lambda m: read_desk(m) is not None and m["type"] == "route.offered")
    assert offer["data"]["call"]["id"] == "m1"
    await board.send_str(json.dumps({"type": "watch", "call_id": "m1"}))
    answer = await until(board, lambda m: read_board(m) is not None and m["type"] == "transcript")
    assert answer == {"type": "transcript", "call_id": "m1", "utterances": []}
    await board.send_str("not json")
    error = await until(board, lambda m: read_board(m) is not None and m["type"] == "error")
    assert error["code"] == "bad_message"
    await board.close()
    await desk.close()


def test_the_pages_handle_every_kind_of_bus_event() -> None:
    static = resources.files("callcenter.web").joinpath("static", "live")
    handled: set[str] = set()
    for page in ("wallboard.js", "agent.js"):
        handled |= set(re.findall(r'case "([a-z]+\.[a-z_.]+)"', static.joinpath(page).read_text()))
    assert handled == {tag_of(kind) for kind in LIVE_EVENT_TYPES}
