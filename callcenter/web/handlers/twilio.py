"""Twilio (and SignalWire) webhooks: the voice webhook answers TwiML that streams the call's
audio to us and holds the caller; status callbacks and <Gather> actions become canonical
events; the hold's callback menu answers TwiML (services.twilio_voice). Every request must
carry a valid X-Twilio-Signature (403 otherwise), checked against the public URL Twilio
requested, query included."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from callcenter.services.twilio_callbacks import MenuUrls
from callcenter.services.twilio_voice import TwilioRequest
from callcenter.web.requests import read_body
from callcenter.web.state import SERVICES, SETTINGS

TWIML = "text/xml"
HOLD_PATH = "/gateways/twilio/hold"
STREAM_PATH = "/media/twilio"
OFFER_PATH = "/gateways/twilio/callback/offer"
CONFIRM_PATH = "/gateways/twilio/callback/confirm"
NUMBER_PATH = "/gateways/twilio/callback/number"
SMS_STATUS_PATH = "/gateways/twilio/sms-status"


def public_url(request: web.Request, path_qs: str | None = None) -> URL:
    """The URL a gateway used (or should use) for this service: the configured public URL
    behind a proxy, else what this request says."""
    base = request.app[SETTINGS].public_url
    root = URL(base) if base else request.url.with_path("/").with_query(None)
    return root.join(URL(path_qs if path_qs is not None else request.path_qs))


async def _twilio_request(request: web.Request) -> TwilioRequest:
    body = await read_body(request)
    return TwilioRequest(str(public_url(request)), request.headers, body)


def _menu_urls(request: web.Request) -> MenuUrls:
    return MenuUrls(
        hold=str(public_url(request, HOLD_PATH)),
        offer=str(public_url(request, OFFER_PATH)),
        confirm=str(public_url(request, CONFIRM_PATH)),
        number=str(public_url(request, NUMBER_PATH)),
    )


def _stream_url(request: web.Request) -> str:
    stream = public_url(request, STREAM_PATH)
    return str(stream.with_scheme("wss" if stream.scheme == "https" else "ws"))


async def voice(request: web.Request) -> web.Response:
    """The call's first request: record it, stream its audio to us, hold the caller."""
    text = await request.app[SERVICES].twilio_voice.voice(
        await _twilio_request(request),
        urls=_menu_urls(request),
        stream_url=_stream_url(request),
    )
    return _twiml(text)


async def status(request: web.Request) -> web.Response:
    await request.app[SERVICES].twilio_voice.status(await _twilio_request(request))
    return web.Response(status=204)


async def hold(request: web.Request) -> web.Response:
    """The <Redirect> that keeps a hold going: the next turn."""
    text = await request.app[SERVICES].twilio_voice.hold(
        await _twilio_request(request), urls=_menu_urls(request)
    )
    return _twiml(text)


async def gather(request: web.Request) -> web.Response:
    """A <Gather> action: the digits become `call.dtmf`; the caller keeps holding."""
    text = await request.app[SERVICES].twilio_voice.gather(
        await _twilio_request(request),
        request.match_info["step"],
        urls=_menu_urls(request),
    )
    return _twiml(text)


async def callback_offer(request: web.Request) -> web.Response:
    """The hold's "press 1 to be called back"."""
    text = await request.app[SERVICES].twilio_voice.callback_offer(
        await _twilio_request(request), urls=_menu_urls(request)
    )
    return _twiml(text)


async def callback_confirm(request: web.Request) -> web.Response:
    """ "Press 1 to be called at <number>, or 2 to enter another number"."""
    text = await request.app[SERVICES].twilio_voice.callback_confirm(
        await _twilio_request(request), urls=_menu_urls(request)
    )
    return _twiml(text)


async def callback_number(request: web.Request) -> web.Response:
    """The number the caller keyed in."""
    text = await request.app[SERVICES].twilio_voice.callback_number(
        await _twilio_request(request), urls=_menu_urls(request)
    )
    return _twiml(text)


async def sms(request: web.Request) -> web.Response:
    """An incoming SMS (Twilio Messaging webhook)."""
    text = await request.app[SERVICES].twilio_messaging.incoming(await _twilio_request(request))
    return _twiml(text)


async def sms_status(request: web.Request) -> web.Response:
    """The delivery status of an agent's SMS reply."""
    await request.app[SERVICES].twilio_messaging.status(await _twilio_request(request))
    return web.Response(status=204)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type=TWIML)
