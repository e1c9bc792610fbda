"""Twilio (and SignalWire) webhooks: the voice webhook answers TwiML that streams the call's
audio to us (the stream bound to the call, see gateways.twilio.stream_binding) and holds the
caller; status callbacks and <Gather> actions become canonical events. Every request must
carry a valid X-Twilio-Signature (403 otherwise)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from aiohttp import web
from yarl import URL

from callcenter.errors import Forbidden, InvalidInput
from callcenter.gateways.twilio import twiml
from callcenter.gateways.twilio.events import gather_event, status_event
from callcenter.gateways.twilio.signature import signature_algorithm, validate
from callcenter.gateways.twilio.stream_binding import stream_binding
from callcenter.web.requests import read_body
from callcenter.web.state import CLOCK, METRICS, SERVICES, SETTINGS

logger = logging.getLogger(__name__)

DIALECT = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
TWIML = "text/xml"


def public_url(request: web.Request, path_qs: str | None = None) -> URL:
    """The URL a gateway used (or should use) for this service: the configured public URL
    behind a proxy, else what this request says."""
    base = request.app[SETTINGS].public_url
    root = URL(base) if base else request.url.with_path("/").with_query(None)
    return root.join(URL(path_qs if path_qs is not None else request.path_qs))


async def _signed_form(request: web.Request) -> dict[str, str]:
    """The form Twilio posted, once its signature checks out; raises Forbidden (403)."""
    body = await read_body(request)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInput("form body is not UTF-8") from None
    await signed_by_twilio(request, params=pairs)
    return dict(pairs)


async def signed_by_twilio(
    request: web.Request, *, params: list[tuple[str, str]] | tuple[()]
) -> None:
    """Raise Forbidden (and count it) unless X-Twilio-Signature matches this request."""
    token = request.app[SETTINGS].twilio_auth_token.reveal()
    pairs = list(params)
    algorithm = signature_algorithm(request.headers.get(SETTINGS_HEADER))
    signature = request.headers.get(SIGNATURE_HEADER)
    if not token or not validate(
        token, str(public_url(request)), pairs, signature, algorithm=algorithm
    ):
        reason = "not_configured" if not token else "bad_signature"
        request.app[METRICS].auth_failures_total.labels("twilio_" + reason).inc()
        raise Forbidden(
            "Twilio webhooks need CALLCENTER_TWILIO_AUTH_TOKEN"
            if not token
            else f"{SIGNATURE_HEADER} does not match this request"
        )


def _hold(request: web.Request, call_id: str, *, with_stream: bool) -> str:
    settings = request.app[SETTINGS]
    redirect = str(public_url(request, "/gateways/twilio/hold"))
    hold_music = settings.hold_music_url
    if not with_stream:
        return twiml.hold_loop(hold_music, redirect)
    stream = public_url(request, "/media/twilio")
    stream = stream.with_scheme("wss" if stream.scheme == "https" else "ws")
    # only signed requests get here, so the auth token is configured
    binding = stream_binding(
        settings.twilio_auth_token.reveal(),
        call_id,
        now=request.app[CLOCK].now().timestamp(),
    )
    return twiml.stream_and_hold(
        str(stream),
        call_id,
        hold_music,
        redirect_url=redirect,
        parameters=binding,
        insecure_ok=stream.scheme == "ws",
    )


async def voice(request: web.Request) -> web.Response:
    """The call's first request: record it, stream its audio to us, hold the caller."""
    form = await _signed_form(request)
    event = status_event(form)
    if event is not None:
        await request.app[SERVICES].events.apply(event, dialect=DIALECT)
    call_id = event.call_id if event is not None else form.get("CallSid", "")
    return web.Response(text=_hold(request, call_id, with_stream=True), content_type=TWIML)


async def status(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    event = status_event(form)
    if event is not None:
        await request.app[SERVICES].events.apply(event, dialect=DIALECT)
    return web.Response(status=204)


async def hold(request: web.Request) -> web.Response:
    """The <Redirect> that keeps a long hold going."""
    form = await _signed_form(request)
    return web.Response(
        text=_hold(request, form.get("CallSid", ""), with_stream=False), content_type=TWIML
    )


async def gather(request: web.Request) -> web.Response:
    """A <Gather> action: the digits become `call.dtmf`; the caller keeps holding."""
    form = await _signed_form(request)
    event = gather_event(form, step=request.match_info["step"])
    if event is not None:
        await request.app[SERVICES].events.apply(event, dialect=DIALECT)
    return web.Response(
        text=_hold(request, form.get("CallSid", ""), with_stream=False), content_type=TWIML
    )
