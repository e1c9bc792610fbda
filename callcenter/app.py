"""`create_app(settings)`: the one place the application is assembled.

Resources live in `cleanup_ctx`, entered in order and left in reverse: Redis (embedded or
external), then the services that use it, then the background loops."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from callcenter.app_keys import DIALERS, NOTIFIER, REDIS, REPOSITORIES
from callcenter.domain.event_time import EventClock
from callcenter.domain.routing_rules import RoutingRules, default_rules
from callcenter.errors import RulesInvalid
from callcenter.gateway_setup import (
    audiosocket_listener,
    callback_dialect,
    callback_dialers,
    freeswitch_events,
    notifiers,
)
from callcenter.metrics import Metrics
from callcenter.observability_setup import observability
from callcenter.repositories import FanOutChanges, Repositories, build_repositories
from callcenter.rules.loader import load_rules
from callcenter.services.access import AgentAccess
from callcenter.services.agents import AgentService
from callcenter.services.auth import AuthService
from callcenter.services.bus import EventBus
from callcenter.services.call_events import CallEventService
from callcenter.services.callback_metrics import CallbackCounter
from callcenter.services.callbacks import CallbackDialer, CallbackService
from callcenter.services.callers import CallerService
from callcenter.services.calls import CallQueryService
from callcenter.services.clock import Clock, SystemClock
from callcenter.services.dispatch import Dispatcher
from callcenter.services.jambonz_hooks import JambonzHooks
from callcenter.services.l16_media import L16MediaStreams
from callcenter.services.live import LiveStores, LiveViews
from callcenter.services.live_feed import LiveFeed
from callcenter.services.media import MediaHub
from callcenter.services.notify import FanOutNotifier, RouteNotifier
from callcenter.services.outlook_feed import OutlookFeed
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.readiness import Readiness
from callcenter.services.routing import RoutingService
from callcenter.services.rules_source import RulesSource
from callcenter.services.screen_pops import ScreenPops
from callcenter.services.timer_loop import TimerLoop
from callcenter.services.token_sessions import TokenSessions
from callcenter.services.twilio_callbacks import TwilioCallbacks
from callcenter.services.twilio_media import TwilioMediaStreams
from callcenter.services.twilio_voice import TwilioSignatures, TwilioVoice
from callcenter.settings import Settings
from callcenter.speech_setup import speech
from callcenter.storage.bus import BusRepository
from callcenter.storage.connection import redis_client
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.queue_stats import QueueStatsRepository
from callcenter.storage.resp import RespClient
from callcenter.web.authorization import authorization
from callcenter.web.handlers.docs import add_docs
from callcenter.web.handlers.live import setup_live
from callcenter.web.handlers.live_hub import live_hub
from callcenter.web.handlers.media import setup_media_sockets
from callcenter.web.http_limits import size_limits
from callcenter.web.middlewares import problem_middleware
from callcenter.web.routes import OPERATIONS, add_routes
from callcenter.web.state import (
    BUS,
    CLOCK,
    DISPATCHER,
    MEDIA,
    METRICS,
    SERVICES,
    SETTINGS,
    TOKEN_SESSIONS,
    Services,
)

logger = logging.getLogger(__name__)


DEV_TOKEN_LABEL = "dev mode"
BUS_READY_SECONDS = 5.0
DEFAULT_RULES_DIR = Path("routing_rules")


def rules_loader(settings: Settings) -> RulesSource:
    """The rules of `settings.rules_dir` (./routing_rules when unset and present, else a
    single default queue). Raises RulesInvalid for bad files."""
    location = settings.rules_dir
    if location is None and DEFAULT_RULES_DIR.is_dir():
        location = DEFAULT_RULES_DIR
    if location is None:
        builtin = default_rules(settings.default_queue)
        return RulesSource(lambda: builtin)
    chosen: Path = location

    def load() -> RoutingRules:
        return load_rules(chosen)

    return RulesSource(load)


def build_services(
    repositories: Repositories,
    settings: Settings,
    metrics: Metrics,
    clock: Clock,
    *,
    rules: RulesSource,
    notify: RouteNotifier,
    bus: EventBus,
    media: MediaHub,
    redis: RespClient,
    feed: LiveFeed,
    dialers: Mapping[str, CallbackDialer],
) -> tuple[Services, Dispatcher, TimerLoop]:
    """Wire the services around the repositories (whose change listener is `feed`)."""
    calls, agents = repositories.calls, repositories.agents
    callers = CallerService(repositories.callers, clock=clock)
    live_stores = LiveStores(
        calls=calls,
        agents=agents,
        alerts=repositories.alerts,
        live_moods=repositories.live_moods,
        transcripts=repositories.transcripts,
        queue_stats=repositories.queue_stats,
    )
    pops = ScreenPops(bus, calls, callers, metrics=metrics)
    activity = repositories.queue_activity
    outlook = QueueOutlook(calls, agents, activity, rules=rules, clock=clock)
    notify = FanOutNotifier([notify, pops])
    dispatcher = Dispatcher(calls, agents, rules, clock=clock, metrics=metrics, notify=notify)
    routing = RoutingService(
        calls, agents, callers, rules, dispatcher, clock=clock, metrics=metrics, notify=notify
    )
    auth = AuthService(
        repositories.tokens,
        repositories.replay,
        clock=clock,
        metrics=metrics,
        webhook_secret=settings.webhook_secret.reveal(),
        tolerance_seconds=settings.signature_tolerance_seconds,
        cache_seconds=settings.token_cache_seconds,
    )
    agent_service = AgentService(agents, calls, clock=clock, on_ready=dispatcher.request)
    events = CallEventService(
        calls,
        callers,
        clock=clock,
        metrics=metrics,
        default_queue=settings.default_queue,
        routing=routing,
        moods=repositories.call_moods,
        event_clock=EventClock(
            tolerance=timedelta(seconds=settings.event_clock_tolerance_seconds),
            replay_window=timedelta(seconds=settings.dedupe_window_seconds),
        ),
    )
    call_queries = CallQueryService(calls)
    callbacks = CallbackService(
        calls,
        callers,
        routing,
        dialers,
        default_dialect=callback_dialect(settings, dialers),
        default_queue=settings.default_queue,
        clock=clock,
        metrics=metrics,
    )
    notify.add(callbacks)  # an accepted callback is placed at once by its instance
    twilio_token = settings.twilio_auth_token.reveal()
    twilio_signatures = TwilioSignatures(twilio_token, metrics=metrics)
    services = Services(
        auth=auth,
        access=AgentAccess(calls),
        events=events,
        agents=agent_service,
        callers=callers,
        calls=call_queries,
        routing=routing,
        callbacks=callbacks,
        live=LiveViews(bus, live_stores, pops, callers, rules=rules, clock=clock, outlook=outlook),
        outlook=outlook,
        outlook_feed=OutlookFeed(outlook, activity, bus, clock=clock, metrics=metrics),
        feed=feed,
        twilio_voice=TwilioVoice(
            events,
            twilio_signatures,
            auth_token=twilio_token,
            hold_music_url=settings.hold_music_url,
            clock=clock,
            callbacks=TwilioCallbacks(
                call_queries,
                callbacks,
                outlook,
                rules,
                announce_seconds=settings.twilio_announce_seconds,
                clock=clock,
                offers_callbacks="twilio" in dialers,
            ),
        ),
        twilio_media=TwilioMediaStreams(
            media,
            call_queries,
            events,
            twilio_signatures,
            account_sid=settings.twilio_account_sid,
            auth_token=twilio_token,
            clock=clock,
            metrics=metrics,
        ),
        l16_media=L16MediaStreams(media, metrics=metrics),
        jambonz=JambonzHooks(
            events, secret=settings.jambonz_secret.reveal(), clock=clock, metrics=metrics
        ),
        readiness=Readiness(redis),
    )
    timer_loop = TimerLoop(
        repositories.timers, routing, agent_service, callbacks, clock=clock, metrics=metrics
    )
    return services, dispatcher, timer_loop


def create_app(
    settings: Settings, *, clock: Clock | None = None, notify: RouteNotifier | None = None
) -> web.Application:
    """The application for `settings`; nothing starts until the runner enters cleanup_ctx.

    Raises RulesInvalid if the routing rules do not load."""
    app = web.Application(
        middlewares=[problem_middleware, size_limits, authorization(OPERATIONS)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    clock = clock or SystemClock()
    app[CLOCK] = clock
    rules = rules_loader(settings)

    async def storage(app: web.Application) -> AsyncIterator[None]:
        if settings.redis_url:
            async with redis_client(settings.redis_url) as client:
                app[REDIS] = client
                yield
            return
        async with embedded_redis(settings.data_dir / "redis") as url, redis_client(url) as client:
            app[REDIS] = client
            yield

    async def event_bus(app: web.Application) -> AsyncIterator[None]:
        client = app[REDIS]
        bus = EventBus(BusRepository(client), client.endpoint, clock=clock, metrics=app[METRICS])
        app[BUS] = bus
        receiving = asyncio.create_task(bus.run(), name="event-bus")
        try:
            await asyncio.wait_for(bus.wait_ready(), BUS_READY_SECONDS)
        except TimeoutError:
            logger.warning("event bus not subscribed yet; live pages catch up when it is")
        yield
        await bus.drain()
        receiving.cancel()
        with suppress(asyncio.CancelledError):
            await receiving

    async def injected_notifier(app: web.Application) -> AsyncIterator[None]:
        assert notify is not None
        app[NOTIFIER] = notify
        yield

    async def services(app: web.Application) -> AsyncIterator[None]:
        client = app[REDIS]
        queue_stats = QueueStatsRepository(client)
        activity = QueueActivityRepository(client)
        feed = LiveFeed(
            app[BUS], queue_stats, rules=rules, clock=clock, metrics=app[METRICS], activity=activity
        )
        changes = FanOutChanges(feed, CallbackCounter(app[METRICS]))
        repositories = build_repositories(
            DocumentStore(client),
            settings,
            changes=changes,
            queue_stats=queue_stats,
            queue_activity=activity,
        )
        app[REPOSITORIES] = repositories
        built, dispatcher, timer_loop = build_services(
            repositories,
            settings,
            app[METRICS],
            clock,
            rules=rules,
            notify=app[NOTIFIER],
            bus=app[BUS],
            media=app[MEDIA],
            redis=client,
            feed=feed,
            dialers=app[DIALERS],
        )
        app[SERVICES] = built
        app[DISPATCHER] = dispatcher
        if settings.dev:
            token, _ = await built.auth.create_token(
                "admin", DEV_TOKEN_LABEL, ttl=timedelta(days=1)
            )
            # Printed, not logged: logs may be shipped elsewhere; this is for the terminal.
            print(f"dev mode: admin token (valid 24 h): {token}", flush=True)
        timers = asyncio.create_task(timer_loop.run(), name="timers")
        outlook_ticks = asyncio.create_task(built.outlook_feed.run(), name="queue-outlook")
        dispatcher.request()  # calls may have waited while no instance ran
        yield
        timers.cancel()
        outlook_ticks.cancel()
        with suppress(asyncio.CancelledError):
            await timers
        with suppress(asyncio.CancelledError):
            await outlook_ticks
        await dispatcher.stop()
        await built.callbacks.stop()
        await built.feed.drain()

    async def token_sessions(app: web.Application) -> AsyncIterator[None]:
        sessions = TokenSessions(
            app[SERVICES].auth, every=settings.token_cache_seconds, metrics=app[METRICS]
        )
        app[TOKEN_SESSIONS] = sessions
        checking = asyncio.create_task(sessions.run(), name="token-sessions")
        yield
        checking.cancel()
        with suppress(asyncio.CancelledError):
            await checking
        await sessions.stop()

    async def reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[None]] = set()

        def reload() -> None:
            task = loop.create_task(_reload(app), name="rules-reload")
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, reload)
        except (NotImplementedError, RuntimeError, ValueError):
            logger.info("SIGHUP reload unavailable here; use POST /v1/admin/rules/reload")
            yield
            return
        yield
        loop.remove_signal_handler(signal.SIGHUP)
        await asyncio.gather(*reloads, return_exceptions=True)

    app[MEDIA] = MediaHub(app[METRICS])
    setup_media_sockets(app)
    setup_live(app)
    app.cleanup_ctx.extend(
        [
            storage,
            event_bus,
            live_hub,
            injected_notifier if notify is not None else notifiers,
            callback_dialers,
            services,
            token_sessions,
            speech,
            audiosocket_listener,
            freeswitch_events,
            reload_on_sighup,
            observability,
        ]
    )
    add_routes(app)
    add_docs(app)
    return app


async def _reload(app: web.Application) -> None:
    try:
        version = await app[SERVICES].routing.reload_rules()
        logger.info("routing rules version %s in force", version)
    except RulesInvalid as error:
        logger.error("routing rules NOT reloaded, the old ones stay:\n%s", error)
