"""Routing benchmark: decisions per second and decision latency inside one server process.

2,000 agents with 3-5 of 30 skills, 1,000 calls waiting in 30 queues (kept at 1,000: each
offer is replaced by a new call); `--queues` sets the number of queues (one skill each).
Measured with the real services on a real redis-server:
  one-by-one  agents become available one at a time; each dispatch pass (load the ready
              agents and the waiting tickets, rank, claim atomically) makes one offer
  asked       one by one again (half as many), each pass asked for as the server asks
              for one: the dispatch turn taken with the pass's first read, and given up
              with its claim (offers counted in Redis)
  burst       200 agents become available at once; one pass offers to all of them
Latency per decision is ranking plus the claim (the pass time divided by its offers for
the burst). The floor, measured in the same run on the same Redis and client: the round
trip of a trivial EVALSHA. Targets: p99 <= 5 ms, >= 1,000 decisions/s per process.

Also printed: Redis memory per agent and per waiting call (used_memory before and after
adding them).

Time is the bench's own: calls arrive 1 ms of it apart, and each agent freed one by one
moves it on 1 ms, a steady state at 1,000 a second (the 50,000 waiting have waited up to
50 s, so some are past the 30 s step). So every run at one size ranks the same work,
however long the setup took on its machine. `--arrival-ms 0.4` brings 50,000 in within
20 s: no call is past a step yet, and passes have more to rank and park.

Redis is reached as the server reaches its embedded one: over a Unix socket. `--transport
tcp` measures over loopback TCP instead (each round trip costs more there: a pass makes
two or three, one after the other).

Run:  python bench/routing.py [--agents 2000] [--calls 1000] [--queues 30] [--releases 500]
      [--transport unix|tcp] [--arrival-ms 1]
      platform scale: --agents 15000 --queues 500 --calls 50000
      both, and their ratio (~1.5 min): --both
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.cli import new_event_loop
from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Presence
from callcenter.domain.calls import CallState
from callcenter.domain.events import CallCreated
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule, Step, Strategy
from callcenter.metrics import Metrics
from callcenter.rules.cel_condition import CelCondition
from callcenter.services.call_events import CallEventService
from callcenter.services.callers import CallerService
from callcenter.services.clock import Clock, SystemClock
from callcenter.services.dispatch import Dispatcher
from callcenter.services.notify import NoNotifier
from callcenter.services.routing import RoutingService
from callcenter.services.rules_source import RulesSource
from callcenter.storage import keys
from callcenter.storage.agents import AgentRepository
from callcenter.storage.callers import CallerRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.connection import redis_client
from callcenter.storage.dispatch_turn import DispatchTurn
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.resp import RespClient, Script

SKILLS = 30
BURST = 200


# (virtual) time between two calls arriving, and between two agents freed one by one:
# 1,000 a second both, a steady state (50,000 waiting have waited up to 50 s)
PASS_SECONDS = 0.001


class VirtualClock:
    """The bench's time, moved on only by the bench: each call's arrival, each agent freed.
    With the real clock, how long the setup took decided how long the calls had waited
    when passes were measured, and so which steps had widened (at 30 s) and how much there
    was to rank: runs differed by their machine's speed. This way every run at one size
    measures the same work."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def make_rules(count: int = SKILLS) -> RoutingRules:
    queues = {
        f"q{i}": QueueConfig(
            name=f"q{i}",
            skills=(f"s{i}",),
            strategy=Strategy.BEST_SKILL if i % 3 == 0 else Strategy.LONGEST_IDLE,
            reservation_seconds=3600,
        )
        for i in range(count)
    }
    rules = tuple(
        Rule(
            name=f"r{i}",
            queue=f"q{i}",
            when=CelCondition(f'call.queue == "q{i}"'),
            priority=5 if i % 10 == 0 else 0,
            steps=(Step(after=0, require={f"s{i}": 3}), Step(after=30)),
        )
        for i in range(count)
    )
    return RoutingRules(queues=queues, rules=(*rules, Rule(name="default")), version="bench")


class DrivenDispatcher(Dispatcher):
    """The dispatcher with its passes run by the bench alone: the calls the bench adds do
    not start passes of their own in the background, which would compete with the pass
    measured."""

    def request(self) -> None:
        return None

    async def asked(self) -> None:
        """A pass asked for as the server asks for one: through the dispatch turn (taken,
        then given up), as `request` would run it."""
        take_turn_and_pass = getattr(self, "_take_turn_and_pass", None)
        if take_turn_and_pass is not None:
            await take_turn_and_pass()
        # revisions before it (bench/routing_ab.py binds this file to older ones)
        elif await self._agents.any_ready() and await self._turn.take():  # type: ignore[attr-defined]
            await self._passes()  # type: ignore[call-arg]


