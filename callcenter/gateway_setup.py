"""Gateway resources of the application, as cleanup contexts: who hears routing decisions
(signed generic webhooks, Twilio REST and jambonz call updates, the PBXs' call control of
pbx_setup), callback dialers, reply senders and the Asterisk AudioSocket listener.
Part of assembling the app (the same layer as app.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web

from callcenter.app_keys import ASTERISK, DIALERS, NOTIFIER, SENDERS
from callcenter.domain.messages import Channel
from callcenter.errors import SettingError
from callcenter.gateways.generic.callback_dial import WebhookCallbackDialer
from callcenter.gateways.generic.webhook import WebhookNotifier
from callcenter.gateways.jambonz.dial import MAX_RING_SECONDS, dial_target
from callcenter.gateways.jambonz.notify import JambonzNotifier
from callcenter.gateways.jambonz.rest import JambonzRestClient
from callcenter.gateways.smtp.sender import SmtpRelay, SmtpSender
from callcenter.gateways.twilio.callback_dial import TwilioCallbackDialer
from callcenter.gateways.twilio.messages_rest import TwilioMessagesClient, TwilioSmsSender
from callcenter.gateways.twilio.notify import TwilioNotifier
from callcenter.gateways.twilio.rest import TwilioRestClient
from callcenter.media.audiosocket import AudioSocketHandler
from callcenter.media.frames import Track
from callcenter.pbx_setup import (
    asterisk_calls,
    asterisk_dialer,
    freeswitch_control,
    freeswitch_dialer,
)
from callcenter.services.callbacks import CallbackDialer
from callcenter.services.jambonz_control import agent_target, with_call
from callcenter.services.live_calls import live_call
from callcenter.services.notify import FanOutNotifier, NoNotifier, RouteNotifier
from callcenter.services.task_writes import ReplySender
from callcenter.settings import Settings
from callcenter.web.handlers.jambonz import AGENT_DIAL_PATH
from callcenter.web.handlers.twilio import SMS_STATUS_PATH
from callcenter.web.state import CLOCK, MEDIA, METRICS, SERVICES, SETTINGS

logger = logging.getLogger(__name__)


async def notifiers(app: web.Application) -> AsyncIterator[None]:
    """Build the route notifiers the settings ask for; stop them (delivering what is
    queued, within the shutdown grace) on exit."""
    settings = app[SETTINGS]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        webhooks = await _webhook_notifier(app)
        twilio = await _twilio_notifier(app, session)
        asterisk = asterisk_calls(app, session)
        jambonz = _jambonz_notifier(app, session)
    except BaseException:
        await session.close()
        raise
    chosen: list[RouteNotifier] = [
        n for n in (webhooks, twilio, asterisk, jambonz, freeswitch_control(app)) if n is not None
    ]
    app[ASTERISK] = asterisk
    app[NOTIFIER] = FanOutNotifier(chosen) if chosen else NoNotifier()
    yield
    if webhooks is not None:
        await webhooks.stop(settings.shutdown_timeout_seconds)
    for notifier in (twilio, asterisk, jambonz):
        if notifier is not None:  # the rings under way get the grace, then are cancelled
            await notifier.stop(settings.shutdown_timeout_seconds)
    await session.close()


async def _webhook_notifier(app: web.Application) -> WebhookNotifier | None:
    """Signed `route.*` webhooks, when a gateway webhook URL is configured (started)."""
    settings = app[SETTINGS]
    if not settings.gateway_webhook_url:
        return None
    if not settings.webhook_secret:
        raise SettingError("CALLCENTER_WEBHOOK_SECRET", "required to sign gateway webhooks")
    webhooks = WebhookNotifier(
        settings.gateway_webhook_url,
        settings.webhook_secret.reveal(),
        metrics=app[METRICS],
        now=app[CLOCK].now,
    )
    await webhooks.start()
    return webhooks


async def _twilio_notifier(
    app: web.Application, session: aiohttp.ClientSession
) -> TwilioNotifier | None:
    """REST call updates (<Dial> the accepting agent), when Twilio is configured."""
    settings = app[SETTINGS]
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        return None
    rest = await _twilio_rest(settings, session)
    return TwilioNotifier(rest, agent_uri=settings.agent_dial_template, metrics=app[METRICS])


def _jambonz_notifier(
    app: web.Application, session: aiohttp.ClientSession
) -> JambonzNotifier | None:
    """REST call updates (a call redirected to our agent-dial hook when an agent accepts
    it), when the jambonz API is configured and so is the public URL jambonz requests our
    hooks at. Raises SettingError naming the variable that cannot be used."""
    settings = app[SETTINGS]
    if not settings.jambonz_api_url:
        return None
    if not settings.public_url:
        logger.warning("jambonz call control is off: it needs CALLCENTER_PUBLIC_URL")
        return None
    _check_jambonz_dialing(settings)
    try:
        rest = JambonzRestClient(
            session,
            base_url=settings.jambonz_api_url,
            account_sid=settings.jambonz_account_sid,
            api_key=settings.jambonz_api_key.reveal(),
        )
    except ValueError as error:
        raise SettingError(_jambonz_variable(str(error)), str(error)) from None
    agent_dial = settings.public_url.rstrip("/") + AGENT_DIAL_PATH
    return JambonzNotifier(
        rest, hook_url=lambda call: with_call(agent_dial, call.id), metrics=app[METRICS]
    )


def _jambonz_variable(reason: str) -> str:
    """Which setting a JambonzRestClient refusal is about (its reasons name the value)."""
    for named, variable in (("account sid", "ACCOUNT_SID"), ("API key", "API_KEY")):
        if named in reason:
            return f"CALLCENTER_JAMBONZ_{variable}"
    return "CALLCENTER_JAMBONZ_API_URL"


def _check_jambonz_dialing(settings: Settings) -> None:
    """Refuse at start-up what would fail every dial to an agent."""
    if not 0 < settings.jambonz_agent_ring_seconds <= MAX_RING_SECONDS:
        reason = f"expected 1-{MAX_RING_SECONDS} seconds"
        raise SettingError("CALLCENTER_JAMBONZ_AGENT_RING_SECONDS", reason)
    try:
        dial_target(agent_target(settings.jambonz_agent_dial_template, "agent"))
    except ValueError as error:
        raise SettingError("CALLCENTER_JAMBONZ_AGENT_DIAL_TEMPLATE", str(error)) from None


async def _twilio_rest(settings: Settings, session: aiohttp.ClientSession) -> TwilioRestClient:
    """Twilio's REST API for the configured account; SettingError (the session closed)
    for an account SID it cannot use."""
    try:
        return TwilioRestClient(
            session,
            settings.twilio_account_sid,
            settings.twilio_auth_token.reveal(),
            base_url=settings.twilio_api_url,
        )
    except ValueError as error:
        await session.close()
        raise SettingError("CALLCENTER_TWILIO_ACCOUNT_SID", str(error)) from None


async def callback_dialers(app: web.Application) -> AsyncIterator[None]:
    """The gateways that can place callbacks, by dialect: the generic webhook when a
    gateway webhook URL is configured; Twilio REST when its account, auth token and the
    public URL (where the callback leg's status callbacks come back) are; ARI and the
    event socket when their callback dial strings are. CALLCENTER_CALLBACK_GATEWAY naming
    none of these stops the start (not the first callback)."""
    settings = app[SETTINGS]
    pbx = {"asterisk": asterisk_dialer(app), "freeswitch": freeswitch_dialer(app)}
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    dialers = await _hosted_dialers(app, session)
    dialers.update({dialect: dialer for dialect, dialer in pbx.items() if dialer is not None})
    chosen = settings.callback_gateway
    if chosen and chosen not in dialers:
        await session.close()
        reason = f"{chosen} is not configured to place callbacks"
        raise SettingError("CALLCENTER_CALLBACK_GATEWAY", reason)
    app[DIALERS] = dialers
    yield
    await session.close()


async def _hosted_dialers(
    app: web.Application, session: aiohttp.ClientSession
) -> dict[str, CallbackDialer]:
    """The dialers that call out over HTTP: the generic webhook and Twilio REST."""
    settings = app[SETTINGS]
    dialers: dict[str, CallbackDialer] = {}
    if settings.gateway_webhook_url and settings.webhook_secret:
        dialers["generic"] = WebhookCallbackDialer(
            session,
            settings.gateway_webhook_url,
            settings.webhook_secret.reveal(),
            metrics=app[METRICS],
            now=app[CLOCK].now,
        )
    twilio = bool(settings.twilio_account_sid and settings.twilio_auth_token)
    if twilio and not settings.public_url:
        logger.warning("Twilio callbacks are off: they need CALLCENTER_PUBLIC_URL")
    elif twilio and settings.public_url:
        dialers["twilio"] = TwilioCallbackDialer(
            await _twilio_rest(settings, session),
            public_url=settings.public_url,
            agent_uri=settings.agent_dial_template,
            caller_id=settings.twilio_caller_id,
            metrics=app[METRICS],
        )
    return dialers


async def reply_senders(app: web.Application) -> AsyncIterator[None]:
    """The channels agents' replies go out through, besides chat (which needs none)."""
    settings = app[SETTINGS]
    senders: dict[Channel, ReplySender] = {}
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    if settings.twilio_account_sid and settings.twilio_auth_token:
        status = f"{settings.public_url}{SMS_STATUS_PATH}" if settings.public_url else None
        client = TwilioMessagesClient(
            await _twilio_rest(settings, session),
            messaging_service_sid=settings.twilio_messaging_service_sid,
            status_callback=status,
        )
        senders[Channel.SMS] = TwilioSmsSender(client)
    if settings.smtp_host:
        relay = SmtpRelay(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            implicit_tls=settings.smtp_implicit_tls,
            ca_file=str(settings.smtp_ca_file or ""),
            username=settings.smtp_username,
            password=settings.smtp_password.reveal(),
            from_address=settings.email_from,
        )
        senders[Channel.EMAIL] = SmtpSender(relay)
    app[SENDERS] = senders
    yield
    await session.close()


def callback_dialect(settings: Settings, dialers: Mapping[str, CallbackDialer]) -> str | None:
    """Who places callbacks asked for through the API (CALLCENTER_CALLBACK_GATEWAY, else
    the first configured of Twilio, Asterisk, FreeSWITCH and the generic webhook)."""
    if settings.callback_gateway:
        return settings.callback_gateway
    for dialect in ("twilio", "asterisk", "freeswitch", "generic"):
        if dialect in dialers:
            return dialect
    return None


async def audiosocket_listener(app: web.Application) -> AsyncIterator[None]:
    """The Asterisk AudioSocket TCP listener, when a port is configured: on
    CALLCENTER_AUDIOSOCKET_HOST (loopback by default: the protocol has no secret, so a
    connection is admitted only for a live call it names by UUID)."""
    settings = app[SETTINGS]
    if not settings.audiosocket_port:
        yield
        return

    async def is_live(call_id: str) -> bool:
        return await live_call(app[SERVICES].calls, call_id) is not None

    asterisk = app.get(ASTERISK)

    async def alias(leg_uuid: str) -> tuple[str, Track] | None:
        found = await asterisk.audio_alias(leg_uuid) if asterisk is not None else None
        return (found[0], Track(found[1])) if found is not None else None

    handler = AudioSocketHandler(app[MEDIA], is_live=is_live, alias=alias, metrics=app[METRICS])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handler(reader, writer)

    host, port = settings.audiosocket_host, settings.audiosocket_port
    server = await asyncio.start_server(serve, host, port)
    logger.info("AudioSocket listening on %s:%d", host, port)
    yield
    server.close()
    await handler.close()
    await server.wait_closed()
