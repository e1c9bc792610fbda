"""Whole calls through each gateway dialect on loopback, with real recorded audio
(Asterisk's English prompts, 8 kHz signed linear WAV, Debian asterisk-core-sounds-en-wav)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import subprocess
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.app import create_app
from callcenter.media.audiosocket_protocol import Kind, encode_frame
from callcenter.media.codecs import pcm16_to_ulaw
from callcenter.media.frames import AudioFrame, Track
from callcenter.settings import Secret, Settings
from callcenter.storage.embedded import free_port
from callcenter.web.state import MEDIA, SERVICES, SETTINGS
from tests.conftest import AppClient
from tests.media.twilio_peer import ACCOUNT, CALL_SID, TOKEN, call_form
from tests.polling import eventually

PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
STREAM_SID = "MZ" + "cd" * 16
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit audio


def recorded_prompt(name: str = "cancelled") -> bytes:
    """PCM16 of a real recorded prompt."""
    path = PROMPTS / f"{name}.wav"
    if not path.exists():
        raise AssertionError(
            f"{path} is missing: install the Debian package asterisk-core-sounds-en-wav "
            "(scripts/bootstrap does, as root)"
        )
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getsampwidth(), audio.getnchannels()) == (8000, 2, 1)
        frames: bytes = audio.readframes(audio.getnframes())
        return frames


class Recorder:
    """A FrameSink listener that keeps what the media hub passed on."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, Track, int]] = []
        self.frames: list[AudioFrame] = []
        self.closed: list[tuple[str, Track]] = []

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        self.opened.append((call_id, track, sample_rate))

    def frame(self, frame: AudioFrame) -> None:
        self.frames.append(frame)

    def close_leg(self, call_id: str, track: Track) -> None:
        self.closed.append((call_id, track))


class FakeTwilio:
    """Twilio's REST API, the one call-update endpoint, on 127.0.0.1."""

    def __init__(self) -> None:
        self.updates: list[dict[str, str]] = []

    async def update(self, request: web.Request) -> web.Response:
        assert request.match_info["account"] == ACCOUNT
        assert (
            request.headers["Authorization"]
            == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        )
        form = dict(parse_qsl((await request.read()).decode()))
        self.updates.append({"sid": request.match_info["sid"], **form})
        return web.json_response(
            {"sid": request.match_info["sid"], "account_sid": ACCOUNT, "status": "in-progress"}
        )


@pytest.fixture
async def fake_twilio() -> AsyncIterator[tuple[FakeTwilio, TestServer]]:
    api = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Calls/{sid}.json", api.update)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield api, server
    await server.close()


@pytest.fixture
async def gateway_app(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    fake_twilio: tuple[FakeTwilio, TestServer],
) -> tuple[AppClient, Recorder]:
    port = free_port()
    configured = dataclasses.replace(
        settings,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        twilio_api_url=str(fake_twilio[1].make_url("")).rstrip("/"),
        audiosocket_port=free_port(),
        public_url=f"http://127.0.0.1:{port}",
    )
    client = await aiohttp_client(create_app(configured), server_kwargs={"port": port})
    recorder = Recorder()
    client.app[MEDIA].listeners.append(recorder)
    return client, recorder


async def _admin(client: AppClient) -> dict[str, str]:
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    return {"Authorization": f"Bearer {token}"}


