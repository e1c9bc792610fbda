"""Events benchmark: canonical call events posted over HTTP to a running callcenter server,
measured against an aiohttp hello-world JSON endpoint by the same client in the same run.

One aiohttp client on loopback (keep-alive, `--concurrency` in flight) drives both servers,
each in its own process: first saturation (closed loop, `--seconds`) → events/s, p50, p99;
then a fixed rate (open loop, `--rate` events/s, latency taken from each request's scheduled
send time so a slow server cannot hide its queueing) → p50, p99. The workload is call
lifecycles that never conflict: created → dtmf → ended (abandoned), and created → answered
→ ended → wrap-up done with agents taken from an idle pool. Key figures: the throughput ratio
callcenter / hello-world (target >= 0.6) and the p99 at the fixed rate (target <= 10 ms);
and, steadier on a busy machine, the server CPU per request (against hello-world's) and
the Redis CPU per 1,000 events (one Redis's ceiling).

Run:  python bench/events.py [--quick] [--seconds 10] [--concurrency 64] [--rate 1000]
      [--redis-url redis://...]   (default: a throwaway embedded redis-server)
Exit status: 0, or 1 when any request failed (non-2xx), or 2 when set-up failed; missed
targets do not fail the run. An external Redis keeps the calls and caller histories written
(until their TTLs); use a scratch one."""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import math
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu_budget import CpuBudget, RequestCost
from bench.cpu_meter import CpuMeter
from callcenter.cli import new_event_loop
from callcenter.errors import CallcenterError
from callcenter.simulate.server_process import (
    RunningServer,
    ServerSpec,
    free_port,
    running_server,
    serve,
)
from callcenter.storage.connection import redis_client
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.tokens import TokenRepository

WARMUP_SECONDS = 1.0
PACED_SECONDS = 5.0
QUICK_SECONDS = 2.0
SLICE_SECONDS = 2.0  # phases alternate between the targets in slices this long
STEP_SECONDS = 0.02  # time between the events of one call in the fixed-rate phase
EVENTS_PER_CALL = 3
QUEUES = ("general", "billing", "support", "sales")
CALLERS = 10_000  # distinct caller numbers: some callers call again, as in life
SERVICE_NUMBER = "+15559870000"
RATIO_TARGET = 0.6
# the floor target: hello-world plus as many Redis round trips as an event takes at least
# (read the call, commit it), through the server's own Redis client
FLOOR = "2-trip floor"
FLOOR_TRIPS = 2
P99_TARGET_MS = 10.0
ERROR_SAMPLES = 5


class BenchError(Exception):
    """Set-up failed: a server did not start, a token or agent could not be made."""


# --- workload ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One POST: a canonical event (gateway token) or an agent action (admin token)."""

    path: str
    body: bytes
    is_event: bool = True


@dataclass(frozen=True, slots=True)
class Lifecycle:
    steps: tuple[Step, ...]
    agent: str | None = None
    number: int = 0  # the call's number: its steps go to instances number, number + 1, …


class Workload:
    """Call lifecycles with unique call and event ids. An agent answers only while idle and
    returns to the pool after wrap-up done, so no event can conflict (409)."""

    def __init__(self, prefix: str, agents: Sequence[str], *, seed: int) -> None:
        self._prefix = prefix
        self._idle: deque[str] = deque(agents)
        self._rng = random.Random(seed)
        self._calls = itertools.count()
        self._events = itertools.count()

    def next_call(self) -> Lifecycle:
        number = next(self._calls)
        call_id = f"{self._prefix}.c{number}"
        caller = f"+1555{self._rng.randrange(CALLERS):07d}"
        details = {"from": caller, "to": SERVICE_NUMBER, "queue": self._rng.choice(QUEUES)}
        created = self._event("call.created", call_id, details)
        if number % 2 == 0 and self._idle:
            agent = self._idle.popleft()
            answered = self._event("call.answered", call_id, {"agent_id": agent})
            ended = self._event("call.ended", call_id, {"end_reason": "normal"})
            done = Step(f"/v1/agents/{agent}/wrap-up/done", b"", is_event=False)
            return Lifecycle((created, answered, ended, done), agent, number)
        dtmf = self._event("call.dtmf", call_id, {"digits": str(self._rng.randrange(1, 10))})
        ended = self._event("call.ended", call_id, {"end_reason": "normal"})
        return Lifecycle((created, dtmf, ended), number=number)

    def finished(self, lifecycle: Lifecycle) -> None:
        """Every step succeeded: its agent is idle again."""
        if lifecycle.agent is not None:
            self._idle.append(lifecycle.agent)

    def _event(self, kind: str, call_id: str, fields: dict[str, str]) -> Step:
        event_id = f"{self._prefix}.e{next(self._events)}"
        body = {"type": kind, "event_id": event_id, "call_id": call_id, **fields}
        return Step("/v1/events", msgspec.json.encode(body))


