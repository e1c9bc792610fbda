"""PBX call control of the application, as the notifiers and cleanup contexts use it:
Asterisk (ARI: call control, live audio, the events websocket) and FreeSWITCH (the event
socket: call control and event following). Both apply events through the services, which
are built after the notifiers: they are looked up when used.
Part of assembling the app (the same layer as app.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from callcenter.app_keys import ASTERISK
from callcenter.domain.calls import ACTIVE_STATES, CallState
from callcenter.domain.events import CallEvent
from callcenter.errors import SettingError
from callcenter.gateways.asterisk.ari_callbacks import AriCallbackDialer, AriCallbackSettings
from callcenter.gateways.asterisk.ari_calls import AriCalls, AriCallSettings
from callcenter.gateways.asterisk.ari_client import AriEventsClient
from callcenter.gateways.asterisk.ari_events import DIALECT as ASTERISK_DIALECT
from callcenter.gateways.asterisk.ari_listen import AriListener
from callcenter.gateways.asterisk.ari_rest import AriRest
from callcenter.gateways.freeswitch.callbacks import EslCallbackDialer, EslCallbackSettings
from callcenter.gateways.freeswitch.calls import FreeswitchCalls, freeswitch_calls
from callcenter.gateways.freeswitch.client import EslClient
from callcenter.gateways.freeswitch.events import DIALECT as FREESWITCH_DIALECT
from callcenter.settings import Settings
from callcenter.web.state import METRICS, SERVICES, SETTINGS

_LIVE_CALLS_READ = 10_000  # per state, when reconciling with a PBX's channels
FREESWITCH = web.AppKey[FreeswitchCalls | None]("freeswitch_calls")  # built with the notifiers


async def live_calls_of(app: web.Application, dialect: str) -> list[str]:
    """The gateway ids of the live calls that came in by `dialect`. Callbacks are left
    out: their caller's channel is gone by design, and their legs report themselves
    (an attempt nobody reports on is given up by its ring timeout)."""
    return [
        call.gateway_call_id
        for state in CallState
        if state in ACTIVE_STATES
        for call in await app[SERVICES].calls.recent(state, _LIVE_CALLS_READ)
        if call.dialect == dialect and call.callback is None
    ]


def asterisk_calls(app: web.Application, session: aiohttp.ClientSession) -> AriCalls | None:
    """ARI call control when CALLCENTER_ASTERISK_ARI_URL is set. It applies events through
    the services, which are built after the notifiers: they are looked up when used."""
    settings = app[SETTINGS]
    if not settings.asterisk_ari_url:
        if settings.asterisk_callback_endpoint:
            raise SettingError(
                "CALLCENTER_ASTERISK_CALLBACK_ENDPOINT", "needs ARI (CALLCENTER_ASTERISK_ARI_URL)"
            )
        return None
    if not settings.asterisk_ari_password:
        raise SettingError("CALLCENTER_ASTERISK_ARI_PASSWORD", "required with an ARI URL")
    try:
        rest = AriRest(
            session,
            settings.asterisk_ari_url,
            settings.asterisk_ari_user,
            settings.asterisk_ari_password.reveal(),
        )
    except ValueError as error:
        raise SettingError("CALLCENTER_ASTERISK_ARI_URL", str(error)) from None

    async def apply(event: CallEvent) -> None:
        await app[SERVICES].events.apply(event, dialect=ASTERISK_DIALECT)

    control = AriCallSettings(
        app=settings.asterisk_app,
        music_class=settings.asterisk_music_class,
        agent_endpoint=settings.asterisk_agent_endpoint,
        agent_ring_seconds=settings.asterisk_agent_ring_seconds,
    )
    return AriCalls(
        rest,
        apply,
        lambda: live_calls_of(app, ASTERISK_DIALECT),
        settings=control,
        metrics=app[METRICS],
        listener=_ari_listener(settings, rest),
    )


def asterisk_dialer(app: web.Application) -> AriCallbackDialer | None:
    """Callbacks placed through Asterisk, when CALLCENTER_ASTERISK_CALLBACK_ENDPOINT is
    set and ARI call control runs (asterisk_calls refuses the endpoint without ARI)."""
    settings = app[SETTINGS]
    calls = app.get(ASTERISK)
    if not settings.asterisk_callback_endpoint or calls is None:
        return None
    placing = AriCallbackSettings(
        app=settings.asterisk_app,
        endpoint=settings.asterisk_callback_endpoint,
        caller_id=settings.asterisk_caller_id,
        ring_seconds=settings.asterisk_agent_ring_seconds,
    )
    return AriCallbackDialer(calls.rest, placing, metrics=app[METRICS])


def _ari_listener(settings: Settings, rest: AriRest) -> AriListener | None:
    """Live audio of ARI calls over our AudioSocket listener, when Asterisk is told where
    it is. Raises SettingError when that listener is off."""
    if not settings.asterisk_audiosocket_address:
        return None
    if not settings.audiosocket_port:
        raise SettingError(
            "CALLCENTER_ASTERISK_AUDIOSOCKET_ADDRESS",
            "needs the AudioSocket listener (CALLCENTER_AUDIOSOCKET_PORT)",
        )
    return AriListener(
        rest,
        app=settings.asterisk_app,
        address=settings.asterisk_audiosocket_address,
        audio_format=settings.asterisk_audio_format,
    )


async def asterisk_events(app: web.Application) -> AsyncIterator[None]:
    """Follow the ARI events websocket as the application, when Asterisk is configured."""
    calls = app.get(ASTERISK)
    if calls is None:
        yield
        return
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
    client = AriEventsClient(
        session, calls.rest, calls, app=app[SETTINGS].asterisk_app, metrics=app[METRICS]
    )
    client.start()
    yield
    await client.stop()
    await session.close()


def freeswitch_control(app: web.Application) -> FreeswitchCalls | None:
    """Event socket call control when CALLCENTER_FREESWITCH_ESL_HOST is set, recorded under
    FREESWITCH for freeswitch_events; the services it uses are looked up when used."""

    async def apply(event: CallEvent) -> None:
        await app[SERVICES].events.apply(event, dialect=FREESWITCH_DIALECT)

    calls = freeswitch_calls(
        app[SETTINGS], apply, lambda: live_calls_of(app, FREESWITCH_DIALECT), metrics=app[METRICS]
    )
    app[FREESWITCH] = calls
    return calls


def freeswitch_dialer(app: web.Application) -> EslCallbackDialer | None:
    """Callbacks placed through FreeSWITCH, when CALLCENTER_FREESWITCH_CALLBACK_DIAL_TEMPLATE
    is set. Raises SettingError when the event socket is not configured."""
    settings = app[SETTINGS]
    if not settings.freeswitch_callback_dial_template:
        return None
    calls = app.get(FREESWITCH)
    if calls is None:
        raise SettingError(
            "CALLCENTER_FREESWITCH_CALLBACK_DIAL_TEMPLATE",
            "needs the event socket (CALLCENTER_FREESWITCH_ESL_HOST)",
        )
    placing = EslCallbackSettings(
        dial_template=settings.freeswitch_callback_dial_template,
        caller_id=settings.freeswitch_caller_id,
        ring_seconds=settings.freeswitch_agent_ring_seconds,
    )
    return EslCallbackDialer(calls.commands, placing, metrics=app[METRICS])


async def freeswitch_events(app: web.Application) -> AsyncIterator[None]:
    """Follow a FreeSWITCH event socket and control its calls, when a host is configured."""
    settings = app[SETTINGS]
    calls = app.get(FREESWITCH) or freeswitch_control(app)  # not built: an injected notifier
    if calls is None:
        yield
        return
    try:
        client = EslClient(
            settings.freeswitch_esl_host,
            settings.freeswitch_esl_port,
            settings.freeswitch_esl_password.reveal(),
            calls.apply,
            metrics=app[METRICS],
            agent_variable=settings.freeswitch_agent_variable,
            observer=calls,
        )
    except ValueError as error:
        raise SettingError("CALLCENTER_FREESWITCH_ESL_*", str(error)) from None
    client.start()
    yield
    await client.stop()
    await calls.stop(settings.shutdown_timeout_seconds)
