"""Observability of the application, as a cleanup context: the shared-state gauges (read
from Redis at each scrape) and the process collector on the app's registry, the wait
histogram's service-level buckets, and the text exposition. Part of assembling the app;
idempotent, so listing it twice in `cleanup_ctx` installs it once.

It also freezes the heap built at start-up (`gc.freeze`): a scrape allocates thousands of
short-lived objects, and the full collections they trigger would otherwise walk the rules,
lexicons and models too (in bench/metrics_scrape.py those were the slowest scrapes). List
it last, so that everything loaded at start-up is frozen."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import ProcessCollector

from callcenter.app_keys import REDIS
from callcenter.services.scrape_metrics import SharedGauges
from callcenter.storage.shared_state import SharedStateReader
from callcenter.web.exposition import TextExposition
from callcenter.web.handlers.health import Scrape
from callcenter.web.state import CLOCK, METRICS, SCRAPE, SERVICES


async def observability(app: web.Application) -> AsyncIterator[None]:
    """Needs REDIS and SERVICES: list it after the `services` context (last is best)."""
    if SCRAPE in app:
        yield
        return
    registry = app[METRICS].registry
    gauges = SharedGauges(
        SharedStateReader(app[REDIS]),
        app[SERVICES].routing.rules,
        app[METRICS],
        clock=app[CLOCK],
        outlook=app[SERVICES].outlook,
    )
    registry.register(gauges)
    process = ProcessCollector(registry=registry)
    app[SCRAPE] = Scrape(gauges=gauges, exposition=TextExposition(registry))
    gc.freeze()
    yield
    gc.unfreeze()
    registry.unregister(process)
    registry.unregister(gauges)
