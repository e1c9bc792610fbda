"""Flood budgets and frame caps on the media websockets of the whole app (real sockets, real
Redis): seconds of audio are weighed against wall-clock time, so a stream far faster than
real time is cut off with 1008 whatever its message count, a frame holding more audio than
any gateway sends at once is refused with 1009, and a real-time stream longer than the
burst allowance goes through untouched. AudioSocket connections must name a live call."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from callcenter.media.audiosocket_protocol import ErrorCode, Kind, encode_frame
from callcenter.media.flood import FloodLimits
from callcenter.media.frames import Track
from callcenter.web.state import SERVICES, SETTINGS
from tests.conftest import AppClient
from tests.media.conftest import RecordingSink, error_message, read_to_eof, rejected, sine_pcm
from tests.media.twilio_peer import (
    CALL_SID,
    CONNECTED,
    MULAW_SILENCE,
    handshake_headers,
    media,
    place_call,
    start,
)
from tests.polling import eventually

MediaApp = tuple[AppClient, RecordingSink]
# send(index, seconds): one frame holding `seconds` of audio
Send = Callable[[int, float], Awaitable[None]]
BURST = FloodLimits().burst_seconds


@asynccontextmanager
async def twilio(client: AppClient) -> AsyncIterator[tuple[ClientWebSocketResponse, Send]]:
    parameters = await place_call(client)
    async with client.ws_connect("/media/twilio", headers=handshake_headers(client)) as ws:
        await ws.send_str(CONNECTED)
        await ws.send_str(start(parameters))

        async def send(index: int, seconds: float) -> None:
            await ws.send_str(media(index, MULAW_SILENCE * round(8000 * seconds)))

        yield ws, send


@asynccontextmanager
async def l16(client: AppClient) -> AsyncIterator[tuple[ClientWebSocketResponse, Send]]:
    token, _ = await client.app[SERVICES].auth.create_token("gateway", "fs")
    async with client.ws_connect(f"/media/l16?token={token}") as ws:
        metadata = {"call_id": CALL_SID, "track": "caller", "sample_rate": 8000}
        await ws.send_str(json.dumps(metadata))

        async def send(index: int, seconds: float) -> None:
            await ws.send_bytes(b"\x00\x00" * round(8000 * seconds))

        yield ws, send


Opener = Callable[[AppClient], Any]
DIALECTS: dict[str, Opener] = {"twilio": twilio, "l16": l16}


async def paced(send: Send, count: int, frame_seconds: float, speed: float) -> None:
    """`count` frames of `frame_seconds`, at `speed` x real time (on a schedule, so a late
    frame is caught up at once, as a gateway would)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for index in range(count):
        await asyncio.sleep(max(0.0, began + index * frame_seconds / speed - loop.time()))
        await send(index, frame_seconds)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_twenty_times_real_time_in_big_frames_is_cut_off(
    media_app: MediaApp, dialect: str
) -> None:
    client, recorder = media_app
    message: Any
    async with DIALECTS[dialect](client) as (ws, send):
        await paced(send, 25, 0.4, speed=20.0)  # 10 s of audio in 0.5 s: few messages
        message = await ws.receive()
    assert (message.type, message.data) == (WSMsgType.CLOSE, 1008)
    assert "far faster than real time" in str(message.extra)
    await eventually(lambda: recorder.closed_legs == [(CALL_SID, Track.CALLER)])
    heard = sum(len(f.pcm) for f in recorder.frames) / (8000 * 2)
    assert BURST <= heard < 10.0
    assert rejected(client, dialect, "flood") == 1.0


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_real_time_longer_than_the_burst_allowance_passes(
    media_app: MediaApp, dialect: str
) -> None:
    client, recorder = media_app
    count = 200  # 4 s of 20 ms frames: more than the burst, so the budget must refill
    async with DIALECTS[dialect](client) as (ws, send):
        await paced(send, count, 0.02, speed=1.0)
        await eventually(lambda: len(recorder.frames) == count)
        assert not ws.closed
    await eventually(lambda: recorder.closed_legs == [(CALL_SID, Track.CALLER)])
    assert [f.sequence for f in recorder.frames] == list(range(count))
    assert rejected(client, dialect, "flood") is None


@pytest.mark.parametrize(
    ("dialect", "seconds"),
    [("twilio", 44_000 / 8000), ("twilio", 0.5 + 1 / 8000), ("l16", 0.5 + 1 / 8000)],
    ids=["twilio-44KB", "twilio-just-over", "l16-just-over"],
)
async def test_a_frame_of_more_than_half_a_second_is_refused(
    media_app: MediaApp, dialect: str, seconds: float
) -> None:
    client, recorder = media_app
    message: Any
    async with DIALECTS[dialect](client) as (ws, send):
        await send(0, 0.5)  # the largest frame allowed
        await send(1, seconds)
        message = await ws.receive()
    assert (message.type, message.data) == (WSMsgType.CLOSE, 1009)
    assert "exceeds" in str(message.extra)
    await eventually(lambda: recorder.closed_legs == [(CALL_SID, Track.CALLER)])
    assert [len(f.pcm) for f in recorder.frames] == [8000]  # 0.5 s of PCM16
    assert rejected(client, dialect, "too_big") == 1.0


async def test_audiosocket_naming_no_live_call_is_hung_up(media_app: MediaApp) -> None:
    client, recorder = media_app
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", client.app[SETTINGS].audiosocket_port
    )
    writer.write(encode_frame(Kind.UUID, uuid.uuid4().bytes))
    writer.write(encode_frame(Kind.SLIN, sine_pcm(160)) * 10)
    await writer.drain()

    assert await read_to_eof(reader) == error_message(ErrorCode.UNKNOWN_CALL)
    writer.close()
    await writer.wait_closed()
    await eventually(lambda: rejected(client, "asterisk", "unknown_call") == 1.0)
    assert recorder.calls == []
