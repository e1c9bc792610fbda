"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
from aiohttp import web

from callcenter.services.scrape_metrics import SharedGauges
from callcenter.web.exposition import CONTENT_TYPE, TextExposition
from callcenter.web.problem import json_response, problem_response
from callcenter.web.state import SCRAPE, SERVICES


@dataclass(frozen=True, slots=True)
class Scrape:
    """What a scrape needs: the shared-state gauges to refresh, the exposition to render."""

    gauges: SharedGauges
    exposition: TextExposition


class Health(msgspec.Struct, frozen=True):
    status: str


async def healthz(request: web.Request) -> web.Response:
    return json_response(Health("ok"))


async def readyz(request: web.Request) -> web.Response:
    if await request.app[SERVICES].readiness.ready():
        return json_response(Health("ready"))
    return problem_response(
        503,
        "not-ready",
        "Not ready",
        "Redis is not reachable",
        instance=request.path,
        headers={"Retry-After": "1"},
    )


async def metrics(request: web.Request) -> web.Response:
    scrape = request.app[SCRAPE]
    await scrape.gauges.refresh()
    # off the loop: the process collector reads /proc, and the text grows with the queues
    body = await asyncio.to_thread(scrape.exposition.render)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
