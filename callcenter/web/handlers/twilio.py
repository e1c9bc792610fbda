"""Twilio (and SignalWire) webhooks: the voice webhook answers TwiML that streams the call's
audio to us and holds the caller; status callbacks and <Gather> actions become canonical
events (services.twilio_voice). Every request must carry a valid X-Twilio-Signature (403
otherwise), checked against the public URL Twilio requested."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from callcenter.services.twilio_voice import TwilioRequest
from callcenter.web.requests import read_body
from callcenter.web.state import SERVICES, SETTINGS

TWIML = "text/xml"
HOLD_PATH = "/gateways/twilio/hold"
STREAM_PATH = "/media/twilio"


def public_url(request: web.Request, path_qs: str | None = None) -> URL:
    """The URL a gateway used (or should use) for this service: the configured public URL
    behind a proxy, else what this request says."""
    base = request.app[SETTINGS].public_url
    root = URL(base) if base else request.url.with_path("/").with_query(None)
    return root.join(URL(path_qs if path_qs is not None else request.path_qs))


async def _twilio_request(request: web.Request) -> TwilioRequest:
    body = await read_body(request)
    return TwilioRequest(str(public_url(request)), request.headers, body)


def _redirect_url(request: web.Request) -> str:
    return str(public_url(request, HOLD_PATH))


def _stream_url(request: web.Request) -> str:
    stream = public_url(request, STREAM_PATH)
    return str(stream.with_scheme("wss" if stream.scheme == "https" else "ws"))


async def voice(request: web.Request) -> web.Response:
    """The call's first request: record it, stream its audio to us, hold the caller."""
    text = await request.app[SERVICES].twilio_voice.voice(
        await _twilio_request(request),
        redirect_url=_redirect_url(request),
        stream_url=_stream_url(request),
    )
    return web.Response(text=text, content_type=TWIML)


async def status(request: web.Request) -> web.Response:
    await request.app[SERVICES].twilio_voice.status(await _twilio_request(request))
    return web.Response(status=204)


async def hold(request: web.Request) -> web.Response:
    """The <Redirect> that keeps a long hold going."""
    text = request.app[SERVICES].twilio_voice.hold(
        await _twilio_request(request), redirect_url=_redirect_url(request)
    )
    return web.Response(text=text, content_type=TWIML)


async def gather(request: web.Request) -> web.Response:
    """A <Gather> action: the digits become `call.dtmf`; the caller keeps holding."""
    text = await request.app[SERVICES].twilio_voice.gather(
        await _twilio_request(request),
        request.match_info["step"],
        redirect_url=_redirect_url(request),
    )
    return web.Response(text=text, content_type=TWIML)
