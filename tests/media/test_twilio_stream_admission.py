"""A Twilio Media Stream is admitted at its `start` only when the TwiML the server answered
bound it to a live Twilio call of the configured account. The handshake signature alone
(one fixed string per deployment) no longer attaches a stream to any call: every other
start closes the socket with 1008 and a reason, is counted, and opens no leg."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType

from callcenter.gateways.twilio.stream_binding import BINDING_LIFETIME_SECONDS, stream_binding
from callcenter.media.frames import Track
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.media.conftest import RecordingSink, rejected
from tests.media.twilio_peer import (
    ACCOUNT,
    CALL_SID,
    CONNECTED,
    MULAW_SILENCE,
    TOKEN,
    call_form,
    handshake_headers,
    media,
    place_call,
    signed_post,
    start,
    stop,
)
from tests.polling import eventually

MediaApp = tuple[AppClient, RecordingSink]
CHUNK = MULAW_SILENCE * 160  # 20 ms


async def test_the_stream_the_twiml_started_is_admitted(media_app: MediaApp) -> None:
    client, recorder = media_app
    parameters = await place_call(client)
    assert set(parameters) == {"call_id", "binding_expires", "binding"}
    async with client.ws_connect("/media/twilio", headers=handshake_headers(client)) as ws:
        await ws.send_str(CONNECTED)
        await ws.send_str(start(parameters, tracks=("inbound", "outbound")))
        for index in range(50):
            await ws.send_str(media(index, CHUNK))
            await ws.send_str(media(index, CHUNK, track="outbound"))
        await ws.send_str(stop(999))
        await eventually(lambda: len(recorder.closed_legs) == 2)
    assert set(recorder.opened_legs) == {
        (CALL_SID, Track.CALLER, 8000),
        (CALL_SID, Track.AGENT, 8000),
    }
    assert len(recorder.frames) == 100
    assert {f.call_id for f in recorder.frames} == {CALL_SID}
    for reason in ("bad_binding", "foreign_account", "unknown_call", "flood", "invalid"):
        assert rejected(client, "twilio", reason) is None


async def _forged(client: AppClient) -> tuple[dict[str, str], str]:
    genuine = await place_call(client)
    return {
        **genuine,
        "binding": stream_binding("not-the-token", CALL_SID, now=time.time())["binding"],
    }, ACCOUNT


async def _missing(client: AppClient) -> tuple[dict[str, str], str]:
    await place_call(client)
    return {"call_id": CALL_SID}, ACCOUNT  # what every stream carried before the binding


async def _expired(client: AppClient) -> tuple[dict[str, str], str]:
    await place_call(client)
    made = time.time() - BINDING_LIFETIME_SECONDS - 60
    return {"call_id": CALL_SID, **stream_binding(TOKEN, CALL_SID, now=made)}, ACCOUNT


async def _another_calls_binding(client: AppClient) -> tuple[dict[str, str], str]:
    other = "CA" + "ef" * 16
    await place_call(client)
    return {**await place_call(client, other), "call_id": CALL_SID}, ACCOUNT


async def _foreign_account(client: AppClient) -> tuple[dict[str, str], str]:
    return await place_call(client), "AC" + "9" * 32


async def _unknown_call(client: AppClient) -> tuple[dict[str, str], str]:
    # a binding the server could have made, for a call it has never seen
    return {"call_id": CALL_SID, **stream_binding(TOKEN, CALL_SID, now=time.time())}, ACCOUNT


async def _ended_call(client: AppClient) -> tuple[dict[str, str], str]:
    parameters = await place_call(client)
    ended = await signed_post(client, "/gateways/twilio/status", call_form("completed", "3"))
    assert ended.status == 204
    return parameters, ACCOUNT


async def _not_a_twilio_call(client: AppClient) -> tuple[dict[str, str], str]:
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    created = await client.post(
        "/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"type": "call.created", "event_id": "g1", "call_id": CALL_SID, "from": "+1555"},
    )
    assert created.status == 200
    return {"call_id": CALL_SID, **stream_binding(TOKEN, CALL_SID, now=time.time())}, ACCOUNT


Case = Callable[[AppClient], Awaitable[tuple[dict[str, str], str]]]
REFUSED: dict[str, tuple[Case, str, str]] = {
    "forged binding": (_forged, "bad_binding", "does not match"),
    "no binding": (_missing, "bad_binding", "no binding"),
    "expired binding": (_expired, "bad_binding", "expired"),
    "another call's binding": (_another_calls_binding, "bad_binding", "does not match"),
    "foreign account": (_foreign_account, "foreign_account", "accountSid"),
    "unknown call": (_unknown_call, "unknown_call", "no live Twilio call"),
    "ended call": (_ended_call, "unknown_call", "no live Twilio call"),
    "not a Twilio call": (_not_a_twilio_call, "unknown_call", "no live Twilio call"),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_a_stream_not_bound_to_a_live_twilio_call_is_refused(
    media_app: MediaApp, case: str
) -> None:
    client, recorder = media_app
    make, reason, says = REFUSED[case]
    parameters, account = await make(client)
    message: Any
    async with client.ws_connect("/media/twilio", headers=handshake_headers(client)) as ws:
        await ws.send_str(CONNECTED)
        await ws.send_str(start(parameters, account=account))
        for index in range(5):
            await ws.send_str(media(index, CHUNK))
        message = await ws.receive()
    assert (message.type, message.data) == (WSMsgType.CLOSE, 1008)
    assert says in str(message.extra)
    assert recorder.opened_legs == [] and recorder.frames == []
    assert rejected(client, "twilio", reason) == 1.0
