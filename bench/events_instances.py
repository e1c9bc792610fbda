"""Events benchmark across server instances: N callcenter processes on one Redis, the
events of each call spread over them (created on one, the next event on the next, …),
as a load balancer without affinity would. For N = 1 … --instances it prints the
aggregate events/s at saturation, the servers' CPU per event, and the Redis CPU seconds
per 1,000 events: the one shard's ceiling is 1,000 / that figure, events/s.

The client, the servers and Redis share this machine's cores, so aggregate events/s stops
growing once the cores are busy; the CPU figures per event do not depend on that.

Run:  python bench/events_instances.py [--instances 3] [--seconds 6] [--concurrency 64]
Exit status: 0, or 1 when any request failed, or 2 when set-up failed."""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import sys
import tempfile
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu_meter import CpuMeter
from bench.events import (
    BenchError,
    PhaseStats,
    Plan,
    Results,
    Workload,
    bench_tokens,
    measured_slice,
    open_target,
    redis_per_1000,
    register_agents,
    remove_agents,
    start_callcenter,
    start_redis,
)
from callcenter.errors import CallcenterError
from callcenter.storage.connection import redis_client


async def run(args: argparse.Namespace, scratch: Path) -> int:
    plan = Plan(
        concurrency=args.concurrency,
        seconds=args.seconds,
        paced_seconds=0.0,
        warmup_seconds=1.0,
        rate=0.0,
    )
    results = Results()
    async with AsyncExitStack() as stack:
        redis_url = await start_redis(stack, args, scratch)
        tokens = await stack.enter_async_context(bench_tokens(redis_url))
        meter = CpuMeter(await stack.enter_async_context(redis_client(redis_url)))
        servers = [await start_callcenter(stack, redis_url) for _ in range(args.instances)]
        agents = [f"bench-{secrets.token_hex(3)}-{i:03d}" for i in range(plan.concurrency)]
        run_id = secrets.token_hex(3)
        for count in range(1, args.instances + 1):
            name = f"{count} instance{'s' if count > 1 else ''}"
            target = await open_target(stack, name, servers[:count], tokens, plan.concurrency)
            await register_agents(target, agents)
            workload = Workload(f"m{run_id}.{count}", agents, seed=count)
            await measured_slice(target, meter, "saturation", workload, plan, plan.warmup_seconds)
            stats = await measured_slice(target, meter, "saturation", workload, plan, plan.seconds)
            results.add(name, "saturation", stats)
            await remove_agents(target, agents)
    print_report(results)
    return 1 if any(stats.errors for stats in results.rows.values()) else 0


def print_report(results: Results) -> None:
    print(
        f"\n{'instances':<12} {'events/s':>9} {'vs 1':>6} {'p99 ms':>7} "
        f"{'server CPU µs/event':>20} {'Redis CPU s/1k events':>22} {'errors':>6}"
    )
    first: PhaseStats | None = None
    for (name, _), stats in results.rows.items():
        first = first or stats
        rate = stats.events_per_second()
        relative = rate / first.events_per_second() if first.events_per_second() else math.nan
        print(
            f"{name:<12} {rate:>9.0f} {relative:>6.2f} {stats.percentile_ms(0.99):>7.2f} "
            f"{stats.cpu_us_per(stats.events, stats.cpu_seconds):>20.0f} "
            f"{redis_per_1000(stats):>22.3f} {stats.errors:>6}"
        )
        for sample in stats.error_samples:
            print(f"error ({name}): {sample}", file=sys.stderr)
    if first is not None and first.redis_cpu_seconds > 0:
        ceiling = 1000 / redis_per_1000(first)
        print(f"\none Redis's ceiling at this cost: about {ceiling:,.0f} events/s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="POST /v1/events over several instances.")
    parser.add_argument("--instances", type=int, default=3, help="up to this many servers")
    parser.add_argument("--seconds", type=float, default=6.0, help="saturation per count")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--redis-url", help="use this Redis instead of an embedded one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.instances < 1 or args.seconds <= 0 or args.concurrency < 1:
        print(
            "events bench: --instances, --seconds and --concurrency must be positive",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-instances-") as scratch:
        try:
            return asyncio.run(run(args, Path(scratch)))
        except (BenchError, CallcenterError) as error:
            print(f"events bench: {error}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
