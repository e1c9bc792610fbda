"""A socket is only as good as its token: revoking or expiring the token a live page was
opened with closes it with 4401 (within the token cache time, at least 1 s), while pages
opened with other tokens go on."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import WSMsgType
from aiohttp.client_ws import ClientWebSocketResponse

from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.web.test_live_sockets import receive


async def opened(client: AppClient, path: str, token: str) -> ClientWebSocketResponse:
    ws = await client.ws_connect(path)
    await ws.send_json({"type": "auth", "token": token})
    assert (await receive(ws))["type"] == "snapshot"
    return ws


async def closed_with(ws: ClientWebSocketResponse) -> tuple[int | None, str]:
    """Read until the close frame: its code, and the error frame's code before it."""
    error = ""
    while True:
        message = await ws.receive(timeout=10)
        if message.type is WSMsgType.TEXT:
            error = message.json().get("code", error)
            continue
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED), message
        return ws.close_code, error


async def test_revoking_a_token_closes_the_pages_opened_with_it(client: AppClient) -> None:
    auth = client.app[SERVICES].auth
    revoked, stored = await auth.create_token("supervisor", "wall screen")
    kept, _ = await auth.create_token("supervisor", "desk")
    admin, _ = await auth.create_token("admin", "admin")
    ann = {"name": "Ann", "skills": {}}
    await client.put("/v1/agents/ann", json=ann, headers={"Authorization": f"Bearer {admin}"})
    agent_token, agent_stored = await auth.create_token("agent:ann", "ann")
    wall = await opened(client, "/ws/wallboard", revoked)
    other = await opened(client, "/ws/wallboard", kept)
    desk = await client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {agent_token}"})
    assert (await receive(desk))["type"] == "snapshot"

    assert await auth.revoke_token(stored.id)
    assert await auth.revoke_token(agent_stored.id)
    assert await closed_with(wall) == (4401, "unauthorized")
    assert await closed_with(desk) == (4401, "unauthorized")
    await other.send_json({"type": "ping"})
    assert (await receive(other))["type"] == "pong"  # the other token's page goes on


async def test_an_expired_token_closes_its_page(client: AppClient) -> None:
    token, _ = await client.app[SERVICES].auth.create_token(
        "supervisor", "short", ttl=timedelta(seconds=1)
    )
    wall = await opened(client, "/ws/wallboard", token)
    assert await closed_with(wall) == (4401, "unauthorized")


async def test_revoking_a_gateway_token_closes_its_audio_socket(client: AppClient) -> None:
    auth = client.app[SERVICES].auth
    token, stored = await auth.create_token("gateway", "media server")
    other, _ = await auth.create_token("gateway", "other media server")
    kept = await client.ws_connect("/media/l16", headers={"Authorization": f"Bearer {other}"})
    revoked = await client.ws_connect(f"/media/l16?token={token}")
    for ws in (kept, revoked):
        await ws.send_json({"call_id": "c1", "track": "caller", "sample_rate": 8000})
        await ws.send_bytes(b"\x00\x00" * 160)  # 20 ms of audio
    assert await auth.revoke_token(stored.id)
    assert (await closed_with(revoked))[0] == 4401
    await kept.send_bytes(b"\x00\x00" * 160)
    assert not kept.closed  # the other token's socket still takes audio
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_media_rejections_total{dialect="l16",reason="revoked"} 1.0' in metrics
