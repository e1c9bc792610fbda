"""`create_app(settings)`: the one place the application is assembled.

Resources live in `cleanup_ctx`, entered in order and left in reverse: Redis (embedded or
external), then the services that use it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from callcenter.metrics import Metrics
from callcenter.services.agents import AgentService
from callcenter.services.auth import AuthService
from callcenter.services.call_events import CallEventService
from callcenter.services.callers import CallerService
from callcenter.services.calls import CallQueryService
from callcenter.services.clock import Clock, SystemClock
from callcenter.services.snapshot import SnapshotService
from callcenter.settings import Settings
from callcenter.storage.agents import AgentRepository
from callcenter.storage.callers import CallerRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.connection import redis_client
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.replay import ReplayGuard
from callcenter.storage.tokens import TokenRepository
from callcenter.web.handlers.docs import add_docs
from callcenter.web.middlewares import problem_middleware
from callcenter.web.routes import add_routes
from callcenter.web.state import METRICS, REDIS, SERVICES, SETTINGS, Services

logger = logging.getLogger(__name__)

DEV_TOKEN_LABEL = "dev mode"


def build_services(
    store: DocumentStore, settings: Settings, metrics: Metrics, clock: Clock
) -> Services:
    """Wire repositories and services around one document store."""
    calls = CallRepository(
        store,
        retention=timedelta(days=settings.call_retention_days),
        dedupe_window=timedelta(seconds=settings.dedupe_window_seconds),
    )
    agents = AgentRepository(store)
    callers = CallerService(
        CallerRepository(store, retention=timedelta(days=settings.history_retention_days)),
        clock=clock,
    )
    auth = AuthService(
        TokenRepository(store),
        ReplayGuard(store.client, ttl_seconds=2 * settings.signature_tolerance_seconds),
        clock=clock,
        metrics=metrics,
        webhook_secret=settings.webhook_secret.reveal(),
        tolerance_seconds=settings.signature_tolerance_seconds,
        cache_seconds=settings.token_cache_seconds,
    )
    return Services(
        auth=auth,
        events=CallEventService(
            calls, callers, clock=clock, metrics=metrics, default_queue=settings.default_queue
        ),
        agents=AgentService(agents, calls, clock=clock),
        callers=callers,
        calls=CallQueryService(calls),
        snapshot=SnapshotService(calls, agents),
    )


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The application for `settings`; nothing starts until the runner enters cleanup_ctx."""
    app = web.Application(middlewares=[problem_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    clock = clock or SystemClock()

    async def storage(app: web.Application) -> AsyncIterator[None]:
        if settings.redis_url:
            url = settings.redis_url
            async with redis_client(url) as client:
                app[REDIS] = client
                yield
            return
        async with embedded_redis(settings.data_dir / "redis") as url, redis_client(url) as client:
            app[REDIS] = client
            yield

    async def services(app: web.Application) -> AsyncIterator[None]:
        store = DocumentStore(app[REDIS])
        app[SERVICES] = build_services(store, settings, app[METRICS], clock)
        if settings.dev:
            token, _ = await app[SERVICES].auth.create_token(
                "admin", DEV_TOKEN_LABEL, ttl=timedelta(days=1)
            )
            # Printed, not logged: logs may be shipped elsewhere; this is for the terminal.
            print(f"dev mode: admin token (valid 24 h): {token}", flush=True)
        yield

    app.cleanup_ctx.extend([storage, services])
    add_routes(app)
    add_docs(app)
    return app