async def _signed_post(client: AppClient, path: str, form: dict[str, str]) -> Any:
    url = str(client.make_url(path))
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    return await client.post(path, data=form, headers={"X-Twilio-Signature": signature})


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_a_whole_twilio_call(
    gateway_app: tuple[AppClient, Recorder], fake_twilio: tuple[FakeTwilio, TestServer]
) -> None:
    client, recorder = gateway_app
    api, _ = fake_twilio
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    admin = {"Authorization": f"Bearer {token}"}

    unsigned = await client.post("/gateways/twilio/voice", data=call_form("ringing", "0"))
    assert unsigned.status == 403
    answer = await _signed_post(client, "/gateways/twilio/voice", call_form("ringing", "0"))
    assert answer.status == 200, await answer.text()
    twiml = await answer.text()
    assert "<Stream" in twiml and "/media/twilio" in twiml and f'value="{CALL_SID}"' in twiml
    parameters = _stream_parameters(twiml)
    call = await (await client.get(f"/v1/calls/{CALL_SID}", headers=admin)).json()
    assert (call["state"], call["dialect"]) == ("queued", "twilio")

    # the media stream, signed on the handshake like a webhook, bound to the call by the
    # TwiML's parameters (echoed in its start as Twilio does), with a real recording
    stream_url = str(client.make_url("/media/twilio"))
    signature = RequestValidator(TOKEN).compute_signature(stream_url, {})
    async with client.ws_connect("/media/twilio", headers={"X-Twilio-Signature": signature}) as ws:
        await _send_twilio_audio(ws, recorded_prompt(), parameters)
        await _until(lambda: _settled(recorder))
    assert recorder.opened == [(CALL_SID, Track.CALLER, 8000)]
    pcm = recorded_prompt()
    assert sum(len(f.pcm) for f in recorder.frames) == len(pcm) - len(pcm) % FRAME_BYTES
    assert recorder.closed == [(CALL_SID, Track.CALLER)]

    # an agent frees up: offered, accepts, and Twilio is told to dial the agent
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    await client.post("/v1/agents/ann/presence", json={"presence": "available"}, headers=admin)

    async def offered() -> bool:
        got = await (await client.get(f"/v1/calls/{CALL_SID}", headers=admin)).json()
        return bool(got["state"] == "offered")

    await _until(offered)
    call = await (await client.get(f"/v1/calls/{CALL_SID}", headers=admin)).json()
    accepted = await client.post(
        f"/v1/reservations/{call['reservation']['id']}/accept", headers=admin
    )
    assert accepted.status == 200

    async def updated() -> bool:
        return bool(api.updates)

    await _until(updated)
    assert api.updates[0]["sid"] == CALL_SID
    assert (
        "<Dial" in api.updates[0]["Twiml"] and "<Identity>ann</Identity>" in api.updates[0]["Twiml"]
    )

    done = await _signed_post(client, "/gateways/twilio/status", call_form("completed", "3"))
    assert done.status == 204
    ended = await (await client.get(f"/v1/calls/{CALL_SID}", headers=admin)).json()
    assert (ended["state"], ended["outcome"]) == ("wrap_up", "handled")
    caller = await (await client.get("/v1/callers/+15551230000", headers=admin)).json()
    assert (caller["history"]["calls_total"], caller["history"]["last_agent"]) == (1, "ann")


async def _settled(recorder: Recorder) -> bool:
    return bool(recorder.closed)


def _stream_parameters(twiml: str) -> dict[str, str]:
    """The <Parameter>s of the TwiML's <Stream>: Twilio's `start.customParameters`."""
    stream = ET.fromstring(twiml).find("./Start/Stream")
    assert stream is not None
    return {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}


