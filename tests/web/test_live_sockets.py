"""The live websockets against the real app and Redis: auth on the first message,
snapshot then events, resuming from a sequence number, per-agent filtering, screen pops
across two instances, alert acknowledgement, and bad messages answered, not fatal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import WSMsgType
from aiohttp.client_ws import ClientWebSocketResponse

from callcenter.app import create_app
from callcenter.app_keys import REPOSITORIES
from callcenter.media.frames import Track
from callcenter.settings import Settings
from callcenter.speech.engines import Final, Word
from callcenter.web.state import MONITOR, SERVICES
from tests.conftest import FIXTURES, AppClient, TokenFactory

NUMBER = "+15551112222"


_BATCHED: dict[int, list[dict[str, Any]]] = {}


async def receive(ws: ClientWebSocketResponse, seconds: float = 5) -> dict[str, Any]:
    """The next message; frames holding an array of events give them one by one."""
    waiting = _BATCHED.setdefault(id(ws), [])
    if not waiting:
        message = await ws.receive(timeout=seconds)
        assert message.type is WSMsgType.TEXT, message
        decoded = json.loads(message.data)
        waiting.extend(decoded if isinstance(decoded, list) else [decoded])
    first: dict[str, Any] = waiting.pop(0)
    return first


async def until(
    ws: ClientWebSocketResponse, check: Callable[[dict[str, Any]], bool], seconds: float = 5
) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        while True:
            message = await receive(ws, seconds)
            if check(message):
                return message


async def connect(
    client: AppClient, path: str, token_headers: dict[str, str], since: int | None = None
) -> ClientWebSocketResponse:
    ws = await client.ws_connect(path)
    token = token_headers["Authorization"].split(" ", 1)[1]
    await ws.send_str(json.dumps({"type": "auth", "token": token, "since": since}))
    return ws


async def post(client: AppClient, headers: dict[str, str], *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events", json=list(events), headers=headers)
    assert response.status == 200, await response.text()


def created(call_id: str, number: str = NUMBER) -> dict[str, Any]:
    return {"type": "call.created", "event_id": f"{call_id}-c", "call_id": call_id, "from": number}


async def test_a_wallboard_gets_a_snapshot_then_events(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    await post(client, admin, created("w1"))
    ws = await connect(client, "/ws/wallboard", await token_for("supervisor"))
    snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot"
    assert [a["id"] for a in snapshot["agents"]] == ["ann"]
    assert [(c["id"], c["state"]) for c in snapshot["calls"]] == [("w1", "queued")]
    assert {q["name"] for q in snapshot["queues"]} >= {"general"}
    await post(client, admin, created("w2"))
    event = await until(ws, lambda m: m.get("type") == "call.updated" and m["call_id"] == "w2")
    assert event["seq"] > snapshot["seq"] and event["data"]["state"] == "queued"
    await post(client, admin, {"type": "call.ended", "event_id": "w2-e", "call_id": "w2"})
    stats = await until(ws, lambda m: m.get("type") == "queue.stats")
    assert stats["data"]["today"]["abandoned"] == 1
    await ws.close()


async def test_a_wallboard_snapshot_takes_the_board_the_last_outlook_tick_kept(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    """Not recomputed from every waiting ticket at each connect (O(backlog)): the kept
    board, which the next tick's `queue.outlook` brings up to date."""
    await post(client, admin, created("w1"))
    services = client.app[SERVICES]
    computed = await services.outlook.queues()
    general = next(view for view in computed if view.name == "general")
    assert general.calls_waiting == 1
    kept = [msgspec.structs.replace(general, calls_waiting=7)]  # as a tick kept it
    await client.app[REPOSITORIES].queue_activity.save_tick(datetime.now(UTC), {}, kept)
    ws = await connect(client, "/ws/wallboard", await token_for("supervisor"))
    snapshot = await receive(ws)
    assert [(q["name"], q["calls_waiting"]) for q in snapshot["outlook"]] == [("general", 7)]
    await ws.close()


async def test_bad_tokens_and_roles_are_refused_with_close_codes(
    client: AppClient, token_for: TokenFactory
) -> None:
    ws = await client.ws_connect("/ws/wallboard")
    await ws.send_str(json.dumps({"type": "auth", "token": "nope"}))
    error = await receive(ws)
    assert error["code"] == "unauthorized"
    closed = await ws.receive()
    assert closed.type is WSMsgType.CLOSE and closed.data == 4401
    agent = await connect(client, "/ws/wallboard", await token_for("agent:ann"))
    assert (await receive(agent))["code"] == "forbidden"
    assert (await agent.receive()).data == 4403
    plain = await client.get("/ws/wallboard")
    assert plain.status == 401


async def test_bad_messages_get_an_error_frame_and_the_socket_stays(
    client: AppClient, token_for: TokenFactory
) -> None:
    ws = await connect(client, "/ws/wallboard", await token_for("supervisor"))
    assert (await receive(ws))["type"] == "snapshot"
    await ws.send_str("{not json")
    assert (await receive(ws))["code"] == "bad_message"
    await ws.send_str(json.dumps({"type": "launch", "missiles": 3}))
    assert (await receive(ws))["code"] == "bad_message"
    await ws.send_bytes(b"\x00")
    assert (await receive(ws))["code"] == "bad_message"
    await ws.send_str(json.dumps({"type": "ping"}))
    assert (await receive(ws))["type"] == "pong"


