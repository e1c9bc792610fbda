"""Metrics scrape benchmark: GET /metrics of a callcenter server whose Redis holds 500 agents
and 50 queues, against GET /metrics of an aiohttp server exposing an empty registry, by the
same client in the same run.

Everything is created through the HTTP API of the server under test, as a contact center
would: 50 queues (rules file, service-level thresholds from 10 to 120 s), 500 agents with
2-4 skills each in mixed presence (most available), 1,000 callers waiting (the available
agents get offers: calls both queued and offered), and 4 finished calls per queue with
surveys, so every per-queue histogram has series. Each scrape reads the shared state from
Redis (two pipelined round trips: calls per state, waiting tickets, offered calls, every
agent) and renders the whole exposition. Scrapes go one at a time, alternating between the
two servers in slices (ABBA), each server in its own process on the same event loop kind.
Key figures: our p99 (target <= 50 ms) and the ratio of our p50 to the empty registry's;
server CPU time per scrape (from /proc, so other jobs on the machine do not inflate it) is
printed beside them. Then a wallboard connects WALLBOARD_CONNECTS times, one at a time:
the time from opening /ws/wallboard to its snapshot, against the time of a scrape.

Run:  python bench/metrics_scrape.py [--agents 500] [--queues 50] [--waiting 1000]
      [--scrapes 400]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

# Run as a script, Python only puts bench/ on the path; the repository root holds `bench`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.events import BenchError, Tokens, bench_tokens
from callcenter.app import create_app
from callcenter.cli import new_event_loop
from callcenter.errors import CallcenterError
from callcenter.observability_setup import observability
from callcenter.settings import Settings
from callcenter.simulate.server_process import (
    RunningServer,
    ServerSpec,
    free_port,
    running_server,
)
from callcenter.storage.embedded import embedded_redis

THRESHOLDS = (10, 15, 20, 25, 30, 40, 45, 60, 90, 120)
FINISHED_PER_QUEUE = 4
SLICE = 25  # scrapes per target per slice
WARMUP = 20
CONCURRENCY = 32  # set-up requests in flight
P99_TARGET_MS = 50.0
BATCH = 500  # events per POST (the server's default limit)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- servers ------------------------------------------------------------------------------


def serve_callcenter(port: int, redis_url: str, rules_dir: Path) -> int:
    """The server under test: the app with its observability context (no speech)."""
    settings = Settings(port=port, redis_url=redis_url, rules_dir=rules_dir)
    app = create_app(settings)
    if observability not in app.cleanup_ctx:  # until app.py lists it
        app.cleanup_ctx.append(observability)
    loop = new_event_loop(settings.event_loop)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)
    return 0


def serve_empty(port: int) -> int:
    """The baseline: the exposition of an empty registry, on the same kind of event loop."""
    registry = CollectorRegistry()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", ready)
    loop = new_event_loop("uvloop")
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)
    return 0


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    pid: int

    @classmethod
    def of(cls, running: RunningServer) -> Server:
        return cls(running.url, running.process.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def write_rules(directory: Path, queues: int) -> list[str]:
    """`queues` queues, each with its own skill and a threshold from THRESHOLDS; calls stay
    in the queue the gateway names. Offers do not time out during the run."""
    names = [f"q{i:02d}" for i in range(queues)]
    lines = [f"skills: [{', '.join(f's{i:02d}' for i in range(queues))}]", "queues:"]
    for index, name in enumerate(names):
        lines.append(
            f"  {name}: {{skills: [s{index:02d}], service_level_seconds: "
            f"{THRESHOLDS[index % len(THRESHOLDS)]}, reservation_seconds: 3600}}"
        )
    lines += ["rules:", "  - name: default"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bench.yaml").write_text("\n".join(lines) + "\n")
    return names


# --- set-up through the API ---------------------------------------------------------------


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, tokens: Tokens) -> None:
        self._session = session
        self._url = url
        self._admin = {"Authorization": f"Bearer {tokens.admin}"}
        self._gateway = {"Authorization": f"Bearer {tokens.gateway}"}

    async def admin(self, method: str, path: str, payload: Any = None) -> None:
        async with self._session.request(
            method, self._url + path, json=payload, headers=self._admin
        ) as response:
            if response.status >= 300:
                raise BenchError(f"{method} {path}: {response.status} {await response.text()}")

    async def events(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), BATCH):
            async with self._session.post(
                self._url + "/v1/events", json=events[start : start + BATCH], headers=self._gateway
            ) as response:
                if response.status != 200:
                    raise BenchError(f"events: {response.status} {await response.text()}")


async def bounded(jobs: Sequence[Any]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(job: Any) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(job) for job in jobs))


def event(kind: str, event_id: str, call_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id, "call_id": call_id, **fields}


async def populate(api: Api, queues: list[str], agents: int, waiting: int, seed: int) -> None:
    rng = random.Random(seed)
    presences = ["available"] * 60 + ["break"] * 15 + ["away"] * 10 + ["offline"] * 15
    ids = [f"a{i:03d}" for i in range(agents)]
    skills = {
        agent: {f"s{q[1:]}": rng.randint(1, 5) for q in rng.sample(queues, rng.randint(2, 4))}
        for agent in ids
    }
    await bounded(
        [api.admin("PUT", f"/v1/agents/{a}", {"name": a, "skills": skills[a]}) for a in ids]
    )
    # Finished calls first, answered by agents that stay offline (never offered a call).
    handlers = ids[: len(queues)]
    now = datetime.now(UTC)
    finished: list[dict[str, Any]] = []
    for round_ in range(FINISHED_PER_QUEUE):
        for index, queue in enumerate(queues):
            call = f"f{round_}-{queue}"
            start = now - timedelta(minutes=30 - round_, seconds=rng.uniform(0, 60))
            answered = start + timedelta(seconds=rng.uniform(2, 150))
            ended = answered + timedelta(seconds=rng.uniform(30, 900))
            caller = {"from": f"+1555{rng.randrange(2_000):07d}"}
            finished += [
                event(
                    "call.created",
                    f"{call}-1",
                    call,
                    queue=queue,
                    **caller,
                    occurred_at=start.isoformat(),
                ),
                event(
                    "call.answered",
                    f"{call}-2",
                    call,
                    agent_id=handlers[index],
                    occurred_at=answered.isoformat(),
                ),
                event("call.ended", f"{call}-3", call, occurred_at=ended.isoformat()),
                event(
                    "survey.completed",
                    f"{call}-4",
                    call,
                    csat=rng.randint(1, 5),
                    nps=rng.randint(0, 10),
                    ces=rng.randint(1, 7),
                ),
            ]
        await api.events(finished)
        finished.clear()
        await bounded([api.admin("POST", f"/v1/agents/{a}/wrap-up/done") for a in handlers])
    rest = ids[len(queues) :]
    await bounded(
        [
            api.admin("POST", f"/v1/agents/{a}/presence", {"presence": rng.choice(presences)})
            for a in rest
        ]
    )
    arrivals = [
        event(
            "call.created",
            f"w{i}",
            f"w{i}",
            queue=rng.choice(queues),
            occurred_at=(now - timedelta(seconds=rng.uniform(0, 300))).isoformat(),
            **{"from": f"+1556{i:07d}"},
        )
        for i in range(waiting)
    ]
    await api.events(arrivals)


# --- measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    name: str
    server: Server
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the server's, over the measured scrapes
    body: bytes = b""

    async def scrape(self, session: aiohttp.ClientSession) -> float:
        started = time.perf_counter()
        async with session.get(self.server.url + "/metrics") as response:
            body = await response.read()
            if response.status != 200:
                raise BenchError(f"{self.name}: /metrics answered {response.status}")
        elapsed = time.perf_counter() - started
        self.body = body
        return elapsed

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def measure(session: aiohttp.ClientSession, targets: list[Target], scrapes: int) -> None:
    for target in targets:
        for _ in range(WARMUP):
            await target.scrape(session)
    slices = max(1, round(scrapes / SLICE))
    for index in range(slices):
        for target in targets if index % 2 == 0 else targets[::-1]:
            cpu = target.server.cpu_seconds()
            for _ in range(SLICE):
                target.latencies.append(await target.scrape(session))
            target.cpu_seconds += target.server.cpu_seconds() - cpu


def describe(body: bytes) -> tuple[int, float | None]:
    """Samples in the exposition and the Redis read time the server reported in it."""
    samples, read = 0, None
    for family in text_string_to_metric_families(body.decode()):
        samples += len(family.samples)
        if family.name == "callcenter_shared_state_read_seconds":
            read = family.samples[0].value
    return samples, read


WALLBOARD_CONNECTS = 20


async def wallboard_connects(
    session: aiohttp.ClientSession, url: str, token: str, count: int
) -> list[float]:
    """Seconds from opening the wallboard socket to its snapshot, `count` times."""
    found = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.ws_connect(url.replace("http", "ws", 1) + "/ws/wallboard") as ws:
            await ws.send_json({"type": "auth", "token": token})
            frame = await ws.receive_json(timeout=120)
            if frame.get("type") != "snapshot":
                raise BenchError(f"wallboard: expected a snapshot, got {frame.get('type')}")
        found.append(time.perf_counter() - started)
    return found


def report_wallboard(connects: list[float], scrape: Target) -> None:
    ordered = sorted(connects)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    ratio = 1000 * p50 / scrape.percentile_ms(0.5)
    print(
        f"wallboard connect to snapshot: p50 {1000 * p50:.1f} ms, p99 {1000 * p99:.1f} ms "
        f"({len(connects)} connects; p50 {ratio:.1f}x a scrape's)"
    )


def report(targets: list[Target], args: argparse.Namespace) -> None:
    empty, ours = targets
    print(
        f"\n{args.agents} agents, {args.queues} queues, {args.waiting} callers waiting; "
        f"{len(ours.latencies)} scrapes per target, one at a time"
    )
    header = f"{'target':<16} {'samples':>8} {'bytes':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{header} {'max ms':>8} {'CPU ms/scrape':>14}")
    for target in targets:
        samples, _ = describe(target.body)
        cpu = 1000 * target.cpu_seconds / len(target.latencies)
        print(
            f"{target.name:<16} {samples:>8} {len(target.body):>9} "
            f"{target.percentile_ms(0.5):>8.2f} {target.percentile_ms(0.99):>8.2f} "
            f"{1000 * max(target.latencies):>8.2f} {cpu:>14.2f}"
        )
    _, read = describe(ours.body)
    ratio = ours.percentile_ms(0.5) / empty.percentile_ms(0.5)
    cpu_ratio = ours.cpu_seconds / empty.cpu_seconds if empty.cpu_seconds else math.nan
    print(f"\nscrape p50 ratio callcenter/empty registry = {ratio:.1f}")
    print(f"server CPU per scrape ratio callcenter/empty registry = {cpu_ratio:.1f}")
    if read is not None:
        print(f"shared-state read from Redis in the last scrape: {1000 * read:.2f} ms")
    p99 = ours.percentile_ms(0.99)
    verdict = "met" if p99 <= P99_TARGET_MS else "MISSED"
    print(f"callcenter p99 = {p99:.2f} ms (target <= {P99_TARGET_MS:g} ms: {verdict})")


async def run(args: argparse.Namespace, scratch: Path, script: Path) -> int:
    async with AsyncExitStack() as stack:
        redis_url = await stack.enter_async_context(
            embedded_redis(scratch / "redis", persist=False)
        )
        tokens = await stack.enter_async_context(bench_tokens(redis_url))
        rules_dir = scratch / "rules"
        queues = write_rules(rules_dir, args.queues)
        port, empty_port = free_port(), free_port()
        serving = ("--serve", "--port", str(port), "--redis-url", redis_url)
        ours = ServerSpec(
            command=(sys.executable, str(script), *serving, "--rules-dir", str(rules_dir)),
            port=port,
            name="callcenter",
        )
        empty = ServerSpec(
            command=(sys.executable, str(script), "--empty-server", "--port", str(empty_port)),
            port=empty_port,
            name="empty",
        )
        ours_server = Server.of(await stack.enter_async_context(running_server(ours)))
        empty_server = Server.of(await stack.enter_async_context(running_server(empty)))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        )
        started = time.perf_counter()
        api = Api(session, ours_server.url, tokens)
        await populate(api, queues, args.agents, args.waiting, seed=1)
        print(f"set-up through the API: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        await asyncio.sleep(1.0)  # let dispatch settle the offers
        targets = [Target("empty registry", empty_server), Target("callcenter", ours_server)]
        await measure(session, targets, args.scrapes)
        report(targets, args)
        connects = await wallboard_connects(
            session, ours_server.url, tokens.admin, WALLBOARD_CONNECTS
        )
        report_wallboard(connects, targets[1])
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="GET /metrics latency against an empty registry.")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--waiting", type=int, default=1000, help="callers waiting")
    parser.add_argument("--scrapes", type=int, default=400, help="measured scrapes per target")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--empty-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--rules-dir", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve:
        return serve_callcenter(args.port, args.redis_url, args.rules_dir)
    if args.empty_server:
        return serve_empty(args.port)
    if args.queues < 1 or args.agents < args.queues or args.scrapes < 1 or args.waiting < 0:
        print("metrics bench: need queues >= 1, agents >= queues, scrapes >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as scratch:
        try:
            return asyncio.run(run(args, Path(scratch), Path(__file__).resolve()))
        except (BenchError, CallcenterError) as error:
            print(f"metrics bench: {error}", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("metrics bench: interrupted; servers stopped", file=sys.stderr)
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