def freed_hint() -> Any:
    """The agents freed, told to the dispatcher as the server tells it (see
    services/freed_agents); None in revisions before it (bench/routing_ab.py binds this
    file to older ones)."""
    try:
        module = importlib.import_module("callcenter.services.freed_agents")
    except ImportError:
        return None
    return module.FreedAgents()


class Bench:
    def __init__(
        self,
        client: RespClient,
        seed: int,
        queues: int = SKILLS,
        prefix: str = "",
        *,
        driven: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.prefix = prefix  # of the call and event ids this bench makes
        self.queues = queues
        self.random = random.Random(seed)
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        store = DocumentStore(client)
        self.client = client
        freed = freed_hint()
        self.calls = CallRepository(
            store,
            retention=timedelta(days=1),
            dedupe_window=timedelta(hours=1),
            on_change=freed.calls_changed if freed else None,
        )
        self.agents = AgentRepository(store, on_change=freed.agent_changed if freed else None)
        rules = RulesSource(lambda: make_rules(queues))
        callers = CallerService(
            CallerRepository(store, retention=timedelta(days=1)), clock=self.clock
        )
        self.dispatcher = (DrivenDispatcher if driven else Dispatcher)(
            self.calls,
            self.agents,
            rules,
            turn=DispatchTurn(client),
            clock=self.clock,
            metrics=self.metrics,
            notify=NoNotifier(),
            **({} if freed is None else {"freed": freed}),
        )
        routing = RoutingService(
            self.calls,
            self.agents,
            callers,
            rules,
            self.dispatcher,
            clock=self.clock,
            metrics=self.metrics,
            notify=NoNotifier(),
        )
        self.events = CallEventService(
            self.calls,
            callers,
            clock=self.clock,
            metrics=self.metrics,
            default_queue="q0",
            routing=routing,
        )
        self.created = 0
        self.offline: list[str] = []
        self.loads: list[float] = []  # per pass: reading ready agents and waiting tickets
        self.decisions: list[float] = []  # per offer: ranking plus the atomic claim
        self.ready_seen: list[int] = []
        self.planned_seen: list[int] = []  # of the ready agents, those not parked
        self.memory = (0.0, 0.0)  # Redis bytes per agent, per waiting call

    async def add_agents(self, count: int) -> None:
        now = self.clock.now()
        for i in range(count):
            skills = {
                f"s{s}": self.random.randint(1, 5)
                for s in self.random.sample(range(self.queues), self.random.randint(3, 5))
            }
            agent = agent_rules.new_agent(f"a{i}", f"Agent {i}", skills, now)
            await self.agents.save(None, agent, now)
            self.offline.append(agent.id)
        self.random.shuffle(self.offline)

    async def add_call(self) -> None:
        self.created += 1
        await self.events.apply(
            CallCreated(
                event_id=f"{self.prefix}e{self.created}",
                call_id=f"{self.prefix}c{self.created}",
                from_=f"+1555{self.created:07d}",
                queue=f"q{self.random.randrange(self.queues)}",
            ),
            dialect="bench",
        )

    async def add_calls(self, count: int, apart_ms: float) -> None:
        """`count` calls arriving `apart_ms` of (virtual) time apart."""
        for _ in range(count):
            self.tick(apart_ms / 1000)
            await self.add_call()

    async def release(self, count: int) -> None:
        """Make `count` offline agents available (not yet dispatched)."""
        now = self.clock.now()
        for _ in range(count):
            agent = await self.agents.get(self.offline.pop())
            assert agent is not None
            await self.agents.save(
                agent, agent_rules.set_presence(agent, Presence.AVAILABLE, now), now
            )

    def tick(self, seconds: float) -> None:
        """Let (virtual) time pass; the real clock moves by itself."""
        if isinstance(self.clock, VirtualClock):
            self.clock.advance(seconds)

    async def one_by_one(self, releases: int) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        offers = 0
        busy = 0.0
        for _ in range(releases):
            self.tick(PASS_SECONDS)
            await self.release(1)
            started = time.perf_counter()
            made = await self.dispatcher.run_pass()
            elapsed = time.perf_counter() - started
            busy += elapsed
            timing = self.dispatcher.last_pass
            self.loads.append(timing.load_seconds)
            self.ready_seen.append(timing.agents)
            self.planned_seen.append(timing.planned)
            if made:
                offers += made
                latencies.append(elapsed / made)
                self.decisions.append((elapsed - timing.load_seconds) / made)
                for _ in range(made):
                    await self.add_call()
        return latencies, offers, busy

    async def asked_one_by_one(self, releases: int) -> tuple[int, float]:
        """`one_by_one` with each pass asked for as the server asks (see `DrivenDispatcher.
        asked`): the offers made (counted in Redis) and the seconds the passes took."""
        assert isinstance(self.dispatcher, DrivenDispatcher)
        offered = keys.calls_in_state(CallState.OFFERED)
        count = int(await self.client.execute("ZCARD", offered))
        offers, busy = 0, 0.0
        for _ in range(releases):
            self.tick(PASS_SECONDS)
            await self.release(1)
            started = time.perf_counter()
            await self.dispatcher.asked()
            busy += time.perf_counter() - started
            made = int(await self.client.execute("ZCARD", offered)) - count
            offers, count = offers + made, count + made
            for _ in range(made):
                await self.add_call()
        return offers, busy

    async def burst(self) -> tuple[float, int]:
        await self.release(BURST)
        started = time.perf_counter()
        made = await self.dispatcher.run_pass()
        return time.perf_counter() - started, made

    async def evalsha_floor(self, rounds: int) -> list[float]:
        script = Script("return 1")
        await self.client.evalsha(script, [], [])
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            await self.client.evalsha(script, [], [])
            samples.append(time.perf_counter() - started)
        return samples


async def used_memory(client: RespClient) -> int:
    info = (await client.execute("INFO", "memory")).decode()
    return int(info.split("used_memory:", 1)[1].split()[0])


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def histogram_p(metrics: Metrics, q: float) -> float:
    """Quantile (ms, bucket upper bound) of the server's routing_decision_seconds."""
    samples = next(iter(metrics.routing_decision_seconds.collect())).samples
    buckets = [(s.labels["le"], s.value) for s in samples if s.name.endswith("_bucket")]
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return float(bound) * 1000
    return float("inf")


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of one size that the two sizes are compared on."""

    size: str
    rate: float  # offers/s one by one
    asked_rate: float  # offers/s one by one, each pass asked for as the server asks
    decision_p99: float  # ms
    pass_p99: float  # ms
    per_call: float  # Redis bytes per waiting call


SMALL = {"agents": 2000, "queues": SKILLS, "calls": 1000}
PLATFORM = {"agents": 15000, "queues": 500, "calls": 50000}


async def run(args: argparse.Namespace) -> int:
    if not args.both:
        await measure(args)
        return 0
    small, platform = [
        await measure(argparse.Namespace(**{**vars(args), **size})) for size in (SMALL, PLATFORM)
    ]
    print(f"\n{'both sizes':<32}{small.size:>16}{platform.size:>18}{'ratio':>8}")
    for label, field_name, digits in (
        ("offers/s one by one", "rate", 0),
        ("offers/s, passes asked for", "asked_rate", 0),
        ("decision p99 ms (target <= 5)", "decision_p99", 2),
        ("whole pass p99 ms (target <= 10)", "pass_p99", 2),
        ("Redis bytes per waiting call", "per_call", 0),
    ):
        a, b = getattr(small, field_name), getattr(platform, field_name)
        ratio = b / a if a else 0.0
        print(f"{label:<32}{a:>16,.{digits}f}{b:>18,.{digits}f}{ratio:>8.2f}")
    print("flat in the backlog when the ratios are near 1; target >= 1,000 offers/s at both")
    return 0


async def measure(args: argparse.Namespace) -> Summary:
    with tempfile.TemporaryDirectory() as scratch:
        unix = args.transport == "unix"
        async with (
            embedded_redis(Path(scratch), persist=False, unix_socket=unix) as url,
            redis_client(url) as client,
        ):
            bench = Bench(client, args.seed, args.queues, clock=VirtualClock())
            print(f"setting up {args.agents} agents, {args.calls} waiting calls ...", flush=True)
            empty = await used_memory(client)
            await bench.add_agents(args.agents)
            with_agents = await used_memory(client)
            await bench.add_calls(args.calls, args.arrival_ms)
            bench.memory = (
                (with_agents - empty) / args.agents,
                (await used_memory(client) - with_agents) / args.calls,
            )
            waiting = len(await bench.calls.waiting())
            floor = await bench.evalsha_floor(2000)
            latencies, offers, busy = await bench.one_by_one(args.releases)
            asked_offers, asked_busy = await bench.asked_one_by_one(args.releases // 2)
            asked_rate = asked_offers / asked_busy if asked_busy else 0.0
            burst_seconds, burst_offers = await bench.burst()
            report(
                args,
                waiting,
                floor,
                latencies,
                offers,
                busy,
                burst_seconds,
                burst_offers,
                bench,
            )
            print(
                f"passes asked for as the server asks (the dispatch turn taken with the "
                f"first read, given up with the claim): {asked_rate:.0f} offers/s over "
                f"{asked_offers} offers"
            )
    return Summary(
        size=f"{args.agents}/{args.queues}/{args.calls}",
        rate=offers / busy if busy else 0.0,
        asked_rate=asked_rate,
        decision_p99=pct(bench.decisions, 0.99) if bench.decisions else 0.0,
        pass_p99=pct(latencies, 0.99) if latencies else 0.0,
        per_call=bench.memory[1],
    )


def row(label: str, samples: list[float], rate: str = "", count: int | None = None) -> str:
    n = len(samples) if count is None else count
    return f"{label:<36}{pct(samples, 0.5):9.3f}{pct(samples, 0.99):9.3f}{rate:>9}{n:7d}"


def report(
    args: argparse.Namespace,
    waiting: int,
    floor: list[float],
    latencies: list[float],
    offers: int,
    busy: float,
    burst_seconds: float,
    burst_offers: int,
    bench: Bench,
) -> None:
    rate = offers / busy if busy else 0.0
    burst_rate = burst_offers / burst_seconds if burst_seconds else 0.0
    print(
        f"\n{args.agents} agents, {args.queues} queues, {waiting} calls waiting, "
        f"Redis over {args.transport}"
    )
    per_agent, per_call = bench.memory
    print(f"Redis memory: {per_agent:,.0f} bytes per agent, {per_call:,.0f} per waiting call")
    print(f"{'measure':<36}{'p50 ms':>9}{'p99 ms':>9}{'per s':>9}{'n':>7}")
    print(row("floor: trivial EVALSHA round trip", floor, f"{1 / statistics.mean(floor):.0f}"))
    if latencies:
        print(row("one by one: decision (rank+claim)", bench.decisions))
        print(row("one by one: loading agents+tickets", bench.loads))
        print(row("one by one: whole pass per offer", latencies, f"{rate:.0f}", offers))
    print(
        f"{'burst of ' + str(BURST) + ' ready agents, per offer':<36}"
        f"{burst_seconds * 1000 / max(1, burst_offers):9.3f}{'':>9}{burst_rate:9.0f}"
        f"{burst_offers:7d}"
    )
    print(
        f"{'server histogram (bucket bounds)':<36}{histogram_p(bench.metrics, 0.5):9.3f}"
        f"{histogram_p(bench.metrics, 0.99):9.3f}"
    )
    print(
        f"ready agents per pass: median {statistics.median(bench.ready_seen or [0]):.0f}, "
        f"planned (not parked) {statistics.median(bench.planned_seen or [0]):.0f}"
    )
    if latencies:
        decision = bench.decisions
        print(
            f"\ndecision (rank+claim) p50 = {pct(decision, 0.5) / pct(floor, 0.5):.1f}x the "
            f"EVALSHA floor; decision p99 = {pct(decision, 0.99):.2f} ms (target <= 5 ms); "
            f"whole pass p99 = {pct(latencies, 0.99):.2f} ms; {rate:.0f} offers/s one by one, "
            f"{burst_rate:.0f}/s in a burst (target >= 1000/s)"
        )


def world_arguments(parser: argparse.ArgumentParser, size: dict[str, int]) -> None:
    """The options that shape a bench world (`size`: the default agents, queues, calls)."""
    parser.add_argument("--agents", type=int, default=size["agents"])
    parser.add_argument("--calls", type=int, default=size["calls"])
    parser.add_argument("--queues", type=int, default=size["queues"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--arrival-ms",
        type=float,
        default=PASS_SECONDS * 1000,
        help="(virtual) ms between the waiting calls' arrivals: 1 is a steady state at "
        "1,000/s; 0.4 puts 50,000 within 20 s, before any step widens (more to rank)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    world_arguments(parser, SMALL)
    parser.add_argument("--releases", type=int, default=500)
    parser.add_argument(
        "--transport",
        choices=("unix", "tcp"),
        default="unix",
        help="reach Redis over a Unix socket (as the embedded one is) or loopback TCP",
    )
    parser.add_argument(
        "--both",
        action="store_true",
        help="run 2,000/30/1,000 and 15,000/500/50,000 and print their ratio",
    )
    args = parser.parse_args()
    if args.agents < args.releases * 3 // 2 + BURST:
        print("--agents must be at least 1.5 x --releases + 200", file=sys.stderr)
        return 2
    # the event loop the server runs on (uvloop where installed)
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