# --- measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseStats:
    latencies: list[float] = field(default_factory=list)  # seconds, every request
    events: int = 0
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    until: float = math.inf  # requests that finish later count as errors only
    cpu_seconds: float = 0.0  # the target's server processes
    redis_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0  # this process: the client sending the requests

    def record(self, started: float, finished: float, step: Step, problem: str | None) -> None:
        if finished <= self.until:
            self.latencies.append(finished - started)
            self.requests += 1
            self.events += step.is_event
        if problem is not None:
            self.errors += 1
            if len(self.error_samples) < ERROR_SAMPLES:
                self.error_samples.append(f"{step.path}: {problem}")

    def add(self, other: PhaseStats) -> None:
        self.latencies += other.latencies
        self.events += other.events
        self.requests += other.requests
        self.errors += other.errors
        self.error_samples += other.error_samples[: ERROR_SAMPLES - len(self.error_samples)]
        self.elapsed += other.elapsed
        self.cpu_seconds += other.cpu_seconds
        self.redis_cpu_seconds += other.redis_cpu_seconds
        self.client_cpu_seconds += other.client_cpu_seconds

    def cpu_us_per(self, count: int, seconds: float) -> float:
        return 1e6 * seconds / count if count else math.nan

    def events_per_second(self) -> float:
        return self.events / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the request latencies, in milliseconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class Tokens:
    gateway: str
    admin: str


class Target:
    """One server (or several instances of it) as the client sees it: base URLs, the
    headers of each token, and the server processes whose CPU time is measured."""

    def __init__(
        self,
        name: str,
        session: aiohttp.ClientSession,
        urls: Sequence[str],
        tokens: Tokens,
        pids: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.pids = tuple(pids)
        self._session = session
        self._base_urls = tuple(urls)
        self._gateway = {"Authorization": f"Bearer {tokens.gateway}"}
        self._admin = {"Authorization": f"Bearer {tokens.admin}"}

    async def send(self, step: Step, stats: PhaseStats, started: float, hop: int = 0) -> bool:
        """POST `step` to instance `hop` (modulo their number); latency runs from `started`
        (perf_counter). True on 2xx."""
        headers = self._gateway if step.is_event else self._admin
        problem: str | None = None
        try:
            async with self._session.post(
                self._base_urls[hop % len(self._base_urls)] + step.path,
                data=step.body,
                headers={**headers, "Content-Type": "application/json"},
            ) as response:
                answer = await response.read()
                if not 200 <= response.status < 300:
                    problem = f"HTTP {response.status} {answer[:200]!r}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = f"{type(error).__name__}: {error}"
        stats.record(started, time.perf_counter(), step, problem)
        return problem is None

    async def admin_request(self, method: str, path: str, payload: Any = None) -> int:
        """An admin request outside the measurement; its status."""
        async with self._session.request(
            method, self._base_urls[0] + path, json=payload, headers=self._admin
        ) as response:
            await response.read()
            return response.status


async def _run_call(
    target: Target, workload: Workload, stats: PhaseStats, scheduled_at: float | None = None
) -> None:
    """The steps of one call in order; paced STEP_SECONDS apart when `scheduled_at` is set."""
    lifecycle = workload.next_call()
    for index, step in enumerate(lifecycle.steps):
        if scheduled_at is None:
            started = time.perf_counter()
        else:
            started = scheduled_at + index * STEP_SECONDS
            await asyncio.sleep(max(0.0, started - time.perf_counter()))
        if not await target.send(step, stats, started, lifecycle.number + index):
            return  # the agent's state is unknown now: keep it out of the pool
    workload.finished(lifecycle)


async def saturate(
    target: Target, workload: Workload, *, concurrency: int, seconds: float
) -> PhaseStats:
    """Closed loop: `concurrency` workers each run calls back to back for `seconds`. Calls
    under way at the deadline are finished (so agents go back to the pool) but requests
    finishing after it are not measured: the figures are those of the full load."""
    start = time.perf_counter()
    deadline = start + seconds
    stats = PhaseStats(until=deadline)

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await _run_call(target, workload, stats)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    stats.elapsed = seconds
    return stats


async def paced(target: Target, workload: Workload, *, rate: float, seconds: float) -> PhaseStats:
    """Open loop: a call starts every EVENTS_PER_CALL / rate seconds whatever the server
    does, so events arrive at `rate`; latency is measured from the scheduled send time."""
    stats = PhaseStats()
    interval = EVENTS_PER_CALL / rate
    start = time.perf_counter() + 0.01
    async with asyncio.TaskGroup() as group:
        for index in range(max(1, round(seconds / interval))):
            scheduled_at = start + index * interval
            await asyncio.sleep(max(0.0, scheduled_at - time.perf_counter()))
            group.create_task(_run_call(target, workload, stats, scheduled_at))
    stats.elapsed = time.perf_counter() - start
    return stats


# --- servers ------------------------------------------------------------------------------


async def _hello(request: web.Request) -> web.Response:
    body = await request.read()
    parsed = json.loads(body) if body else None
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    return web.json_response({"result": "applied", "type": kind})


async def _hello_ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


# the floor target's script: one small write, as a commit at its least
FLOOR_SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]) return 1"


