"""Acting as Twilio against the app: the signed voice webhook, the stream parameters of the
TwiML it answers (what Twilio echoes in `start.customParameters`), and Media Streams
messages. Test support, not tests."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from typing import Any

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.services.twilio_callbacks import MenuUrls
from tests.conftest import AppClient

ACCOUNT = "AC" + "1" * 32
TOKEN = "twilio-auth-token"
CALL_SID = "CA" + "ab" * 16
STREAM_SID = "MZ" + "cd" * 16
MULAW_SILENCE = b"\xff"


def call_form(status: str, sequence: str, call_sid: str = CALL_SID) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "CallSid": call_sid,
        "From": "+15551230000",
        "To": "+15559870000",
        "Direction": "inbound",
        "CallStatus": status,
        "SequenceNumber": sequence,
        "ApiVersion": "2010-04-01",
    }


def menu_urls(public: str) -> MenuUrls:
    """The hold's and the callback menu's URLs under `public`, as the handlers make them."""
    return MenuUrls(
        hold=f"{public}/gateways/twilio/hold",
        offer=f"{public}/gateways/twilio/callback/offer",
        confirm=f"{public}/gateways/twilio/callback/confirm",
        number=f"{public}/gateways/twilio/callback/number",
    )


async def signed_post(client: AppClient, path: str, form: dict[str, str]) -> Any:
    url = str(client.make_url(path))
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    return await client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def stream_parameters(twiml: str) -> dict[str, str]:
    """The <Parameter>s of the TwiML's <Start><Stream>, as Twilio returns them."""
    stream = ET.fromstring(twiml).find("./Start/Stream")
    assert stream is not None, twiml
    return {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}


async def place_call(client: AppClient, call_sid: str = CALL_SID) -> dict[str, str]:
    """A new call through the signed voice webhook; the stream parameters it answered."""
    answer = await signed_post(
        client, "/gateways/twilio/voice", call_form("ringing", "0", call_sid)
    )
    assert answer.status == 200, await answer.text()
    return stream_parameters(await answer.text())


def handshake_headers(client: AppClient) -> dict[str, str]:
    """X-Twilio-Signature of the stream's handshake: the URL alone, the same every time."""
    url = str(client.make_url("/media/twilio"))
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}


def start(
    parameters: dict[str, str],
    *,
    account: str = ACCOUNT,
    call_sid: str = CALL_SID,
    tracks: tuple[str, ...] = ("inbound",),
) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": STREAM_SID,
            "start": {
                "streamSid": STREAM_SID,
                "accountSid": account,
                "callSid": call_sid,
                "tracks": list(tracks),
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def media(index: int, payload: bytes, track: str = "inbound") -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(index + 2),
            "streamSid": STREAM_SID,
            "media": {
                "track": track,
                "chunk": str(index + 1),
                "timestamp": str(index * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


def stop(sequence: int, call_sid: str = CALL_SID) -> str:
    return json.dumps(
        {
            "event": "stop",
            "sequenceNumber": str(sequence),
            "streamSid": STREAM_SID,
            "stop": {"accountSid": ACCOUNT, "callSid": call_sid},
        }
    )


CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
