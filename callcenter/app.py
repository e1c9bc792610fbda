"""`create_app(settings)`: the one place the application is assembled.

Resources live in `cleanup_ctx`, entered in order and left in reverse: Redis (embedded or
external), then the services that use it, then the background loops."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from callcenter.app_keys import DIALERS, NOTIFIER, REDIS, REPOSITORIES, SCORER, SENDERS
from callcenter.cleanup_watch import watched
from callcenter.domain.routing_rules import RoutingRules, default_rules
from callcenter.errors import RulesInvalid
from callcenter.gateway_setup import (
    audiosocket_listener,
    callback_dialers,
    notifiers,
    reply_senders,
)
from callcenter.interpreter import switch_often
from callcenter.metrics import Metrics
from callcenter.observability_setup import observability
from callcenter.pbx_setup import asterisk_events, freeswitch_events
from callcenter.repositories import FanOutChanges, Repositories, build_repositories
from callcenter.rules.loader import load_rules
from callcenter.service_wiring import build_services
from callcenter.services.bus import EventBus
from callcenter.services.callback_metrics import CallbackCounter
from callcenter.services.clock import Clock, SystemClock
from callcenter.services.freed_agents import FreedAgents
from callcenter.services.live_feed import LiveFeed
from callcenter.services.media import MediaHub
from callcenter.services.notify import RouteNotifier
from callcenter.services.rules_source import RulesSource
from callcenter.services.token_sessions import TokenSessions
from callcenter.settings import Settings
from callcenter.speech_setup import sentiment_scorer, speech
from callcenter.storage.bus import BusRepository
from callcenter.storage.connection import configured_redis
from callcenter.storage.documents import DocumentStore
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.queue_stats import QueueStatsRepository
from callcenter.storage.secrets import shared_secret
from callcenter.web.authorization import authorization
from callcenter.web.handlers.chat_hub import chat_hub
from callcenter.web.handlers.chat_sessions import setup_chat
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
        async with configured_redis(settings, embedded_dir=settings.data_dir / "redis") as client:
            app[REDIS] = client
            yield

    async def event_bus(app: web.Application) -> AsyncIterator[None]:
        client = app[REDIS]
        bus = EventBus(BusRepository(client), clock=clock, metrics=app[METRICS])
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
        freed = FreedAgents()  # the dispatcher's hint (see services/freed_agents)
        changes = FanOutChanges(feed, CallbackCounter(app[METRICS]), freed)
        repositories = build_repositories(
            DocumentStore(client),
            settings,
            changes=changes,
            queue_stats=queue_stats,
            queue_activity=activity,
        )
        app[REPOSITORIES] = repositories
        await _build_lines(repositories)
        await _build_skills(repositories)
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
            freed=freed,
            dialers=app[DIALERS],
            scorer=app[SCORER],
            senders=app[SENDERS],
            chat_secret=settings.chat_secret.reveal() or await shared_secret(client, "chat"),
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
        sweeping = asyncio.create_task(built.sweep.run(), name="invariant-sweep")
        dispatcher.request()  # calls may have waited while no instance ran
        yield
        for background in (timers, outlook_ticks, sweeping):
            background.cancel()
            with suppress(asyncio.CancelledError):
                await background
        await dispatcher.stop()
        await built.callbacks.stop(settings.shutdown_timeout_seconds)
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
    setup_chat(app)
    # each step named in a warning when leaving it is slow (a hung shutdown says where)
    app.cleanup_ctx.extend(
        watched(step)
        for step in [
            switch_often,
            storage,
            event_bus,
            live_hub,
            chat_hub,
            injected_notifier if notify is not None else notifiers,
            callback_dialers,
            reply_senders,
            sentiment_scorer,
            services,
            token_sessions,
            speech,
            audiosocket_listener,
            asterisk_events,
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


async def _build_skills(repositories: Repositories) -> None:
    """The agents of each skill for a store written before they were kept (once per store)."""
    placed = await repositories.agents.build_skills()
    if placed:
        logger.info("skill sets built: %d agents placed", placed)


async def _build_lines(repositories: Repositories) -> None:
    """Waiting lines for a store written before they existed (once per store)."""
    placed = await repositories.calls.build_lines()
    if placed:
        logger.info("waiting lines built: %d queued calls placed", placed)