def _floor_handler(redis_url: str, trips: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """The floor target's Redis client (the server's own), open while the app runs, and
    its route: hello-world's, plus `trips` round trips to Redis, each a script that writes
    the body under the request's call id."""

    async def client_context(app: web.Application) -> AsyncIterator[None]:
        async with redis_client(redis_url) as client:
            sha = await client.execute("SCRIPT", "LOAD", FLOOR_SCRIPT)

            async def floor(request: web.Request) -> web.Response:
                body = await request.read()
                parsed = json.loads(body) if body else None
                found = parsed if isinstance(parsed, dict) else {}
                key = f"bench:floor:{found.get('call_id')}"
                for _ in range(trips):
                    await client.execute("EVALSHA", sha, 1, key, body)
                return web.json_response({"result": "applied", "type": found.get("type")})

            app.router.add_post("/{tail:.*}", floor)
            yield

    return client_context


def serve_hello(port: int, redis_url: str | None = None, trips: int = 0) -> int:
    """The baseline: one POST route that reads a JSON body and answers a small JSON object.
    With `redis_url`, the floor target: the same, plus `trips` round trips to Redis."""
    app = web.Application()
    app.router.add_get("/readyz", _hello_ready)
    if redis_url is None:
        app.router.add_post("/{tail:.*}", _hello)
    else:
        app.cleanup_ctx.append(_floor_handler(redis_url, trips))
    # the same event loop the server runs on (uvloop where installed), for a fair baseline
    loop = new_event_loop("uvloop")
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)
    return 0


@asynccontextmanager
async def bench_tokens(redis_url: str) -> AsyncIterator[Tokens]:
    """A gateway and an admin token written straight to Redis; revoked at the end."""
    async with redis_client(redis_url) as client:
        repository = TokenRepository(DocumentStore(client))
        now = datetime.now(UTC)
        issued = [
            await repository.create(role, "bench", now, timedelta(hours=1))
            for role in ("gateway", "admin")
        ]
        try:
            yield Tokens(gateway=issued[0][0], admin=issued[1][0])
        finally:
            for _, record in issued:
                await repository.revoke(record.id)


