"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from callcenter.services.snapshot import Snapshot
from callcenter.storage.connection import is_reachable
from callcenter.web.problem import json_response, problem_response
from callcenter.web.state import METRICS, REDIS, SERVICES


class Health(msgspec.Struct, frozen=True):
    status: str


async def healthz(request: web.Request) -> web.Response:
    return json_response(Health("ok"))


async def readyz(request: web.Request) -> web.Response:
    if await is_reachable(request.app[REDIS]):
        return json_response(Health("ready"))
    return problem_response(
        503,
        "not-ready",
        "Not ready",
        "Redis is not reachable",
        instance=request.path,
        headers={"Retry-After": "1"},
    )


class _SnapshotCollector(Collector):
    """Shared-state gauges for one scrape, from a snapshot read just before."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> list[GaugeMetricFamily]:
        calls = GaugeMetricFamily(
            "callcenter_calls_in_state",
            "Calls per state, shared by all instances.",
            labels=["state"],
        )
        for state, count in sorted(self._snapshot.calls_by_state.items()):
            calls.add_metric([state], count)
        active = GaugeMetricFamily(
            "callcenter_calls_active",
            "Calls not yet in wrap-up or ended.",
            value=sum(
                n
                for s, n in self._snapshot.calls_by_state.items()
                if s in ("created", "queued", "offered", "connected")
            ),
        )
        agents = GaugeMetricFamily(
            "callcenter_agents", "Agents by presence and activity.", labels=["presence", "activity"]
        )
        for (presence, activity), count in sorted(self._snapshot.agents_by_state.items()):
            agents.add_metric([presence, activity], count)
        return [calls, active, agents]


async def metrics(request: web.Request) -> web.Response:
    snapshot = await request.app[SERVICES].snapshot.read()
    shared = CollectorRegistry(auto_describe=False)
    shared.register(_SnapshotCollector(snapshot))
    body = generate_latest(request.app[METRICS].registry) + generate_latest(shared)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
