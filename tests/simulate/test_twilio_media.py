"""The simulator as Twilio against the real app (in process, real Redis): it opens the
stream the voice webhook's TwiML started with exactly that TwiML's <Parameter>s as its
customParameters, and the server admits it; a stream without them is closed, and the
simulator reports that as a refusal instead of streaming into a dead socket."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.clips import Clip
from callcenter.simulate.media_stream import StreamClosed, stream_twilio
from callcenter.simulate.twilio_gateway import http_url, stream_target, twilio_signature
from callcenter.storage.embedded import free_port
from callcenter.web.state import MEDIA
from tests.conftest import AppClient
from tests.media.conftest import RecordingSink
from tests.polling import eventually

ACCOUNT = "AC" + "3" * 32
TOKEN = "simulated-twilio-token"
CALL_SID = "CA" + "5a" * 16
CLIP = Clip("test", "neutral", b"\xff" * 4000)  # half a second of mu-law silence


async def test_the_simulator_streams_with_the_twimls_parameters(
    aiohttp_client: Callable[..., Awaitable[AppClient]], settings: Settings, redis_client: object
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    configured = dataclasses.replace(
        settings,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        public_url=public,
    )
    client = await aiohttp_client(create_app(configured), server_kwargs={"port": port})
    recorder = RecordingSink()
    client.app[MEDIA].listeners.append(recorder)
    form = {
        "AccountSid": ACCOUNT,
        "CallSid": CALL_SID,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+15550001234",
        "To": "+18005550100",
    }
    headers = {
        "X-Twilio-Signature": twilio_signature(TOKEN, public + "/gateways/twilio/voice", form)
    }
    answer = await client.post("/gateways/twilio/voice", data=form, headers=headers)
    assert answer.status == 200
    target = stream_target(await answer.text())
    assert target is not None
    assert set(target.parameters) == {"call_id", "binding_expires", "binding"}
    assert target.parameters["call_id"] == CALL_SID

    async def stream(parameters: dict[str, str]) -> int:
        assert target is not None
        async with aiohttp.ClientSession() as session:
            return await stream_twilio(
                session,
                target.url,
                signature=twilio_signature(TOKEN, http_url(target.url), {}),
                account_sid=ACCOUNT,
                call_sid=CALL_SID,
                stream_sid="MZ" + CALL_SID[2:],
                parameters=parameters,
                clip=CLIP,
                stop=asyncio.Event(),
            )

    sent = await stream(target.parameters)
    await eventually(lambda: len(recorder.closed_legs) == 1)
    assert len(recorder.frames) == sent > 0
    assert {f.call_id for f in recorder.frames} == {CALL_SID}

    with pytest.raises(StreamClosed, match="code 1008: the stream carries no binding"):
        await stream({"call_id": CALL_SID})
    assert len(recorder.opened_legs) == 1  # only the genuine stream's
