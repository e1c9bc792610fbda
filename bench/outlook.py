"""Queue outlook benchmark: `QueueOutlook.queues()` (every queue's estimated wait, callbacks
and staffing: what each scrape, each outlook tick and each wallboard snapshot computes)
with 2,000 agents and 10,000 calls waiting in 30 queues, against a bare HVALS of the
waiting hash (the one read of the backlog it cannot avoid) on the same Redis and client in
the same run.

The contact center, written through the real repositories on an embedded redis-server:
2,000 agents with 3-5 of 30 skills (60 % available: on a call, in wrap-up, ringing or
idle; 25 % away; 15 % offline), 10,000 queued calls spread over the 30 queues (5 %
callbacks, a few at a higher priority), and an hour of per-minute traffic per queue.
Measured one call at a time, first with a tenth of the backlog, then with all of it:
  HVALS waiting         the baseline: the raw tickets, not decoded
  reads only            what `queues()` reads: tickets (decoded, cached by bytes), every
                        agent (one script, cached by bytes), the last hour of traffic
  queues()              the whole outlook of the 30 queues
  queue(name)           one queue's outlook (`GET /v1/queues/{queue}`)
  call_wait(call)       one waiting call's estimate by its place
  held_call_wait(call)  the same for a caller on hold: the callers on hold share a reading
                        for a second (the p50 is a shared one, the p99 a fresh read)
Key figures: queues() / HVALS at 10,000 waiting, and what each 1,000 more callers add to
each row: the outlook is one pass over what it reads (never a pass over the backlog per
queue or per agent), so the backlog adds to it a small multiple of what it adds to the
read itself, while the agents (a fixed cost) are most of the rest.

Run:  python bench/outlook.py [--agents 2000] [--waiting 10000] [--queues 30] [--rounds 200]
      platform scale (~3 min): --agents 15000 --queues 500 --waiting 50000 --rounds 20
      (there each queue's available agents are found through an index of the queues by
      their first skill: scanning every agent per queue cost 0.7 s a tick)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from callcenter.cli import new_event_loop
from callcenter.domain.agents import Activity, Presence, new_agent
from callcenter.domain.calls import Call, Callback, CallState
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule
from callcenter.services.queue_outlook import QueueOutlook
from callcenter.services.rules_source import RulesSource
from callcenter.storage import keys
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.connection import redis_client
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.resp import RespClient

QUEUES = 30  # one skill each; --queues
BATCH = 200  # writes in flight while setting up


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def make_rules(queues: int) -> RoutingRules:
    return RoutingRules(
        queues={f"q{i}": QueueConfig(name=f"q{i}", skills=(f"s{i}",)) for i in range(queues)},
        rules=(Rule(name="default"),),
        version="bench",
    )


class World:
    def __init__(self, client: RespClient, seed: int, queues: int = QUEUES) -> None:
        self.random = random.Random(seed)
        self.queues = queues
        self.client = client
        store = DocumentStore(client)
        self.calls = CallRepository(
            store, retention=timedelta(days=1), dedupe_window=timedelta(hours=1)
        )
        self.agents = AgentRepository(store)
        self.activity = QueueActivityRepository(client)
        self.outlook = QueueOutlook(
            self.calls,
            self.agents,
            self.activity,
            rules=RulesSource(lambda: make_rules(queues)),
            clock=Clock(),
        )
        self.waiting_ids: list[str] = []

    async def add_agents(self, count: int) -> None:
        now = datetime.now(UTC)
        states = [
            (Presence.AVAILABLE, Activity.ON_CALL, 30),
            (Presence.AVAILABLE, Activity.WRAP_UP, 10),
            (Presence.AVAILABLE, Activity.RESERVED, 5),
            (Presence.AVAILABLE, Activity.IDLE, 15),
            (Presence.AWAY, Activity.IDLE, 25),
            (Presence.OFFLINE, Activity.IDLE, 15),
        ]
        choices = [(p, a) for p, a, weight in states for _ in range(weight)]

        async def one(i: int) -> None:
            skills = {
                f"s{s}": self.random.randint(1, 5)
                for s in self.random.sample(range(self.queues), self.random.randint(3, 5))
            }
            presence, activity = self.random.choice(choices)
            since = now - timedelta(seconds=self.random.uniform(0, 600))
            agent = msgspec.structs.replace(
                new_agent(f"a{i}", f"Agent {i}", skills, now),
                presence=presence,
                activity=activity,
                activity_since=since,
                call_id=None if activity is Activity.IDLE else f"x{i}",
            )
            await self.agents.save(None, agent, now)

        await in_batches(one, count)

    async def add_waiting(self, count: int) -> None:
        now = datetime.now(UTC)
        first = len(self.waiting_ids)

        async def one(n: int) -> None:
            i = first + n
            queued = now - timedelta(seconds=self.random.uniform(0, 1800))
            callback = None
            if self.random.random() < 0.05:
                callback = Callback(number=f"+1555{i:07d}", requested_at=queued, source="api")
            call = Call(
                id=f"c{i}",
                gateway_call_id=f"c{i}",
                state=CallState.QUEUED,
                queue=f"q{self.random.randrange(self.queues)}",
                created_at=queued,
                updated_at=queued,
                last_event_at=queued,
                queued_at=queued,
                priority=10 if self.random.random() < 0.1 else 0,
                callback=callback,
            )
            await self.calls.commit(None, call, (), event_id=None, now=now)
            self.waiting_ids.append(call.id)

        await in_batches(one, count)

    async def add_traffic(self) -> None:
        now = datetime.now(UTC)

        async def one(i: int) -> None:
            minute, queue = divmod(i, self.queues)
            at = now - timedelta(minutes=minute)
            handled = self.random.randint(0, 6)
            traffic = QueueTraffic(
                arrived=self.random.randint(0, 8),
                answered=handled,
                answered_in_sl=self.random.randint(0, handled),
                abandoned=self.random.randint(0, 1),
                handled=handled,
                handle_seconds=handled * self.random.uniform(200, 400),
                talk_seconds=handled * self.random.uniform(150, 200),
            )
            await self.activity.record(at, f"q{queue}", traffic)

        await in_batches(one, 60 * self.queues)


async def in_batches(one: Callable[[int], Awaitable[None]], count: int) -> None:
    for start in range(0, count, BATCH):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + BATCH))))


async def timed(work: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    await work()  # warm: scripts loaded, ticket cache filled
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def measure(world: World, rounds: int) -> list[tuple[str, list[float]]]:
    """Each measure in turn, in slices, so that a noisy neighbour hits every row alike."""
    client = world.client
    picked = [c for c in [await world.calls.get(i) for i in world.waiting_ids[:50]] if c]

    async def hvals() -> object:
        return await client.execute("HVALS", keys.WAITING)

    async def reads() -> object:
        now = datetime.now(UTC)
        return (
            await world.calls.waiting(),
            await world.agents.all(),
            await world.activity.minutes(now, 60),
        )

    async def one_queue() -> object:
        return await world.outlook.queue(f"q{world.random.randrange(world.queues)}")

    async def call_wait() -> object:
        return await world.outlook.call_wait(world.random.choice(picked))

    async def held_call_wait() -> object:
        return await world.outlook.held_call_wait(world.random.choice(picked))

    work: dict[str, Callable[[], Awaitable[object]]] = {
        "HVALS waiting (baseline)": hvals,
        "reads only": reads,
        "queues()": world.outlook.queues,
        "queue(name)": one_queue,
        "call_wait(call)": call_wait,
        "held_call_wait(call)": held_call_wait,
    }
    slices = 10
    measured: dict[str, list[float]] = {label: [] for label in work}
    for _ in range(slices):
        for label, job in work.items():
            measured[label].extend(await timed(job, max(1, rounds // slices)))
    return list(measured.items())


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        async with embedded_redis(Path(scratch), persist=False) as url, redis_client(url) as client:
            world = World(client, args.seed, args.queues)
            small = max(1, args.waiting // 10)
            print(f"setting up {args.agents} agents, {small} calls waiting ...", flush=True)
            await world.add_agents(args.agents)
            await world.add_traffic()
            await world.add_waiting(small)
            queues = len(await world.outlook.queues())
            before = await measure(world, args.rounds)
            report(args, len(await world.calls.waiting()), before, queues)
            print(f"\nadding {args.waiting - small} calls waiting ...", flush=True)
            await world.add_waiting(args.waiting - small)
            after = await measure(world, args.rounds)
            report(args, len(await world.calls.waiting()), after, queues)
            growth(before, after, args.waiting - small)
            await longest_command(world)
    return 0


async def longest_command(world: World) -> None:
    """How long Redis is held at a time by one outlook (every other client waits for the
    command it is running), against the bare HVALS of the waiting tickets: every command
    Redis ran during one `queues()`, from its slow log."""
    client = world.client
    await client.execute("CONFIG", "SET", "slowlog-log-slower-than", "0")
    await client.execute("CONFIG", "SET", "slowlog-max-len", "100000")
    try:
        await client.execute("SLOWLOG", "RESET")
        await client.execute("HVALS", keys.WAITING)
        hvals = max(entry[2] for entry in await client.execute("SLOWLOG", "GET", "-1"))
        await client.execute("SLOWLOG", "RESET")
        await world.outlook.queues()
        entries = await client.execute("SLOWLOG", "GET", "-1")
    finally:
        await client.execute("CONFIG", "SET", "slowlog-log-slower-than", "10000")
    longest = max(entries, key=lambda entry: entry[2])
    print(
        f"\nlongest single Redis command during one queues(): {longest[2] / 1000:.1f} ms "
        f"({longest[3][0].decode()}); the bare HVALS: {hvals / 1000:.1f} ms "
        f"({longest[2] / hvals:.1f}x)"
    )


def growth(
    before: list[tuple[str, list[float]]], after: list[tuple[str, list[float]]], added: int
) -> None:
    """What the added backlog cost each measure (p50), per 1,000 calls."""
    print(f"\np50 added by {added} more calls waiting, per 1,000:")
    for (label, small), (_, large) in zip(before, after, strict=True):
        print(f"  {label:<26}{(pct(large, 0.5) - pct(small, 0.5)) * 1000 / added:7.2f} ms")


def report(
    args: argparse.Namespace, waiting: int, rows: list[tuple[str, list[float]]], queues: int
) -> None:
    print(
        f"\n{args.agents} agents, {args.queues} queues ({queues} outlooks), {waiting} calls waiting"
    )
    print(f"{'measure':<28}{'p50 ms':>9}{'p99 ms':>9}{'x HVALS p50':>13}{'n':>6}")
    base = pct(rows[0][1], 0.5)
    for label, samples in rows:
        p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
        ratio = p50 / base if base else 0.0
        print(f"{label:<28}{p50:9.2f}{p99:9.2f}{ratio:13.1f}{len(samples):6d}")
    outlook = dict(rows)["queues()"]
    print(
        f"\nqueues() p50 = {pct(outlook, 0.5) / base:.1f}x a bare HVALS of the {waiting} "
        f"tickets; p99 {pct(outlook, 0.99):.1f} ms; mean {statistics.mean(outlook) * 1000:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--waiting", type=int, default=10000)
    parser.add_argument("--queues", type=int, default=QUEUES)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
