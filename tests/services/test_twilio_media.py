"""Twilio Media Streams sessions as a service, against the real Redis: a stream the voice
webhook bound to a live Twilio call delivers its audio; every other start, a binary frame
or an oversized chunk ends the session with the close kind and the counted reason; digits
on the stream are applied in owned tasks."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.domain.events import CallCreated
from callcenter.errors import Forbidden
from callcenter.gateways.twilio.stream_binding import stream_binding
from callcenter.media.frames import Track
from callcenter.metrics import Metrics
from callcenter.services.calls import CallQueryService
from callcenter.services.clock import SystemClock
from callcenter.services.media_sessions import CloseKind, Closing
from callcenter.services.twilio_media import TwilioMediaStreams
from callcenter.services.twilio_voice import TwilioRequest, TwilioSignatures, TwilioVoice
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.media.conftest import RecordingSink
from tests.media.twilio_peer import (
    ACCOUNT,
    CALL_SID,
    CONNECTED,
    MULAW_SILENCE,
    STREAM_SID,
    TOKEN,
    call_form,
    media,
    menu_urls,
    start,
    stop,
    stream_parameters,
)

STREAM_URL = "wss://cc.example.com/media/twilio"
CHUNK = MULAW_SILENCE * 160  # 20 ms
OTHER_SID = "CA" + "ef" * 16


class Streams:
    """A TwilioMediaStreams on the app's calls and events, recording what reaches the hub."""

    def __init__(self, client: AppClient, calls: CallQueryService | None = None) -> None:
        services = client.app[SERVICES]
        self.events = services.events
        self.metrics = Metrics()
        self.sink = RecordingSink()
        signatures = TwilioSignatures(TOKEN, metrics=self.metrics)
        self.voice = TwilioVoice(
            services.events, signatures, auth_token=TOKEN, hold_music_url=None, clock=SystemClock()
        )
        self.streams = TwilioMediaStreams(
            self.sink,
            calls or services.calls,
            services.events,
            signatures,
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            clock=SystemClock(),
            metrics=self.metrics,
        )

    async def place_call(self, call_sid: str = CALL_SID) -> dict[str, str]:
        form = call_form("ringing", "0", call_sid)
        url = "https://cc.example.com/gateways/twilio/voice"
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        request = TwilioRequest(url, {"X-Twilio-Signature": signature}, urlencode(form).encode())
        twiml = await self.voice.voice(
            request, urls=menu_urls("https://cc.example.com"), stream_url=STREAM_URL
        )
        return stream_parameters(twiml)

    def rejected(self, reason: str) -> float | None:
        return self.metrics.registry.get_sample_value(
            "callcenter_media_rejections_total", {"dialect": "twilio", "reason": reason}
        )


async def test_a_bound_stream_delivers_both_tracks_then_closes_its_legs(
    client: AppClient,
) -> None:
    streams = Streams(client)
    parameters = await streams.place_call()
    messages = [CONNECTED, start(parameters, tracks=("inbound", "outbound"))]
    for index in range(10):
        messages += [media(index, CHUNK), media(index, CHUNK, track="outbound")]
    session = streams.streams.open()
    closings = [await session.receive(message) for message in [*messages, stop(99)]]
    session.close()  # after stop: closes nothing twice
    assert closings == [None] * len(closings)
    assert streams.sink.opened_legs == [
        (CALL_SID, Track.CALLER, 8000),
        (CALL_SID, Track.AGENT, 8000),
    ]
    assert len(streams.sink.frames) == 20
    assert set(streams.sink.closed_legs) == {(CALL_SID, Track.CALLER), (CALL_SID, Track.AGENT)}
    assert len(streams.sink.closed_legs) == 2


async def _foreign(streams: Streams) -> str:
    return start(await streams.place_call(), account="AC" + "2" * 32)


async def _unbound(streams: Streams) -> str:
    await streams.place_call()
    return start({"call_id": CALL_SID})


async def _never_placed(streams: Streams) -> str:
    await streams.place_call()
    binding = stream_binding(TOKEN, OTHER_SID, now=time.time())
    return start({"call_id": OTHER_SID, **binding}, call_sid=OTHER_SID)


