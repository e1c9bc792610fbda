"""A gateway's load through a Redis outage, for the failover test, bench/failover.py and
bench/redis_restart.py: the real app (behind Sentinel: a real primary, replicas and three
sentinels; or on one Redis), senders posting `call.created` events as fast as they are
answered (a 503 is retried with the same event, as a gateway does), the outage a third of
the way through (`SENTINEL FAILOVER`, a SIGKILL of the primary, or of the only Redis and its
restart from its AOF), and at the end every event answered 2xx looked for on the primary."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.storage import keys
from callcenter.web.state import SERVICES
from tests.redis_topology import MASTER, sentinel_set, start_node


@dataclass
class Run:
    replicas: int  # acknowledging each commit
    nodes: int  # replicas in the set
    crash: bool  # the primary was killed (else: SENTINEL FAILOVER)
    fsync: str = ""  # the only Redis's appendfsync (a restart run)
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, answered 2xx
    refused: int = 0  # 503s (each retried)
    other: list[str] = field(default_factory=list)  # anything but 2xx or 503
    outage: float = 0.0  # the longest time from a failed answer to the next 2xx
    lost: int = 0  # answered 2xx, not on the primary at the end
    repairs: list[str] = field(default_factory=list)  # the invariant sweep's, at the end


@asynccontextmanager
async def app_on(scratch: Path, **redis: Any) -> AsyncIterator[tuple[web.Application, str, str]]:
    """The app with these Redis settings, served on loopback; it, its URL and a gateway
    token."""
    settings = Settings(
        data_dir=scratch / "data",
        webhook_secret=Secret("failover-secret"),
        log_level="ERROR",
        **redis,
    )
    app = create_app(settings)
    async with TestServer(app, host="127.0.0.1") as server:
        token, _ = await app[SERVICES].auth.create_token("gateway", "failover")
        yield app, str(server.make_url("")).rstrip("/"), token


async def send(
    session: aiohttp.ClientSession, url: str, token: str, ids: Iterator[str], run: Run
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    failing_since: float | None = None
    for call_id in ids:  # shared by the senders: each takes the next
        event = {"type": "call.created", "event_id": f"e-{call_id}", "call_id": call_id}
        event["from"] = "+15550000000"
        while True:
            started = time.perf_counter()
            try:
                async with session.post(url + "/v1/events", json=event, headers=headers) as answer:
                    status = answer.status
                    await answer.read()
            except aiohttp.ClientError as error:
                status, run.other = 0, [*run.other, str(error)][-5:]
            now = time.perf_counter()
            if 200 <= status < 300:
                run.acknowledged.append(call_id)
                run.latencies.append(now - started)
                if failing_since is not None:
                    run.outage = max(run.outage, now - failing_since)
                    failing_since = None
                break
            run.refused += status == 503
            if status not in (0, 503):
                run.other.append(f"HTTP {status}")
                break
            failing_since = failing_since or now
            await asyncio.sleep(0.05)


async def drive(
    replicas: int, nodes: int, events: int, senders: int, scratch: Path, *, crash: bool = False
) -> Run:
    """`events` events through a failover (`crash`: the primary SIGKILLed, and started
    again a few seconds after a replica took over), with `nodes` replicas of which
    `replicas` acknowledge each commit; what became of them."""
    run = Run(replicas, nodes, crash)
    name = f"{'crash' if crash else 'failover'}-ack{replicas}-of-{nodes}"
    with sentinel_set(scratch / name, replicas=nodes) as topology:
        sentinels = tuple(("127.0.0.1", s.port) for s in topology.sentinels)
        redis = {"redis_sentinels": sentinels, "redis_master_name": MASTER}
        served = app_on(scratch / f"app-{name}", redis_ack_replicas=replicas, **redis)
        async with served as app:
            outage = topology.crash if crash else topology.failover
            await _load(app, run, name, events, senders, outage)
        run.lost = await asyncio.to_thread(_missing, topology.primary_port(), run.acknowledged)
    return run


async def drive_restart(fsync: str, events: int, senders: int, scratch: Path) -> Run:
    """`events` events while the only Redis (AOF, `appendfsync fsync`) is SIGKILLed a third
    of the way through and started again a second later from its files."""
    run = Run(0, 0, True, fsync)
    name = f"restart-{fsync}"
    node = start_node(scratch / name, "redis", ["--appendonly", "yes", "--appendfsync", fsync])
    try:
        url = f"redis://127.0.0.1:{node.port}/0"
        async with app_on(scratch / f"app-{name}", redis_url=url) as app:

            def outage() -> int:
                node.stop(signal.SIGKILL)
                time.sleep(1.0)
                node.restart()
                return node.port

            await _load(app, run, name, events, senders, outage)
        run.lost = await asyncio.to_thread(_missing, node.port, run.acknowledged)
    finally:
        node.stop()
    return run


async def _load(
    served: tuple[web.Application, str, str],
    run: Run,
    name: str,
    events: int,
    senders: int,
    outage: Callable[[], int],
) -> None:
    """The senders' events, with `outage` (in a thread) after a third of them; then a
    sweep for inconsistencies."""
    app, url, token = served
    moving: list[asyncio.Future[int]] = []
    loop = asyncio.get_running_loop()

    def ids() -> Iterator[str]:
        for n in range(events):
            if n == events // 3:
                moving.append(loop.run_in_executor(None, outage))
            yield f"{name}-{n}"

    shared = ids()
    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(send(session, url, token, shared, run) for _ in range(senders)))
    await asyncio.wait_for(moving[0], 60)
    run.repairs = [str(f.kind) for f in await app[SERVICES].sweep.sweep()]


def _missing(port: int, call_ids: list[str]) -> int:
    primary = redis.Redis(port=port)
    try:
        pipe = primary.pipeline(transaction=False)
        for call_id in call_ids:
            pipe.exists(keys.call(call_id))
        return sum(1 for found in pipe.execute() if not found)
    finally:
        primary.close()
