"""The Twilio voice webhooks as a service, against the real Redis: signatures checked as
Twilio's own RequestValidator makes them, refusals counted, events applied, and TwiML that
streams to the URL given and binds the stream to its call."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.domain.calls import CallState
from callcenter.errors import Forbidden, InvalidInput
from callcenter.gateways.twilio.stream_binding import bound_call_id
from callcenter.metrics import Metrics
from callcenter.services.clock import SystemClock
from callcenter.services.twilio_voice import TwilioRequest, TwilioSignatures, TwilioVoice
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.media.twilio_peer import CALL_SID, TOKEN, call_form, menu_urls, stream_parameters

PUBLIC = "https://cc.example.com"
VOICE_URL = f"{PUBLIC}/gateways/twilio/voice"
HOLD_URL = f"{PUBLIC}/gateways/twilio/hold"
STREAM_URL = "wss://cc.example.com/media/twilio"
URLS = menu_urls(PUBLIC)


def signed(url: str, form: dict[str, str], token: str = TOKEN) -> TwilioRequest:
    signature = RequestValidator(token).compute_signature(url, form)
    return TwilioRequest(url, {"X-Twilio-Signature": signature}, urlencode(form).encode())


def voice_service(client: AppClient, token: str = TOKEN) -> tuple[TwilioVoice, Metrics]:
    metrics = Metrics()
    voice = TwilioVoice(
        client.app[SERVICES].events,
        TwilioSignatures(token, metrics=metrics),
        auth_token=token,
        hold_music_url="https://cc.example.com/hold.mp3",
        clock=SystemClock(),
    )
    return voice, metrics


def failures(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "callcenter_auth_failures_total", {"reason": "twilio_" + reason}
    )


async def test_the_voice_webhook_records_the_call_and_binds_its_stream(
    client: AppClient,
) -> None:
    voice, _ = voice_service(client)
    twiml = await voice.voice(
        signed(VOICE_URL, call_form("ringing", "0")), urls=URLS, stream_url=STREAM_URL
    )
    stream = ET.fromstring(twiml).find("./Start/Stream")
    assert stream is not None and stream.attrib["url"] == STREAM_URL
    parameters = stream_parameters(twiml)
    assert bound_call_id(TOKEN, parameters, now=time.time()) == CALL_SID
    assert ET.fromstring(twiml).find("./Redirect") is not None
    call = await client.app[SERVICES].calls.get(CALL_SID)
    assert (call.state, call.dialect) == (CallState.QUEUED, "twilio")


async def test_a_local_peer_may_stream_over_plain_ws(client: AppClient) -> None:
    voice, _ = voice_service(client)
    twiml = await voice.voice(
        signed("http://127.0.0.1:8080/gateways/twilio/voice", call_form("ringing", "0")),
        urls=menu_urls("http://127.0.0.1:8080"),
        stream_url="ws://127.0.0.1:8080/media/twilio",
    )
    assert 'url="ws://127.0.0.1:8080/media/twilio"' in twiml


async def test_a_bad_signature_is_forbidden_counted_and_applies_nothing(
    client: AppClient,
) -> None:
    voice, metrics = voice_service(client)
    forged = signed(VOICE_URL, call_form("ringing", "0"), token="not-the-token")
    with pytest.raises(Forbidden, match="X-Twilio-Signature does not match"):
        await voice.voice(forged, urls=URLS, stream_url=STREAM_URL)
    assert failures(metrics, "bad_signature") == 1
    assert await client.app[SERVICES].calls.recent(None, 10) == []


async def test_without_an_auth_token_every_webhook_is_forbidden(client: AppClient) -> None:
    voice, metrics = voice_service(client, token="")
    with pytest.raises(Forbidden, match="CALLCENTER_TWILIO_AUTH_TOKEN"):
        await voice.status(signed(VOICE_URL, call_form("ringing", "0")))
    assert failures(metrics, "not_configured") == 1


async def test_a_form_that_is_not_utf8_is_invalid_before_the_signature(
    client: AppClient,
) -> None:
    voice, metrics = voice_service(client)
    with pytest.raises(InvalidInput, match="not UTF-8"):
        await voice.status(TwilioRequest(VOICE_URL, {}, b"CallSid=\xff\xfe"))
    assert failures(metrics, "bad_signature") is None


async def test_the_signature_algorithm_follows_the_settings_header(client: AppClient) -> None:
    voice, _ = voice_service(client)
    form = call_form("ringing", "0")
    headers = {
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
            VOICE_URL, form, algorithm="HMAC_SHA256"
        ),
        "X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256",
    }
    await voice.status(TwilioRequest(VOICE_URL, headers, urlencode(form).encode()))
    assert (await client.app[SERVICES].calls.get(CALL_SID)).state is CallState.QUEUED


async def test_hold_and_gather_keep_the_caller_holding_without_a_new_stream(
    client: AppClient,
) -> None:
    voice, _ = voice_service(client)
    await voice.status(signed(VOICE_URL, call_form("ringing", "0")))
    hold = await voice.hold(signed(HOLD_URL, {"CallSid": CALL_SID}), urls=URLS)
    gather_url = f"{PUBLIC}/gateways/twilio/gather/menu"
    gathered = await voice.gather(
        signed(gather_url, {"CallSid": CALL_SID, "Digits": "42"}), "menu", urls=URLS
    )
    for twiml in (hold, gathered):
        document = ET.fromstring(twiml)
        assert document.find("./Start") is None
        redirect = document.find("./Redirect")
        assert redirect is not None and redirect.text == HOLD_URL
    call = await client.app[SERVICES].calls.get(CALL_SID)
    assert call.attributes["dtmf"] == "42"
