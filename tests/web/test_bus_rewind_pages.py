"""The issue's reproduction on the real app: a wallboard and an agent desk are connected, the
bus sequence goes back by 200, ten calls come in. The pages resync from a snapshot and keep
receiving; the agent still gets offers."""

from __future__ import annotations

from redis.asyncio import Redis

from callcenter.storage import keys
from callcenter.web.state import BUS
from tests.conftest import AppClient, TokenFactory
from tests.polling import eventually
from tests.web.test_live_sockets import connect, created, post, receive, until


async def test_pages_resync_and_go_on_when_the_bus_sequence_goes_back(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory, redis_client: Redis
) -> None:
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    wallboard = await connect(client, "/ws/wallboard", await token_for("supervisor"))
    desk = await connect(client, "/ws/agent", await token_for("agent:ann"))
    before = await receive(wallboard)
    assert before["type"] == "snapshot" and (await receive(desk))["type"] == "snapshot"
    await post(client, admin, created("warm-up"))
    await until(wallboard, lambda m: m.get("call_id") == "warm-up")

    await redis_client.decrby(keys.BUS_SEQ, 200)
    numbers = [f"+1555000{n:04d}" for n in range(10)]
    for n, number in enumerate(numbers):
        await post(client, admin, created(f"r{n}", number))

    await until(wallboard, lambda m: m.get("type") == "resync")
    snapshot = await until(wallboard, lambda m: m.get("type") == "snapshot")
    assert snapshot["epoch"] != before["epoch"]
    seen = {call["id"] for call in snapshot["calls"]}
    while not {f"r{n}" for n in range(10)} <= seen:
        event = await receive(wallboard)
        assert event["seq"] > snapshot["seq"], event  # numbered in the new epoch
        if event.get("type") == "call.updated":
            seen.add(event["call_id"])

    await client.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=admin)
    offer = await until(desk, lambda m: m.get("type") == "route.offered")
    assert offer["data"]["call"]["id"] in {"warm-up", *(f"r{n}" for n in range(10))}
    metrics = await (await client.get("/metrics")).text()
    assert "callcenter_bus_rewinds_total 1.0" in metrics


async def test_a_page_resuming_from_another_epoch_gets_a_snapshot(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory, redis_client: Redis
) -> None:
    supervisor = await token_for("supervisor")
    first = await connect(client, "/ws/wallboard", supervisor)
    snapshot = await receive(first)
    await first.close()
    await redis_client.decrby(keys.BUS_SEQ, 200)
    for n in range(snapshot["seq"] + 3):  # the new epoch passes the old position
        await post(client, admin, created(f"e{n}", f"+1555111{n:04d}"))
    bus = client.app[BUS]
    await eventually(lambda: (bus.last_seq or 0) > snapshot["seq"])
    # numbers of the old epoch mean nothing in the new one: a snapshot, not a replay
    ws = await client.ws_connect("/ws/wallboard")
    token = supervisor["Authorization"].split(" ", 1)[1]
    await ws.send_json(
        {"type": "auth", "token": token, "since": snapshot["seq"], "epoch": snapshot["epoch"]}
    )
    resumed = await receive(ws)
    assert resumed["type"] == "snapshot" and resumed["epoch"] != snapshot["epoch"]
