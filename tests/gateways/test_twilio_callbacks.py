"""Twilio callbacks at the gateway's edge: the hold and menu TwiML (checked against
Twilio's own TwiML builder, escaping, absolute URLs), the callback leg's status callbacks
as canonical events, and the REST call create (its form as the `twilio` library sends it;
never repeated once it may have reached Twilio)."""

from __future__ import annotations

import asyncio
import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

# the twilio package ships no type hints; it is the reference here
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]
from twilio.twiml.voice_response import Gather, VoiceResponse  # type: ignore[import-untyped]

from callcenter.domain.calls import Call, Callback, CallState, Dial, DialState
from callcenter.domain.events import CallAnswered, CallEnded, CallRinging, EndReason
from callcenter.errors import DialRefused, InvalidInput
from callcenter.gateways.twilio.callback_dial import TwilioCallbackDialer, status_callback_url
from callcenter.gateways.twilio.events import callback_leg_event
from callcenter.gateways.twilio.rest import TwilioApiError, TwilioRestClient
from callcenter.gateways.twilio.twiml import (
    HoldTurn,
    dial_agent,
    gather_digits,
    hold_turn,
    say_and_hangup,
)
from callcenter.metrics import Metrics
from callcenter.storage.embedded import free_port

ACCOUNT_SID = "AC3f1f2a5b8c9d0e1f2a3b4c5d6e7f8a9b"
AUTH_TOKEN = "b9d3e1c5a7f2468e0c1d3b5a7f9e2c4d"
LEG_SID = "CA5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e"
MUSIC = "https://cdn.example.com/hold/jazz.mp3"
HOLD = "https://cc.example.com/gateways/twilio/hold?announced=1700000000"
OFFER = "https://cc.example.com/gateways/twilio/callback/offer"
CONFIRM = "https://cc.example.com/gateways/twilio/callback/confirm?number=15551230000&x=<&>"
NASTY = "<&>\"' \u00e9\U0001f4de"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
Tree = tuple[str, tuple[tuple[str, str], ...], str, tuple["Tree", ...]]


def tree(element: ET.Element) -> Tree:
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(tree(child) for child in element),
    )


def same(ours: str, theirs: VoiceResponse) -> bool:
    assert ours.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return tree(ET.fromstring(ours)) == tree(ET.fromstring(str(theirs)))


# --- TwiML ------------------------------------------------------------------------------


def test_a_hold_turn_announces_offers_and_plays_the_music_inside_the_offer() -> None:
    turn = HoldTurn(
        redirect_url=HOLD,
        announcement="Your estimated wait is about 3 minutes.",
        offer="Press 1 to be called back.",
        offer_url=OFFER,
    )
    expected = VoiceResponse()
    expected.say("Your estimated wait is about 3 minutes.")
    gather = Gather(input="dtmf", num_digits="1", action=OFFER, method="POST", timeout="1")
    gather.say("Press 1 to be called back.")
    gather.play(MUSIC, loop="1")
    expected.append(gather)
    expected.redirect(HOLD, method="POST")
    assert same(hold_turn(MUSIC, turn), expected)


def test_a_silent_turn_without_an_offer_pauses_then_redirects() -> None:
    expected = VoiceResponse()
    expected.pause(length="15")
    expected.redirect(HOLD, method="POST")
    assert same(hold_turn(None, HoldTurn(redirect_url=HOLD, pause_seconds=15)), expected)


def test_a_prompt_gathers_digits_then_falls_back_to_the_hold() -> None:
    document = gather_digits(
        NASTY,
        CONFIRM,
        fallback_url=HOLD,
        num_digits=18,
        finish_on_key="#",
        timeout_seconds=10,
        preface="Sorry & again",
    )
    expected = VoiceResponse()
    expected.say("Sorry & again")
    gather = Gather(
        input="dtmf",
        num_digits="18",
        action=CONFIRM,
        method="POST",
        timeout="10",
        finish_on_key="#",
    )
    gather.say(NASTY)
    expected.append(gather)
    expected.redirect(HOLD, method="POST")
    assert same(document, expected)
    assert "&amp;x=&lt;&amp;&gt;" in document  # the URL escaped, and absolute when parsed
    parsed = ET.fromstring(document).find("Gather")
    assert parsed is not None and parsed.get("action") == CONFIRM


def test_say_and_hangup_and_the_callback_bridge_escape_what_they_say() -> None:
    goodbye = VoiceResponse()
    goodbye.say(NASTY)
    goodbye.hangup()
    assert same(say_and_hangup(NASTY), goodbye)
    bridge = dial_agent("client:ann", "CA1", greeting=NASTY)
    root = ET.fromstring(bridge)
    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root.findtext("Say") == NASTY


def test_text_xml_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="XML cannot carry"):
        hold_turn(None, HoldTurn(redirect_url=HOLD, announcement="wait\x00"))
    with pytest.raises(ValueError, match="XML cannot carry"):
        gather_digits("press\x1b 1", OFFER, fallback_url=HOLD)


# --- the callback leg's status callbacks -------------------------------------------------


