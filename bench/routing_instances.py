"""Routing across server instances: N processes share one Redis, agents and waiting calls;
each frees its own agents one at a time and asks for a dispatch pass after each, as
instances behind a load balancer would when agents come back. Passes go through the
dispatch turn (one instance at a time; a pass asked for meanwhile is owed to the holder).
A claim that loses to another change counts a lost race
(`routing_decisions_total{result="lost_race"}`).

For N = 1 … --instances it prints the aggregate offers/s and the claim conflict rate (lost
races per claim tried). All processes share this machine's cores: aggregate offers/s stops
growing once they are busy.

Run:  python bench/routing_instances.py [--instances 3] [--agents 2000] [--calls 1000]
      [--queues 30] [--releases 150]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.routing import Bench
from callcenter.cli import new_event_loop
from callcenter.metrics import Metrics
from callcenter.storage.connection import redis_client
from callcenter.storage.embedded import embedded_redis


@dataclass(frozen=True, slots=True)
class WorkerResult:
    offers: int
    lost: int
    seconds: float


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    redis_url: str
    index: int
    agents: list[str]  # its own offline agents, freed one at a time
    queues: int
    start_at: float  # time.time() at which every worker starts


def decisions(metrics: Metrics, result: str) -> int:
    samples = next(iter(metrics.routing_decisions_total.collect())).samples
    return int(
        sum(
            sample.value
            for sample in samples
            if sample.name.endswith("_total") and sample.labels.get("result") == result
        )
    )


async def run_worker(plan: WorkerPlan) -> WorkerResult:
    async with redis_client(plan.redis_url) as client:
        bench = Bench(
            client, seed=plan.index, queues=plan.queues, prefix=f"w{plan.index}.", driven=False
        )
        bench.offline = list(plan.agents)
        await asyncio.sleep(max(0.0, plan.start_at - time.time()))
        started = time.perf_counter()
        while bench.offline:
            await bench.release(1)
            before = decisions(bench.metrics, "offered")
            # as the server does: a pass through the dispatch turn (run here, or owed to
            # the instance holding it)
            await bench.dispatcher.run_now()
            for _ in range(decisions(bench.metrics, "offered") - before):
                await bench.add_call()
        await bench.dispatcher.stop()
        elapsed = time.perf_counter() - started
        offered = decisions(bench.metrics, "offered")
        return WorkerResult(offered, decisions(bench.metrics, "lost_race"), elapsed)


def worker(plan: WorkerPlan, results: multiprocessing.Queue[WorkerResult]) -> None:
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        results.put(runner.run(run_worker(plan)))


def run_round(
    url: str, count: int, pool: list[str], args: argparse.Namespace
) -> list[WorkerResult]:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[WorkerResult] = context.Queue()
    start_at = time.time() + 3.0  # every worker connected and waiting
    processes = [
        context.Process(
            target=worker,
            args=(
                WorkerPlan(
                    url, i, pool[i * args.releases : (i + 1) * args.releases], args.queues, start_at
                ),
                results,
            ),
        )
        for i in range(count)
    ]
    for process in processes:
        process.start()
    found = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(30)
    return found


async def set_up(url: str, args: argparse.Namespace) -> list[str]:
    async with redis_client(url) as client:
        bench = Bench(client, seed=7, queues=args.queues, prefix="setup.")
        print(f"setting up {args.agents} agents, {args.calls} waiting calls ...", flush=True)
        await bench.add_agents(args.agents)
        for _ in range(args.calls):
            await bench.add_call()
        return list(bench.offline)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=30)
    parser.add_argument("--releases", type=int, default=150, help="agents freed per instance")
    args = parser.parse_args()
    needed = args.releases * args.instances * (args.instances + 1) // 2
    if args.agents < needed:
        print(f"--agents must be at least {needed} for these rounds", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        return asyncio.run(run(args, Path(scratch)))


async def run(args: argparse.Namespace, scratch: Path) -> int:
    async with embedded_redis(scratch, persist=False) as url:
        pool = await set_up(url, args)
        random.Random(1).shuffle(pool)
        rows = []
        for count in range(1, args.instances + 1):
            share, pool = pool[: count * args.releases], pool[count * args.releases :]
            found = await asyncio.to_thread(run_round, url, count, share, args)
            offers = sum(r.offers for r in found)
            lost = sum(r.lost for r in found)
            rate = offers / max(r.seconds for r in found)
            rows.append((count, offers, lost, rate))
    print(f"\n{args.agents} agents, {args.queues} queues, {args.calls} calls waiting")
    header = f"{'instances':<10}{'offers':>8}{'offers/s':>10}{'vs 1':>7}"
    print(f"{header}{'lost races':>12}{'conflict':>10}")
    for count, offers, lost, rate in rows:
        conflict = lost / (offers + lost) if offers + lost else 0.0
        line = f"{count:<10}{offers:>8}{rate:>10.0f}{rate / rows[0][3]:>7.2f}"
        print(f"{line}{lost:>12}{conflict:>10.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
