"""The whole listening path, live: flite speaks an angry caller line, it streams in real
time as Twilio Media Streams μ-law frames, PocketSphinx transcribes it, the scorer marks it
negative, and `alert.raised` reaches the event bus within 2 s of the end of the utterance."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import subprocess
import time
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.app import create_app
from callcenter.media.codecs import pcm16_to_ulaw
from callcenter.settings import Secret, Settings
from callcenter.storage.embedded import free_port
from callcenter.web.state import BUS, SERVICES
from tests.conftest import FIXTURES, AppClient

ACCOUNT = "AC" + "2" * 32
TOKEN = "twilio-auth-token"
CALL_SID = "CA" + "ef" * 16
STREAM_SID = "MZ" + "01" * 16
FRAME_BYTES = 320  # 20 ms of 8 kHz PCM16
LINE = "i have been on hold for an hour this is terrible i want to cancel my account"


def spoken(tmp_path: Path, text: str) -> bytes:
    path = tmp_path / "line.wav"
    subprocess.run(["flite", "-t", text, "-o", str(path)], check=True)
    with wave.open(str(path)) as audio:
        assert audio.getframerate() == 8000, "flite speaks at 8 kHz"
        pcm: bytes = audio.readframes(audio.getnframes())
    return pcm[: len(pcm) - len(pcm) % FRAME_BYTES]


def media(index: int, pcm: bytes) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(index + 2),
            "streamSid": STREAM_SID,
            "media": {
                "track": "inbound",
                "chunk": str(index + 1),
                "timestamp": str(index * 20),
                "payload": base64.b64encode(pcm16_to_ulaw(pcm)).decode(),
            },
        }
    )


@pytest.mark.slow
async def test_an_angry_line_raises_an_alert_on_the_bus_within_two_seconds(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    tmp_path: Path,
) -> None:
    speech = await asyncio.to_thread(spoken, tmp_path, LINE)
    port = free_port()
    configured = dataclasses.replace(
        settings,
        rules_dir=FIXTURES / "rules" / "alerts",
        speech_engine="pocketsphinx",
        asr_workers=1,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        public_url=f"http://127.0.0.1:{port}",
    )
    client = await aiohttp_client(create_app(configured), server_kwargs={"port": port})
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    admin = {"Authorization": f"Bearer {token}"}
    created = await client.post(
        "/v1/events",
        headers=admin,
        json={
            "type": "call.created",
            "event_id": "x1",
            "call_id": CALL_SID,
            "from": "+15550009999",
        },
    )
    assert created.status == 200
    listener = client.app[BUS].listen()
    alerts: list[tuple[float, dict[str, Any]]] = []
    finals: list[dict[str, Any]] = []

    async def watch_bus() -> None:
        while True:
            _, raw = await listener.get()
            event = json.loads(raw)
            if event["type"] == "alert.raised":
                alerts.append((time.monotonic(), event["data"]))
            elif event["type"] == "transcript.final":
                finals.append(event["data"])

    watcher = asyncio.create_task(watch_bus())
    signature = RequestValidator(TOKEN).compute_signature(str(client.make_url("/media/twilio")), {})
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": STREAM_SID,
        "start": {
            "streamSid": STREAM_SID,
            "accountSid": ACCOUNT,
            "callSid": CALL_SID,
            "tracks": ["inbound"],
            "customParameters": {"call_id": CALL_SID},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    silence = b"\x00\x00" * 160
    frames = [speech[i : i + FRAME_BYTES] for i in range(0, len(speech), FRAME_BYTES)]
    async with client.ws_connect("/media/twilio", headers={"X-Twilio-Signature": signature}) as ws:
        await ws.send_str(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        await ws.send_str(json.dumps(start))
        began = time.monotonic()
        index = 0
        utterance_end = 0.0
        # in real time: the line, then up to 3 s of the caller waiting for an answer
        for index, pcm in enumerate(frames + [silence] * 150):
            due = began + index * 0.02
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await ws.send_str(media(index, pcm))
            if index == len(frames) - 1:
                utterance_end = time.monotonic()
            if alerts and index >= len(frames):
                break
    watcher.cancel()
    assert alerts, f"no alert; transcript lines: {finals}"
    arrived, alert = alerts[0]
    print(f"alert {alert['rule']} {arrived - utterance_end:.2f} s after the utterance ended")
    assert arrived - utterance_end < 2.0
    assert alert["call_id"] == CALL_SID and alert["caller"] == "+15550009999"
    words = set(" ".join(line["text"] for line in finals).split())
    assert len(words & {"hold", "hour", "terrible", "cancel", "account"}) >= 3, finals
    assert any(line["label"] == "negative" for line in finals), finals