async def register_agents(target: Target, agents: Sequence[str]) -> None:
    """Create the agents; raises BenchError if one fails. They stay offline on purpose:
    routing never reserves them, so only the bench's own answered events take them."""

    async def one(agent: str) -> None:
        status = await target.admin_request(
            "PUT", f"/v1/agents/{agent}", {"name": f"Bench {agent}", "skills": {"general": 3}}
        )
        if status not in (200, 201):
            raise BenchError(f"PUT /v1/agents/{agent} answered {status}")

    await asyncio.gather(*(one(agent) for agent in agents))


async def remove_agents(target: Target, agents: Sequence[str]) -> None:
    """Best effort: an agent still holding a call (after a failed request) stays."""
    statuses = await asyncio.gather(
        *(target.admin_request("DELETE", f"/v1/agents/{agent}") for agent in agents)
    )
    left = sum(status != 204 for status in statuses)
    if left:
        print(f"note: {left} bench agents could not be removed", file=sys.stderr)


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    concurrency: int
    seconds: float
    paced_seconds: float
    warmup_seconds: float
    rate: float


@dataclass(slots=True)
class Results:
    rows: dict[tuple[str, str], PhaseStats] = field(default_factory=dict)  # (target, phase)

    def add(self, target: str, phase: str, stats: PhaseStats) -> None:
        self.rows.setdefault((target, phase), PhaseStats()).add(stats)


async def measured_slice(
    target: Target, meter: CpuMeter, phase: str, workload: Workload, plan: Plan, seconds: float
) -> PhaseStats:
    """One slice of `phase` on `target`, with the CPU time its servers and Redis spent.
    The client's own garbage collector waits until the slice is over: a full collection
    stops the client for about 40 ms, and the requests of that moment counted the pause
    as the server's latency."""
    gc.collect()
    gc.disable()
    try:
        before = await meter.read(target.pids)
        client_before = time.process_time()
        if phase == "saturation":
            stats = await saturate(target, workload, concurrency=plan.concurrency, seconds=seconds)
        else:
            stats = await paced(target, workload, rate=plan.rate, seconds=seconds)
        client_cpu = time.process_time() - client_before
        after = await meter.read(target.pids)
    finally:
        gc.enable()
    stats.cpu_seconds = after.servers - before.servers
    stats.redis_cpu_seconds = after.redis - before.redis
    stats.client_cpu_seconds = client_cpu
    return stats


async def measure(
    targets: Sequence[Target], agents: Sequence[str], plan: Plan, meter: CpuMeter
) -> Results:
    """Each phase runs in slices of about SLICE_SECONDS that alternate the targets (ABBA),
    so a change in machine load (other jobs) hits both alike; slices add up per target."""
    run = secrets.token_hex(4)
    results = Results()
    # One workload per target for the whole run: an agent left busy by a failed request
    # stays out of its pool, and ids never repeat.
    workloads = {t.name: Workload(f"b{run}.{t.name}", agents, seed=1) for t in targets}
    for target in targets:
        warmup = await saturate(
            target,
            workloads[target.name],
            concurrency=plan.concurrency,
            seconds=plan.warmup_seconds,
        )
        failed = PhaseStats(errors=warmup.errors, error_samples=warmup.error_samples)
        results.add(target.name, "saturation", failed)  # its errors count, not its figures
    for phase, seconds in (("saturation", plan.seconds), ("paced", plan.paced_seconds)):
        slices = max(1, round(seconds / SLICE_SECONDS))
        for index in range(slices):
            for target in targets if index % 2 == 0 else targets[::-1]:
                workload = workloads[target.name]
                stats = await measured_slice(target, meter, phase, workload, plan, seconds / slices)
                results.add(target.name, phase, stats)
    return results