def _leg_form(status: str, sequence: str = "1", **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": LEG_SID,
        "CallStatus": status,
        "Direction": "outbound-api",
        "From": "+15559870000",
        "To": "+15551230000",
        "CallbackSource": "call-progress-events",
        "SequenceNumber": sequence,
        "Timestamp": "Tue, 05 Mar 2024 17:33:10 +0000",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        ("queued", CallRinging, None),
        ("initiated", CallRinging, None),
        ("ringing", CallRinging, None),
        ("in-progress", CallAnswered, None),
        ("busy", CallEnded, EndReason.BUSY),
        ("no-answer", CallEnded, EndReason.NO_ANSWER),
        ("failed", CallEnded, EndReason.FAILED),
        ("canceled", CallEnded, EndReason.CANCELED),
        ("completed", CallEnded, EndReason.NORMAL),
    ],
)
def test_the_leg_reports_on_our_call(status: str, kind: type, reason: EndReason | None) -> None:
    event = callback_leg_event(_leg_form(status, "4"), "call-7")
    assert isinstance(event, kind)
    assert event.call_id == "call-7"
    assert event.event_id == f"twilio:{LEG_SID}:{status}:4"
    assert event.occurred_at == datetime(2024, 3, 5, 17, 33, 10, tzinfo=UTC)
    # From and To of the leg are our caller id and the customer: not the call's parties
    assert (event.from_, event.to) == (None, None)
    assert event.attributes["callback_leg_sid"] == LEG_SID
    if isinstance(event, CallEnded):
        assert event.end_reason is reason


def test_a_bad_leg_report_names_the_field() -> None:
    with pytest.raises(InvalidInput) as bad_sid:
        callback_leg_event({**_leg_form("ringing"), "CallSid": "CA123"}, "call-7")
    assert bad_sid.value.pointer == "/CallSid"
    with pytest.raises(InvalidInput) as bad_status:
        callback_leg_event(_leg_form("on-fire"), "call-7")
    assert bad_status.value.pointer == "/CallStatus"


# --- the REST call create ----------------------------------------------------------------