async def _send_twilio_audio(ws: Any, pcm: bytes, parameters: dict[str, str]) -> None:
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": STREAM_SID,
        "start": {
            "streamSid": STREAM_SID,
            "accountSid": ACCOUNT,
            "callSid": CALL_SID,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send_str(json.dumps(start))
    for index in range(len(pcm) // FRAME_BYTES):
        chunk = pcm16_to_ulaw(pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES])
        await ws.send_str(
            json.dumps(
                {
                    "event": "media",
                    "sequenceNumber": str(index + 2),
                    "streamSid": STREAM_SID,
                    "media": {
                        "track": "inbound",
                        "chunk": str(index + 1),
                        "timestamp": str(index * 20),
                        "payload": base64.b64encode(chunk).decode(),
                    },
                }
            )
        )
    await ws.send_str(
        json.dumps(
            {
                "event": "stop",
                "sequenceNumber": "999",
                "streamSid": STREAM_SID,
                "stop": {"accountSid": ACCOUNT, "callSid": CALL_SID},
            }
        )
    )


async def test_l16_stream_of_a_real_recording(gateway_app: tuple[AppClient, Recorder]) -> None:
    client, recorder = gateway_app
    token, _ = await client.app[SERVICES].auth.create_token("gateway", "fs")
    pcm = recorded_prompt("calling")
    async with client.ws_connect(f"/media/l16?token={token}") as ws:
        await ws.send_str(json.dumps({"call_id": "fs-1", "track": "caller", "sample_rate": 8000}))
        for offset in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            await ws.send_bytes(pcm[offset : offset + FRAME_BYTES])
    await _until(lambda: _settled(recorder))
    assert recorder.opened == [("fs-1", Track.CALLER, 8000)]
    assert [f.sequence for f in recorder.frames] == list(range(len(pcm) // FRAME_BYTES))
    assert b"".join(f.pcm for f in recorder.frames) == pcm[: len(pcm) // FRAME_BYTES * FRAME_BYTES]


async def test_asterisk_audiosocket_call(gateway_app: tuple[AppClient, Recorder]) -> None:
    client, recorder = gateway_app
    settings = client.app[SETTINGS]
    call = uuid.uuid4()
    # Asterisk's dialplan reports the call (named by the UUID it gives AudioSocket) first
    created = await client.post(
        "/v1/events",
        headers=await _admin(client),
        json={"type": "call.created", "event_id": "ast-1", "call_id": str(call), "from": "+1555"},
    )
    assert created.status == 200
    pcm = recorded_prompt("beep")
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.audiosocket_port)
    writer.write(encode_frame(Kind.UUID, call.bytes))
    for offset in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        writer.write(encode_frame(Kind.SLIN, pcm[offset : offset + FRAME_BYTES]))
    writer.write(encode_frame(Kind.HANGUP))
    await writer.drain()
    await _until(lambda: _settled(recorder))
    writer.close()
    await writer.wait_closed()
    del reader
    assert recorder.opened == [(str(call), Track.CALLER, 8000)]
    assert len(recorder.frames) == len(pcm) // FRAME_BYTES
    assert recorder.closed == [(str(call), Track.CALLER)]


async def test_an_unreachable_freeswitch_does_not_stop_the_server(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="callcenter.gateways.freeswitch.client")
    configured = dataclasses.replace(
        settings, freeswitch_esl_host="127.0.0.1", freeswitch_esl_port=free_port()
    )
    client = await aiohttp_client(create_app(configured))
    # the client has tried and is backing off
    await eventually(lambda: "reconnecting in" in caplog.text)
    assert (await client.get("/readyz")).status == 200
    created = await client.post(
        "/v1/events",
        headers=await _admin(client),
        json={
            "type": "call.created",
            "event_id": "fs-e1",
            "call_id": "fs-c1",
            "from": "+15550002222",
        },
    )
    assert created.status == 200  # events from other gateways still flow


@pytest.mark.slow
async def test_live_audio_becomes_a_scored_transcript(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    tmp_path: Path,
) -> None:
    """flite says an angry line; it streams over L16 into PocketSphinx; the transcript
    holds the words with a negative sentiment."""
    line = "i have been on hold for an hour and i want to cancel my account"
    spoken = tmp_path / "line.wav"
    subprocess.run(["flite", "-t", line, "-o", str(spoken)], check=True)  # noqa: ASYNC221
    with wave.open(str(spoken)) as audio:
        rate = audio.getframerate()
        pcm = audio.readframes(audio.getnframes()) + b"\x00\x00" * rate  # 1 s of silence
    client = await aiohttp_client(
        create_app(dataclasses.replace(settings, speech_engine="pocketsphinx", asr_workers=1))
    )
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    headers = {"Authorization": f"Bearer {token}"}
    created = await client.post(
        "/v1/events",
        headers=headers,
        json={
            "type": "call.created",
            "event_id": "e1",
            "call_id": "live-1",
            "from": "+15550001111",
        },
    )
    assert created.status == 200
    frame = rate // 50 * 2
    async with client.ws_connect(f"/media/l16?token={token.split(' ')[-1]}") as ws:
        await ws.send_str(json.dumps({"call_id": "live-1", "track": "caller", "sample_rate": rate}))
        began = asyncio.get_running_loop().time()
        for index, offset in enumerate(range(0, len(pcm) - frame + 1, frame)):
            # in real time, as a media server sends (far faster is cut off as a flood)
            due = began + index * 0.02 - asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, due))
            await ws.send_bytes(pcm[offset : offset + frame])

    async def transcribed() -> bool:
        got = await (await client.get("/v1/calls/live-1/transcript", headers=headers)).json()
        return bool(got["utterances"])

    await _until(transcribed, seconds=30)
    got = await (await client.get("/v1/calls/live-1/transcript", headers=headers)).json()
    utterance = got["utterances"][0]
    words = set(utterance["text"].split())
    print("transcript:", utterance)
    assert len(words & {"hold", "hour", "cancel", "account"}) >= 2, utterance
    assert utterance["speaker"] == "caller" and utterance["label"] == "negative"
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_utterances_total{sentiment="negative",speaker="caller"}' in metrics