def print_report(results: Results, plan: Plan) -> None:
    print(
        f"\n{plan.concurrency} in flight, saturation {plan.seconds:g} s, "
        f"fixed rate {plan.rate:g} events/s for {plan.paced_seconds:g} s"
    )
    header = f"{'target':<12} {'phase':<11} {'events/s':>9} {'req/s':>8}"
    print(f"{header} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for (name, phase), stats in results.rows.items():
        label = "saturation" if phase == "saturation" else f"{plan.rate:g}/s"
        requests = stats.requests / stats.elapsed if stats.elapsed else 0.0
        print(
            f"{name:<12} {label:<11} {stats.events_per_second():>9.0f} {requests:>8.0f} "
            f"{stats.percentile_ms(0.5):>7.2f} {stats.percentile_ms(0.99):>7.2f} "
            f"{stats.errors:>6}"
        )
    hello = results.rows["hello-world", "saturation"].events_per_second()
    ours = results.rows["callcenter", "saturation"].events_per_second()
    ratio = ours / hello if hello else math.nan
    p99 = results.rows["callcenter", "paced"].percentile_ms(0.99)
    floor = results.rows[FLOOR, "saturation"].events_per_second()
    print(f"\nthroughput ratio callcenter/hello-world = {ratio:.2f} (target >= {RATIO_TARGET})")
    print(
        f"throughput ratio {FLOOR}/hello-world = {floor / hello if hello else math.nan:.2f} "
        f"(hello-world plus {FLOOR_TRIPS} Redis round trips: what the round trips cost)"
    )
    print(f"p99 at {plan.rate:g}/s = {p99:.2f} ms (target <= {P99_TARGET_MS:g} ms)")
    print_cpu(results)
    for (name, phase), stats in results.rows.items():
        for sample in stats.error_samples:
            print(f"error ({name}, {phase}): {sample}", file=sys.stderr)


def print_cpu(results: Results) -> None:
    """Server CPU per request, and Redis CPU per 1,000 events: the costs, apart from how
    busy the machine was (all phases together)."""
    totals: dict[str, PhaseStats] = {}
    for (name, _), stats in results.rows.items():
        totals.setdefault(name, PhaseStats()).add(stats)
    hello, ours, floor = totals["hello-world"], totals["callcenter"], totals[FLOOR]
    ours_us = ours.cpu_us_per(ours.requests, ours.cpu_seconds)
    hello_us = hello.cpu_us_per(hello.requests, hello.cpu_seconds)
    floor_us = floor.cpu_us_per(floor.requests, floor.cpu_seconds)
    print(
        f"server CPU per request: callcenter {ours_us:.0f} µs, hello-world {hello_us:.0f} µs "
        f"(ratio hello-world/callcenter = {hello_us / ours_us:.2f}), {FLOOR} {floor_us:.0f} µs"
    )
    print(f"Redis CPU per 1,000 events: {redis_per_1000(ours):.3f} s")
    print_budget(
        results.rows["hello-world", "saturation"], results.rows["callcenter", "saturation"]
    )


def print_budget(hello: PhaseStats, ours: PhaseStats) -> None:
    """Where a request's CPU goes at saturation, client and Redis included: all share the
    machine's cores, so the throughput ratio is about the inverse ratio of the whole CPU a
    request costs; and what the ratio target leaves the server."""
    budget = CpuBudget(
        hello=RequestCost.of(
            hello.requests, hello.client_cpu_seconds, hello.cpu_seconds, hello.redis_cpu_seconds
        ),
        ours=RequestCost.of(
            ours.requests, ours.client_cpu_seconds, ours.cpu_seconds, ours.redis_cpu_seconds
        ),
    )
    for name, cost in (("hello-world", budget.hello), ("callcenter", budget.ours)):
        print(
            f"CPU per request at saturation, {name}: client {cost.client_us:.0f} µs + server "
            f"{cost.server_us:.0f} µs + Redis {cost.redis_us:.0f} µs = {cost.whole_us:.0f} µs"
        )
    print(
        f"throughput ratio these costs predict = {budget.predicted_ratio():.2f}; the target "
        f"{RATIO_TARGET} leaves the server {budget.server_us_allowed(RATIO_TARGET):.0f} µs "
        f"a request at this Redis cost (the client's as against hello-world)"
    )


def redis_per_1000(stats: PhaseStats) -> float:
    return 1000 * stats.redis_cpu_seconds / stats.events if stats.events else math.nan


SERVER_ENVIRONMENT = {"CALLCENTER_LOG_LEVEL": "WARNING"}


async def start_redis(stack: AsyncExitStack, args: argparse.Namespace, scratch: Path) -> str:
    """The Redis URL: --redis-url, or a throwaway embedded one stopped with `stack`."""
    url: str = args.redis_url or await stack.enter_async_context(
        embedded_redis(scratch / "redis", persist=False)
    )
    return url


async def start_callcenter(stack: AsyncExitStack, redis_url: str) -> RunningServer:
    """A callcenter server process on `redis_url`, stopped with `stack`."""
    env = {**os.environ, **SERVER_ENVIRONMENT}
    spec = serve(free_port(), redis_url=redis_url, environ=env, name="callcenter")
    return await stack.enter_async_context(running_server(spec))


async def start_hello(
    stack: AsyncExitStack, script: Path, redis_url: str | None = None
) -> RunningServer:
    """The hello-world server; with `redis_url`, the floor one (FLOOR_TRIPS round trips)."""
    port = free_port()
    floor = ("--floor-redis-url", redis_url) if redis_url else ()
    hello = ServerSpec(
        command=(sys.executable, str(script), "--hello-server", "--port", str(port), *floor),
        port=port,
        environ={**os.environ, **SERVER_ENVIRONMENT},
        name=FLOOR if redis_url else "hello-world",
    )
    return await stack.enter_async_context(running_server(hello))


async def open_target(
    stack: AsyncExitStack,
    name: str,
    servers: Sequence[RunningServer],
    tokens: Tokens,
    concurrency: int,
) -> Target:
    """A target with its own pool of keep-alive connections, so both stay warm."""
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=30),
        )
    )
    urls = [server.url for server in servers]
    return Target(name, session, urls, tokens, [server.process.pid for server in servers])