class Recording(HttpClient):  # type: ignore[misc]  # untyped base class
    """The twilio library's HTTP client, keeping the request instead of sending it."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)
        self.data: dict[str, Any] = {}

    def request(self, method: str, uri: str, **kwargs: Any) -> Response:
        self.data = dict(kwargs.get("data") or {})
        return Response(201, json.dumps({"sid": LEG_SID, "status": "queued"}))


@dataclass
class FakeTwilio:
    """Twilio's Calls.json on loopback: records each create's form (repeated fields kept)."""

    creates: list[list[tuple[str, str]]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer with, in turn
    slow: bool = False

    async def create(self, request: web.Request) -> web.StreamResponse:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        assert request.headers.get("Authorization") == f"Basic {expected}"
        assert request.content_type == "application/x-www-form-urlencoded"
        self.creates.append(list((await request.post()).items()))  # type: ignore[arg-type]
        if self.slow:
            await asyncio.sleep(2)
        status = self.answers.pop(0) if self.answers else 201
        if status == 201:
            return web.json_response(
                {
                    "sid": LEG_SID,
                    "account_sid": ACCOUNT_SID,
                    "status": "queued",
                    "direction": "outbound-api",
                    "from": "+15559870000",
                    "to": "+15551230000",
                    "parent_call_sid": None,
                },
                status=201,
            )
        if status >= 500:
            return web.Response(status=status, text="<html>unavailable</html>")
        code = {400: 21211, 429: 20429}[status]
        return web.json_response(
            {"code": code, "message": "no", "more_info": "", "status": status}, status=status
        )


@pytest.fixture
async def twilio(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", fake.create)
    server = await aiohttp_server(app, host="127.0.0.1")
    yield fake, str(server.make_url("/"))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def rest(session: aiohttp.ClientSession, base_url: str, **options: Any) -> TwilioRestClient:
    return TwilioRestClient(
        session, ACCOUNT_SID, AUTH_TOKEN, base_url=base_url, first_backoff_seconds=0.001, **options
    )


def _as_lists(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


async def test_the_create_posts_the_form_the_twilio_library_posts(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, url = twilio
    twiml = dial_agent("client:ann", "call-7")
    status = "https://cc.example.com/gateways/twilio/status?callback=call-7&dial=d1"
    created = await rest(session, url).create_call(
        "+15551230000", "+15559870000", twiml, status, timeout_seconds=30
    )
    assert (created.sid, created.status, created.direction) == (LEG_SID, "queued", "outbound-api")
    recording = Recording()
    Client(ACCOUNT_SID, AUTH_TOKEN, http_client=recording).calls.create(
        to="+15551230000",
        from_="+15559870000",
        twiml=twiml,
        status_callback=status,
        status_callback_method="POST",
        status_callback_event=STATUS_EVENTS,
        timeout=30,
    )
    theirs = {
        name: [str(v) for v in value] if isinstance(value, list) else [str(value)]
        for name, value in recording.data.items()
    }
    assert _as_lists(fake.creates[0]) == theirs


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_after_sending_is_not_repeated(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession, status: int
) -> None:
    fake, url = twilio
    fake.answers = [status, 201]
    with pytest.raises(TwilioApiError) as raised:
        await rest(session, url).create_call("+15551230000", "+15559870000", "<Response/>", url)
    assert raised.value.status == status
    assert len(fake.creates) == 1


async def test_a_timeout_after_sending_is_not_repeated(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, url = twilio
    fake.slow = True
    client = rest(session, url, timeout_seconds=0.2)
    with pytest.raises(TwilioApiError, match="no answer") as raised:
        await client.create_call("+15551230000", "+15559870000", "<Response/>", url)
    assert raised.value.status is None
    assert len(fake.creates) == 1


async def test_a_refusal_is_final_and_429_is_retried(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, url = twilio
    fake.answers = [400]
    with pytest.raises(TwilioApiError) as raised:
        await rest(session, url).create_call("+1555", "+15559870000", "<Response/>", url)
    assert (raised.value.status, raised.value.code, len(fake.creates)) == (400, 21211, 1)
    fake.answers = [429, 201]
    created = await rest(session, url).create_call(
        "+15551230000", "+15559870000", "<Response/>", url
    )
    assert created.sid == LEG_SID and len(fake.creates) == 3


async def test_a_connection_never_made_is_retried_then_raised(
    session: aiohttp.ClientSession, closed_port_url: str
) -> None:
    client = rest(session, closed_port_url, max_attempts=3)
    with pytest.raises(TwilioApiError, match="cannot connect") as raised:
        await client.create_call("+15551230000", "+15559870000", "<Response/>", closed_port_url)
    assert raised.value.status is None


@pytest.fixture
def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


# --- the callback dialer -----------------------------------------------------------------


def _callback_call(to: str | None = "+15559870000") -> tuple[Call, Dial]:
    now = datetime.now(UTC)
    dial = Dial(id="d1", attempt=1, agent_id="ann", state=DialState.PLACING, created_at=now)
    callback = Callback(number="+15551230000", requested_at=now, source="ivr", dial=dial)
    call = Call(
        id="CA" + "ab" * 16,
        gateway_call_id="CA" + "ab" * 16,
        state=CallState.CONNECTED,
        queue="billing",
        created_at=now,
        updated_at=now,
        last_event_at=now,
        to=to,
        dialect="twilio",
        callback=callback,
    )
    return call, dial


def dialer(
    session: aiohttp.ClientSession, url: str, metrics: Metrics, caller_id: str | None = None
) -> TwilioCallbackDialer:
    return TwilioCallbackDialer(
        rest(session, url),
        public_url="https://cc.example.com/",
        agent_uri="client:{agent_id}",
        caller_id=caller_id,
        metrics=metrics,
    )


def delivered(metrics: Metrics, result: str) -> float | None:
    return metrics.registry.get_sample_value(
        "callcenter_webhook_deliveries_total", {"type": "twilio.call_create", "result": result}
    )


async def test_the_dialer_calls_the_customer_and_bridges_the_agent(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, url = twilio
    metrics = Metrics()
    call, dial = _callback_call()
    assert await dialer(session, url, metrics).dial(call, dial) == LEG_SID
    form = _as_lists(fake.creates[0])
    assert (form["To"], form["From"], form["Timeout"]) == (
        ["+15551230000"],
        ["+15559870000"],
        ["30"],
    )
    assert form["StatusCallback"] == [status_callback_url("https://cc.example.com/", call.id, "d1")]
    assert form["StatusCallback"][0] == (
        f"https://cc.example.com/gateways/twilio/status?callback={call.id}&dial=d1"
    )
    assert form["StatusCallbackEvent"] == STATUS_EVENTS
    root = ET.fromstring(form["Twiml"][0])
    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root.findtext("Dial/Client/Identity") == "ann"
    assert delivered(metrics, "delivered") == 1
    # a configured caller id wins over the number the customer called
    await dialer(session, url, metrics, caller_id="+15550001111").dial(call, dial)
    assert _as_lists(fake.creates[1])["From"] == ["+15550001111"]


async def test_the_dialer_tells_a_refusal_from_an_unknown_fate(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, url = twilio
    metrics = Metrics()
    call, dial = _callback_call()
    fake.answers = [400, 503]
    with pytest.raises(DialRefused, match="21211"):
        await dialer(session, url, metrics).dial(call, dial)
    with pytest.raises(TwilioApiError) as unknown:
        await dialer(session, url, metrics).dial(call, dial)
    assert not isinstance(unknown.value, DialRefused) and unknown.value.status == 503
    assert (delivered(metrics, "refused"), delivered(metrics, "failed")) == (1, 1)
    assert len(fake.creates) == 2
    nobody, _ = _callback_call(to=None)
    with pytest.raises(DialRefused, match="CALLCENTER_TWILIO_CALLER_ID"):
        await dialer(session, url, metrics).dial(nobody, dial)
    assert len(fake.creates) == 2
