"""The SMS channel on Twilio: incoming-message webhooks and status callbacks decoded (and
signed as Twilio's own RequestValidator signs them), and the Messages create against a
loopback server speaking Twilio's wire format."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, quote

import aiohttp
import pytest

# the twilio package ships no type hints; it is only the reference signer here
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.domain.messages import MAX_BODY_CHARS, Channel, InboundMessage, OutboundMessage
from callcenter.errors import InvalidInput, ReplyNotSent
from callcenter.gateways.twilio.messages_rest import (
    MAX_SMS_BODY_CHARS,
    TwilioMessagesClient,
    TwilioSmsSender,
    sms_length,
)
from callcenter.gateways.twilio.messaging import (
    EMPTY_BODY,
    MessageStatus,
    MessageStatusReport,
    inbound_message,
    media_attachments,
    status_report,
)
from callcenter.gateways.twilio.rest import TwilioApiError, TwilioRestClient
from callcenter.gateways.twilio.signature import validate
from callcenter.storage.embedded import free_port
from tests.gateways.twilio_messages_fake import INVALID_TO, FakeTwilioMessages

ACCOUNT_SID = "AC3f1f2a5b8c9d0e1f2a3b4c5d6e7f8a9b"
AUTH_TOKEN = "b9d3e1c5a7f2468e0c1d3b5a7f9e2c4d"
SERVICE_SID = "MG9752274e9e519418a7406176694466fa"
SMS_SID = "SM1f0e5a2b3c4d5e6f7a8b9c0d1e2f3a4b"
MMS_SID = "MM6a1b2c3d4e5f60718293a4b5c6d7e8f9"
CUSTOMER = "+12125550199"
OUR_NUMBER = "+14155550100"
WEBHOOK_URL = "https://cc.example.com/gateways/twilio/sms"
STATUS_URL = "https://cc.example.com/gateways/twilio/sms-status"
MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MMS_SID}/Media/"


# The bodies as Twilio posts them (parameter order and encoding as on the wire).
SMS_BODY = (
    f"ToCountry=US&ToState=CA&SmsMessageSid={SMS_SID}&NumMedia=0&ToCity=SAN+FRANCISCO"
    f"&FromZip=10001&SmsSid={SMS_SID}&FromState=NY&SmsStatus=received&FromCity=NEW+YORK"
    "&Body=Hi%2C+my+order+%234411+has+not+arrived+yet&FromCountry=US&To=%2B14155550100"
    f"&MessagingServiceSid={SERVICE_SID}&ToZip=94105&NumSegments=1&MessageSid={SMS_SID}"
    f"&AccountSid={ACCOUNT_SID}&From=%2B12125550199&ApiVersion=2010-04-01"
)
MMS_MEDIA = (
    f"NumMedia=2&MediaContentType0=image%2Fjpeg&MediaUrl0={quote(MEDIA_URL, safe='')}"
    f"ME0c1f7e9a3b5d2468ace013579bdf2468&MediaContentType1=image%2Fpng"
    f"&MediaUrl1={quote(MEDIA_URL, safe='')}ME1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a"
)
STATUS_BODY = (
    f"SmsSid={SMS_SID}&SmsStatus=sent&MessageStatus=sent&To=%2B12125550199"
    f"&MessagingServiceSid={SERVICE_SID}&MessageSid={SMS_SID}&AccountSid={ACCOUNT_SID}"
    "&From=%2B14155550100&ApiVersion=2010-04-01"
)


def _form(body: str) -> dict[str, str]:
    return dict(parse_qsl(body, keep_blank_values=True))


def sms_webhook(**changes: str) -> dict[str, str]:
    """An incoming SMS webhook with every parameter Twilio sends for one."""
    return {**_form(SMS_BODY), **changes}


def mms_webhook(body: str = "") -> dict[str, str]:
    """An incoming MMS with two pictures."""
    ids = {"MessageSid": MMS_SID, "SmsMessageSid": MMS_SID, "SmsSid": MMS_SID}
    return {**sms_webhook(Body=body, **ids), **_form(MMS_MEDIA)}


def status_callback(status: str, **changes: str) -> dict[str, str]:
    return {**_form(STATUS_BODY), "SmsStatus": status, "MessageStatus": status, **changes}


# --- the incoming-message webhook --------------------------------------------------------


def test_an_sms_webhook_is_the_customers_inbound_message() -> None:
    assert inbound_message(sms_webhook()) == InboundMessage(
        channel=Channel.SMS,
        sender=CUSTOMER,
        recipient=OUR_NUMBER,
        body="Hi, my order #4411 has not arrived yet",
        external_id=SMS_SID,
    )
    assert inbound_message(sms_webhook(To="72345")).recipient == "72345"  # a short code
    for body in ("Zo\u00eb \U0001f4e6 \uc548\ub155", "x" * MAX_BODY_CHARS):
        assert inbound_message(sms_webhook(Body=body)).body == body


def test_an_mms_without_text_names_its_attachments_and_not_their_urls() -> None:
    form = mms_webhook()
    message = inbound_message(form)
    assert message.body == "[2 attachments: image/jpeg, image/png]"
    assert message.external_id == MMS_SID
    attachments = media_attachments(form)
    assert [(a.content_type, a.url) for a in attachments] == [
        ("image/jpeg", form["MediaUrl0"]),
        ("image/png", form["MediaUrl1"]),
    ]
    assert "https://" not in repr(attachments) + repr(message)


def test_an_mms_with_text_keeps_the_text_and_notes_the_attachments() -> None:
    form = {**mms_webhook("Here is the damaged box"), "NumMedia": "1"}
    assert inbound_message(form).body == "Here is the damaged box\n[1 attachment: image/jpeg]"
    odd = {**form, "MediaContentType0": "<script>"}
    assert inbound_message(odd).body.endswith("[1 attachment: unknown type]")
    with pytest.raises(InvalidInput) as caught:  # the note counts against the limit
        inbound_message(mms_webhook("x" * MAX_BODY_CHARS))
    assert caught.value.pointer == "/Body"


def test_a_message_with_neither_text_nor_media_is_still_shown() -> None:
    assert inbound_message(sms_webhook(Body="")).body == EMPTY_BODY
    assert inbound_message(sms_webhook(Body=" \n ")).body == EMPTY_BODY
    no_body = {k: v for k, v in sms_webhook().items() if k not in ("Body", "NumMedia")}
    assert inbound_message(no_body).body == EMPTY_BODY


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"MessageSid": ""}, "/MessageSid"),
        ({"MessageSid": "CA1f0e5a2b3c4d5e6f7a8b9c0d1e2f3a4b"}, "/MessageSid"),
        ({"MessageSid": SMS_SID + "00"}, "/MessageSid"),
        ({"From": ""}, "/From"),
        ({"From": "2125550199"}, "/From"),
        ({"From": "whatsapp:+12125550199"}, "/From"),
        ({"From": "+0125550199"}, "/From"),
        ({"From": "+1212555019912345"}, "/From"),
        ({"To": ""}, "/To"),
        ({"To": "client:agent"}, "/To"),
        ({"Body": "x" * (MAX_BODY_CHARS + 1)}, "/Body"),
        ({"NumMedia": "two"}, "/NumMedia"),
        ({"NumMedia": "11"}, "/NumMedia"),
        ({"NumMedia": "-1"}, "/NumMedia"),
    ],
)
def test_bad_webhooks_name_the_field(changes: dict[str, str], pointer: str) -> None:
    form = sms_webhook(**changes)
    for bad in (form, {name: value for name, value in form.items() if value}):  # "" or absent
        with pytest.raises(InvalidInput) as caught:
            inbound_message(bad)
        assert caught.value.pointer == pointer


def test_bad_media_urls_are_refused() -> None:
    missing = {k: v for k, v in mms_webhook().items() if k != "MediaUrl1"}
    with pytest.raises(InvalidInput) as caught:
        media_attachments(missing)
    assert caught.value.pointer == "/MediaUrl1"
    with pytest.raises(InvalidInput) as caught:
        media_attachments({**mms_webhook(), "MediaUrl0": "http://169.254.169.254/latest"})
    assert caught.value.pointer == "/MediaUrl0"
    assert media_attachments(sms_webhook()) == ()


def test_a_webhook_signed_by_twilio_validates_and_a_tampered_body_does_not() -> None:
    form = mms_webhook("Here is the damaged box")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(WEBHOOK_URL, form)
    assert validate(AUTH_TOKEN, WEBHOOK_URL, form, signature)
    assert inbound_message(form).body.startswith("Here is the damaged box")
    for forged in (
        {**form, "Body": "Here is the damaged box!"},
        {**form, "From": "+12125550198"},
        {**form, "MediaUrl0": "https://evil.example/x.jpg"},
        {k: v for k, v in form.items() if k != "MediaUrl1"},
    ):
        assert not validate(AUTH_TOKEN, WEBHOOK_URL, forged, signature)
    assert not validate(AUTH_TOKEN, STATUS_URL, form, signature)


# --- status callbacks --------------------------------------------------------------------


def test_status_callbacks_are_typed_reports() -> None:
    assert status_report(status_callback("delivered")) == MessageStatusReport(
        message_sid=SMS_SID,
        status=MessageStatus.DELIVERED,
        error_code=None,
        to=CUSTOMER,
        from_=OUR_NUMBER,
    )
    form = status_callback("undelivered", ErrorCode="30003")
    failed = status_report(form)
    assert (failed.status, failed.error_code) == (MessageStatus.UNDELIVERED, 30003)
    assert failed.event_id == f"twilio:{SMS_SID}:undelivered"
    for status in ("queued", "sent", "delivered", "read", "undelivered", "failed"):
        reported = status_report(status_callback(status))
        assert reported.not_delivered == (status in ("undelivered", "failed"))
    signature = RequestValidator(AUTH_TOKEN).compute_signature(STATUS_URL, form)
    assert validate(AUTH_TOKEN, STATUS_URL, form, signature)
    assert not validate(AUTH_TOKEN, STATUS_URL, {**form, "MessageStatus": "delivered"}, signature)


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"MessageStatus": ""}, "/MessageStatus"),
        ({"MessageStatus": "lost"}, "/MessageStatus"),
        ({"ErrorCode": "30003a"}, "/ErrorCode"),
        ({"MessageSid": "nope"}, "/MessageSid"),
        ({"To": "+1" * 200}, "/To"),
    ],
)
def test_bad_status_callbacks_name_the_field(changes: dict[str, str], pointer: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        status_report(status_callback("sent", **changes))
    assert caught.value.pointer == pointer


# --- the Messages create -----------------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioMessages]:
    async with FakeTwilioMessages(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def messages_client(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    messaging_service_sid: str | None = None,
    max_backoff_seconds: float = 8.0,
    timeout_seconds: float = 10.0,
) -> TwilioMessagesClient:
    """A client with a tiny first back-off, so retries cost milliseconds."""
    rest = TwilioRestClient(
        session,
        ACCOUNT_SID,
        AUTH_TOKEN,
        base_url=base_url,
        max_attempts=3,
        first_backoff_seconds=0.001,
        max_backoff_seconds=max_backoff_seconds,
        timeout_seconds=timeout_seconds,
    )
    return TwilioMessagesClient(
        rest, messaging_service_sid=messaging_service_sid, status_callback=STATUS_URL
    )


def reply(body: str = "Sorry about that! It ships today.", to: str = CUSTOMER) -> OutboundMessage:
    return OutboundMessage(channel=Channel.SMS, to=to, from_=OUR_NUMBER, body=body)


async def test_a_create_posts_the_form_with_basic_auth_and_returns_the_sid(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    sid = await messages_client(session, twilio.url).create_message(reply())
    assert [created["sid"] for created in twilio.created] == [sid]
    assert sid.startswith("SM") and len(sid) == 34
    (request,) = twilio.requests
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.authorization == f"Basic {credentials}"
    assert request.account_sid == ACCOUNT_SID
    assert request.form == (
        ("To", CUSTOMER),
        ("From", OUR_NUMBER),
        ("Body", "Sorry about that! It ships today."),
        ("StatusCallback", STATUS_URL),
    )
    assert (twilio.created[0]["status"], twilio.created[0]["num_segments"]) == ("queued", "1")


async def test_a_messaging_service_replaces_the_from_number(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    client = messages_client(session, twilio.url, messaging_service_sid=SERVICE_SID)
    await client.create_message(reply())
    assert twilio.requests[0].fields["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in twilio.requests[0].fields
    assert twilio.created[0]["status"] == "accepted"


async def test_429_is_retried_after_retry_after(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    twilio.fail_next(1, 429, retry_after="30")
    started = time.monotonic()
    sid = await messages_client(session, twilio.url, max_backoff_seconds=0.2).create_message(
        reply()
    )
    assert 0.19 <= time.monotonic() - started < 5  # waited the capped 0.2 s, not 0.001 s
    assert len(twilio.requests) == 2
    assert [created["sid"] for created in twilio.created] == [sid]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_not_sent_again(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession, status: int
) -> None:
    twilio.fail_next(1, status)
    with pytest.raises(TwilioApiError) as caught:
        await messages_client(session, twilio.url).create_message(reply())
    assert caught.value.status == status
    assert len(twilio.requests) == 1


async def test_a_timeout_or_a_dropped_connection_is_not_sent_again(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    twilio.stall_next(1.0)
    with pytest.raises(TwilioApiError) as caught:
        await messages_client(session, twilio.url, timeout_seconds=0.2).create_message(reply())
    assert caught.value.status is None
    twilio.drop_next()
    with pytest.raises(TwilioApiError) as caught:
        await messages_client(session, twilio.url).create_message(reply())
    assert caught.value.status is None
    assert len(twilio.requests) == 2


async def test_an_unreachable_api_is_retried_then_reported(
    session: aiohttp.ClientSession,
) -> None:
    with pytest.raises(TwilioApiError) as caught:
        await messages_client(session, f"http://127.0.0.1:{free_port()}").create_message(reply())
    assert caught.value.status is None
    assert "cannot connect" in caught.value.message


async def test_an_invalid_to_is_twilios_21211_and_final(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(TwilioApiError) as caught:
        await messages_client(session, twilio.url).create_message(reply(to=INVALID_TO))
    error = caught.value
    assert (error.status, error.code) == (400, 21211)
    assert error.message == f"The 'To' number {INVALID_TO} is not a valid phone number."
    assert error.more_info == "https://www.twilio.com/docs/errors/21211"
    assert len(twilio.requests) == 1


async def test_a_body_too_long_for_twilio_is_refused_before_any_request(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    client = messages_client(session, twilio.url)
    for body in ("x" * (MAX_SMS_BODY_CHARS + 1), "\U0001f4e6" * 801):
        with pytest.raises(InvalidInput) as caught:
            await client.create_message(reply(body))
        assert caught.value.pointer == "/body"
    assert twilio.requests == []
    # the longest bodies Twilio takes go through (an emoji counts as two)
    await client.create_message(reply("x" * MAX_SMS_BODY_CHARS))
    await client.create_message(reply("\U0001f4e6" * 800))
    assert [created["num_segments"] for created in twilio.created] == ["11", "24"]
    assert sms_length("\U0001f4e6" * 800) == MAX_SMS_BODY_CHARS


async def test_bad_arguments(session: aiohttp.ClientSession) -> None:
    rest = TwilioRestClient(session, ACCOUNT_SID, AUTH_TOKEN, base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="Messaging Service SID"):
        TwilioMessagesClient(rest, messaging_service_sid="MGnope")
    with pytest.raises(ValueError, match="not an SMS"):
        email = OutboundMessage(
            channel=Channel.EMAIL, to="a@x.example", from_="b@x.example", body="x"
        )
        await TwilioMessagesClient(rest).create_message(email)


async def test_the_sender_says_whether_a_failed_sms_may_have_gone_out(
    twilio: FakeTwilioMessages, session: aiohttp.ClientSession
) -> None:
    sender = TwilioSmsSender(messages_client(session, twilio.url))
    assert await sender.send(reply()) == twilio.created[0]["sid"]
    with pytest.raises(ReplyNotSent, match="Twilio refused it") as refused:
        await sender.send(reply(to=INVALID_TO))
    assert isinstance(refused.value.__cause__, TwilioApiError)
    assert refused.value.__cause__.code == 21211
    twilio.fail_next(1, 503)
    with pytest.raises(ReplyNotSent, match="may have been sent"):
        await sender.send(reply())
    assert len(twilio.requests) == 3