async def test_a_reconnecting_page_gets_what_it_missed_without_a_snapshot(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    supervisor = await token_for("supervisor")
    ws = await connect(client, "/ws/wallboard", supervisor)
    seq = (await receive(ws))["seq"]
    await ws.close()
    await post(client, admin, created("r1"), created("r2", "+15553334444"))
    again = await connect(client, "/ws/wallboard", supervisor, since=seq)
    first = await receive(again)
    assert first.get("type") != "snapshot" and first["seq"] == seq + 1
    got = [first]
    while {e.get("call_id") for e in got} < {"r1", "r2"}:
        got.append(await receive(again))
    seqs = [e["seq"] for e in got]
    assert seqs == list(range(seq + 1, seq + 1 + len(seqs)))  # no gap, no duplicate


async def test_an_agent_sees_its_own_pop_with_the_callers_history_only(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    for agent in ("ann", "bob"):
        await client.put(f"/v1/agents/{agent}", json={"name": agent, "skills": {}}, headers=admin)
    await client.put(
        f"/v1/callers/{NUMBER}",
        json={"name": "Carol", "tier": "vip", "tags": ["churn-risk"]},
        headers=admin,
    )
    ann = await connect(client, "/ws/agent", await token_for("agent:ann"))
    bob = await connect(client, "/ws/agent", await token_for("agent:bob"))
    assert (await receive(ann))["agent"]["id"] == "ann"
    assert (await receive(bob))["agent"]["id"] == "bob"
    await post(client, admin, created("p1"))
    await client.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=admin)
    pop = await until(ann, lambda m: m.get("type") == "route.offered")
    offer = pop["data"]
    assert offer["call"]["id"] == "p1" and offer["reservation"]["id"]
    assert offer["caller"]["profile"]["name"] == "Carol"
    assert offer["caller"]["profile"]["tier"] == "vip"
    assert offer["decision"]["agent_id"] == "ann" and offer["decision"]["why"]
    # bob hears nothing of ann's offer or call: a change of his own, made after them, is
    # the next thing he gets (the bus delivers in order)
    await client.post("/v1/agents/bob/presence", json={"presence": "away"}, headers=admin)
    while (message := await receive(bob))["type"] != "agent.updated":
        assert message.get("agent_id") in (None, "bob"), message
        assert message.get("call_id") != "p1", message
    assert message["agent_id"] == "bob" and message["data"]["presence"] == "away"
    # ann accepts; the transcript of her call reaches her
    accepted = await client.post(
        f"/v1/reservations/{offer['reservation']['id']}/accept",
        headers=await token_for("agent:ann"),
    )
    assert accepted.status == 200
    monitor = client.app[MONITOR]
    monitor.open_leg("p1", Track.CALLER, 8000)
    words = (Word("hello", 0.0, 0.4, 1.0), Word("there", 0.4, 0.8, 1.0))
    monitor.on_result("p1", Track.CALLER, Final("hello there", words, 0.0))
    line = await until(ann, lambda m: m.get("type") == "transcript.final")
    assert line["data"]["text"] == "hello there" and line["call_id"] == "p1"


async def test_an_offer_made_on_one_instance_pops_on_the_other(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
) -> None:
    one = await aiohttp_client(create_app(settings))
    other = await aiohttp_client(create_app(settings))
    token, _ = await one.app[SERVICES].auth.create_token("admin", "t")
    admin = {"Authorization": f"Bearer {token}"}
    agent_token, _ = await one.app[SERVICES].auth.create_token("agent:ann", "t")
    await one.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    desk = await connect(other, "/ws/agent", {"Authorization": f"Bearer {agent_token}"})
    assert (await receive(desk))["type"] == "snapshot"
    await post(one, admin, created("x1"))
    await one.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=admin)
    pop = await until(desk, lambda m: m.get("type") == "route.offered")
    assert pop["data"]["call"]["id"] == "x1"


async def test_alerts_are_listed_and_acknowledged_for_every_wallboard(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
) -> None:
    client = await aiohttp_client(
        create_app(dataclasses.replace(settings, rules_dir=FIXTURES / "rules" / "alerts"))
    )
    token, _ = await client.app[SERVICES].auth.create_token("supervisor", "t")
    supervisor = {"Authorization": f"Bearer {token}"}
    watching = await connect(client, "/ws/wallboard", supervisor)
    other = await connect(client, "/ws/wallboard", supervisor)
    await receive(watching)
    await receive(other)
    monitor = client.app[MONITOR]
    monitor.open_leg("a1", Track.CALLER, 8000)
    words = (Word("supervisor", 0.0, 0.5, 1.0), Word("now", 0.5, 0.8, 1.0))
    monitor.on_result("a1", Track.CALLER, Final("supervisor now", words, 0.0))
    raised = await until(watching, lambda m: m.get("type") == "alert.raised")
    alert_id = raised["data"]["id"]
    listed = await (await client.get("/v1/alerts", headers=supervisor)).json()
    assert [(a["id"], a["acked"]) for a in listed["alerts"]] == [(alert_id, False)]
    await watching.send_str(json.dumps({"type": "ack", "alert_id": alert_id}))
    acked = await until(other, lambda m: m.get("type") == "alert.acked")
    assert acked["data"]["id"] == alert_id and acked["data"]["by"] == "supervisor"
    listed = await (await client.get("/v1/alerts", headers=supervisor)).json()
    assert listed["alerts"][0]["acked"] is True
    missing = await client.post("/v1/alerts/nope/ack", headers=supervisor)
    assert missing.status == 404
    # watching a call sends its transcript so far
    await watching.send_str(json.dumps({"type": "watch", "call_id": "a1"}))
    transcript = await until(watching, lambda m: m.get("type") == "transcript")
    assert [u["text"] for u in transcript["utterances"]] == ["supervisor now"]
