"""Bad input on the media websockets of the whole app closes the socket with a close code
and a reason (counted), opens no leg or closes the one it opened, and the server goes on."""

from __future__ import annotations

import json

from aiohttp import WSMsgType

from callcenter.media.frames import Track
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.media.conftest import RecordingSink
from tests.media.twilio_peer import handshake_headers
from tests.polling import eventually

MediaApp = tuple[AppClient, RecordingSink]


async def test_twilio_stream_garbage_closes_with_a_reason(
    media_app: MediaApp,
) -> None:
    client, recorder = media_app
    async with client.ws_connect("/media/twilio", headers=handshake_headers(client)) as ws:
        await ws.send_str('{"event": "media", "media": {}}')
        message = await ws.receive()
        assert message.type is WSMsgType.CLOSE
        assert message.data == 1008
        assert "media" in str(message.extra)
    assert recorder.frames == []
    assert (await client.get("/healthz")).status == 200


async def test_l16_refuses_audio_before_metadata_and_unauthenticated_sockets(
    media_app: MediaApp,
) -> None:
    client, recorder = media_app
    refused = await client.get("/media/l16")
    assert refused.status == 401
    token, _ = await client.app[SERVICES].auth.create_token("gateway", "fs")
    async with client.ws_connect(f"/media/l16?token={token}") as ws:
        await ws.send_bytes(b"\x00\x01" * 160)
        message = await ws.receive()
        assert (message.type, message.data) == (WSMsgType.CLOSE, 1008)
    assert recorder.opened_legs == []


async def test_a_flooding_stream_is_cut_off(media_app: MediaApp) -> None:
    client, recorder = media_app
    token, _ = await client.app[SERVICES].auth.create_token("gateway", "fs")
    async with client.ws_connect(f"/media/l16?token={token}") as ws:
        await ws.send_str(json.dumps({"call_id": "flood", "track": "caller", "sample_rate": 8000}))
        for _ in range(2000):  # 40 s of audio at once
            await ws.send_bytes(b"\x00\x00" * 160)
        message = await ws.receive()
        assert (message.type, message.data) == (WSMsgType.CLOSE, 1008)
        assert "real time" in str(message.extra)
    await eventually(lambda: recorder.closed_legs == [("flood", Track.CALLER)])
    assert len(recorder.frames) < 2000


async def test_twilio_stream_refuses_binary_frames(media_app: MediaApp) -> None:
    client, recorder = media_app
    async with client.ws_connect("/media/twilio", headers=handshake_headers(client)) as ws:
        await ws.send_bytes(b"\xff" * 160)
        message = await ws.receive()
        assert (message.type, message.data) == (WSMsgType.CLOSE, 1003)
    assert recorder.opened_legs == []
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_media_rejections_total{dialect="twilio",reason="unsupported"} 1.0' in metrics