async def run(args: argparse.Namespace, scratch: Path, script: Path) -> int:
    quick = args.quick
    plan = Plan(
        concurrency=args.concurrency,
        seconds=QUICK_SECONDS if quick else args.seconds,
        paced_seconds=QUICK_SECONDS if quick else min(PACED_SECONDS, args.seconds),
        warmup_seconds=WARMUP_SECONDS / 2 if quick else WARMUP_SECONDS,
        rate=args.rate,
    )
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with AsyncExitStack() as stack:
        redis_url = await start_redis(stack, args, scratch)
        tokens = await stack.enter_async_context(bench_tokens(redis_url))
        meter = CpuMeter(await stack.enter_async_context(redis_client(redis_url)))
        ours = await start_callcenter(stack, redis_url)
        hello = await start_hello(stack, script)
        hello_world = await open_target(stack, "hello-world", [hello], tokens, plan.concurrency)
        lowest = await start_hello(stack, script, redis_url)
        floor = await open_target(stack, FLOOR, [lowest], tokens, plan.concurrency)
        callcenter = await open_target(stack, "callcenter", [ours], tokens, plan.concurrency)
        agents = [f"bench-{secrets.token_hex(3)}-{i:03d}" for i in range(plan.concurrency)]
        await register_agents(callcenter, agents)
        results = await measure((hello_world, floor, callcenter), agents, plan, meter)
        print_report(results, plan)
        await remove_agents(callcenter, agents)
    return 1 if any(stats.errors for stats in results.rows.values()) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="POST /v1/events throughput and latency against an aiohttp hello-world."
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="saturation phase length")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s, fixed-rate phase")
    parser.add_argument("--redis-url", help="use this Redis instead of an embedded one")
    parser.add_argument("--quick", action="store_true", help="2 s phases: a smoke run")
    parser.add_argument("--hello-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--floor-redis-url", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.hello_server:
        return serve_hello(args.port, args.floor_redis_url, FLOOR_TRIPS)
    if args.concurrency < 1 or args.seconds <= 0 or args.rate <= 0:
        print("events bench: --concurrency, --seconds and --rate must be positive", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-events-") as scratch:
        try:
            return asyncio.run(run(args, Path(scratch), Path(__file__).resolve()))
        except (BenchError, CallcenterError) as error:
            print(f"events bench: {error}", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("events bench: interrupted; servers stopped", file=sys.stderr)
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