async def _not_twilio(streams: Streams) -> str:
    created = CallCreated(event_id="generic-1", call_id=OTHER_SID)
    await streams.events.apply(created, dialect="generic")
    binding = stream_binding(TOKEN, OTHER_SID, now=time.time())
    return start({"call_id": OTHER_SID, **binding}, call_sid=OTHER_SID)


@pytest.mark.parametrize(
    ("starting", "reason"),
    [
        (_foreign, "foreign_account"),
        (_unbound, "bad_binding"),
        (_never_placed, "unknown_call"),
        (_not_twilio, "unknown_call"),
    ],
)
async def test_a_start_that_may_not_stream_ends_the_session(
    client: AppClient, starting: Callable[[Streams], Awaitable[str]], reason: str
) -> None:
    streams = Streams(client)
    message = await starting(streams)
    closing = await streams.streams.open().receive(message)
    assert closing is not None and closing.kind is CloseKind.POLICY
    assert streams.rejected(reason) == 1
    assert streams.sink.opened_legs == []


async def test_a_binary_frame_is_unsupported_and_an_error_frame_too(client: AppClient) -> None:
    streams = Streams(client)
    for frame in (b"\x00\x01", None):
        closing = await streams.streams.open().receive(frame)
        assert closing == Closing(CloseKind.UNSUPPORTED, b"text frames only")
    assert streams.rejected("unsupported") == 2


async def test_an_oversized_chunk_is_too_big(client: AppClient) -> None:
    streams = Streams(client)
    session = streams.streams.open()
    await session.receive(start(await streams.place_call()))
    closing = await session.receive(media(0, MULAW_SILENCE * 8000))  # one second at once
    assert closing is not None and closing.kind is CloseKind.TOO_BIG
    assert closing.reason.startswith(b"media payload of 8000 bytes")
    assert streams.rejected("too_big") == 1
    session.close()
    assert streams.sink.closed_legs == [(CALL_SID, Track.CALLER)]


async def test_digits_on_the_stream_are_applied_and_drained(client: AppClient) -> None:
    streams = Streams(client)
    session = streams.streams.open()
    await session.receive(start(await streams.place_call()))
    digit = {
        "event": "dtmf",
        "sequenceNumber": "3",
        "streamSid": STREAM_SID,
        "dtmf": {"track": "inbound_track", "digit": "7"},
    }
    assert await session.receive(json.dumps(digit)) is None
    await streams.streams.drain()
    call = await client.app[SERVICES].calls.get(CALL_SID)
    assert call.attributes["dtmf"] == "7"


async def test_the_handshake_must_carry_twilios_signature(client: AppClient) -> None:
    streams = Streams(client)
    signature = RequestValidator(TOKEN).compute_signature(STREAM_URL, {})
    streams.streams.verify_handshake(STREAM_URL, {"X-Twilio-Signature": signature})
    with pytest.raises(Forbidden):
        streams.streams.verify_handshake(STREAM_URL, {"X-Twilio-Signature": "forged"})
    assert (
        streams.metrics.registry.get_sample_value(
            "callcenter_auth_failures_total", {"reason": "twilio_bad_signature"}
        )
        == 1
    )


@pytest.fixture
def unreachable_calls(closed_port_client: RespClient) -> CallQueryService:
    """Calls on a Redis nobody answers for. Request it before `client`: building the
    repository reads its Lua script, which `client`'s blocking-call guard would refuse."""
    repository = CallRepository(
        DocumentStore(closed_port_client),
        retention=timedelta(days=1),
        dedupe_window=timedelta(minutes=5),
    )
    return CallQueryService(repository)


async def test_a_storage_outage_at_start_ends_the_session_as_unavailable(
    unreachable_calls: CallQueryService, client: AppClient
) -> None:
    streams = Streams(client, calls=unreachable_calls)
    closing = await streams.streams.open().receive(start(await streams.place_call()))
    assert closing == Closing(CloseKind.UNAVAILABLE, b"storage unavailable, try again")
    assert streams.rejected("unavailable") == 1
