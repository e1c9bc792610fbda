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
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.app import create_app
from callcenter.media.codecs import pcm16_to_ulaw
from callcenter.settings import Secret, Settings
from callcenter.storage.embedded import free_port
from callcenter.web.state import BUS
from tests.bus_events import BusEvents
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
async def test_an_angry_line_raises_an_alert_on_the_bus_soon_after_it_is_said(
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
    # the call arrives as Twilio places it: the signed voice webhook, whose TwiML binds
    # the media stream to the call with the <Parameter>s Twilio echoes in its start
    form = {
        "AccountSid": ACCOUNT,
        "CallSid": CALL_SID,
        "From": "+15550009999",
        "To": "+15559870000",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }
    voice_url = str(client.make_url("/gateways/twilio/voice"))
    voice_signature = RequestValidator(TOKEN).compute_signature(voice_url, form)
    answer = await client.post(
        "/gateways/twilio/voice", data=form, headers={"X-Twilio-Signature": voice_signature}
    )
    assert answer.status == 200, await answer.text()
    stream = ET.fromstring(await answer.text()).find("./Start/Stream")
    assert stream is not None
    parameters = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    listener = BusEvents(client.app[BUS])
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
            "customParameters": parameters,
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
        # in real time: the line, then up to 10 s of the caller waiting for an answer (a
        # generous deadline; bench/asr.py measures the end-of-speech latency)
        for index, pcm in enumerate(frames + [silence] * 500):
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
    assert alert["call_id"] == CALL_SID and alert["caller"] == "+15550009999"
    words = set(" ".join(line["text"] for line in finals).split())
    assert len(words & {"hold", "hour", "terrible", "cancel", "account"}) >= 3, finals
    assert any(line["label"] == "negative" for line in finals), finals
