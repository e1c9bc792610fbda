"""Loop contention benchmark: what a server's requests wait while the outlook of every queue
is worked out in a worker thread, with Python's default GIL switch interval and with the
server's (`callcenter/interpreter.py`).

The contact center of `bench/outlook.py` (by default at platform scale: 15,000 agents, 500
queues, 50,000 waiting) on an embedded redis-server. The probe stands for a request: one
Redis PING after another from the event loop, each a wait on a socket after which the loop
needs the GIL back. Measured in slices of `--seconds`, alternately (ABBA):
  alone            the probe only: the baseline
  default 5 ms     the probe while `QueueOutlook.queues()` runs back to back (what a tick,
                   or `GET /v1/queues`, does), at Python's default switch interval
  server's 1 ms    the same at the interval the server sets
Printed: the probe's p50, p99 and longest round trip, and its rate, as ratios against the
baseline; and how long one `queues()` took (a shorter interval makes the thread that holds
the GIL hand it over more often, which costs it a little).

Run:  python bench/loop_contention.py [--agents 15000] [--queues 500] [--waiting 50000]
      [--seconds 3] [--rounds 2]   (~3 min at platform scale, mostly setting up)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.outlook import World
from callcenter.cli import new_event_loop
from callcenter.interpreter import GIL_SWITCH_SECONDS
from callcenter.storage.connection import redis_client
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.resp import RespClient

PYTHON_DEFAULT_SWITCH_SECONDS = 0.005


@dataclass
class Phase:
    label: str
    switch: float | None  # None: the probe alone
    round_trips: list[float] = field(default_factory=list)
    outlooks: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def probe(client: RespClient, seconds: float) -> list[float]:
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await client.execute("PING")
        samples.append(time.perf_counter() - started)
    return samples


async def measured_slice(world: World, phase: Phase, seconds: float) -> None:
    """One slice of `phase`: the probe, with the outlook worked out back to back beside it
    unless the phase is the baseline."""
    if phase.switch is None:
        phase.round_trips += await probe(world.client, seconds)
        phase.seconds += seconds
        return
    sys.setswitchinterval(phase.switch)
    stop = asyncio.Event()

    async def outlooks() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await world.outlook.queues()
            phase.outlooks.append(time.perf_counter() - started)

    working = asyncio.create_task(outlooks())
    try:
        phase.round_trips += await probe(world.client, seconds)
        phase.seconds += seconds
    finally:
        stop.set()
        await working


def ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(phases: list[Phase]) -> None:
    base = phases[0]
    base_p50, base_p99 = ms(base.round_trips, 0.5), ms(base.round_trips, 0.99)
    base_rate = len(base.round_trips) / base.seconds
    print(
        f"\n{'probe (Redis PING from the loop)':<34}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'x p50':>7}{'x p99':>7}{'x rate':>8}{'queues() ms':>13}"
    )
    for phase in phases:
        trips = phase.round_trips
        p50, p99 = ms(trips, 0.5), ms(trips, 0.99)
        rate = len(trips) / phase.seconds
        outlook = f"{statistics.median(phase.outlooks) * 1000:.0f}" if phase.outlooks else "-"
        print(
            f"{phase.label:<34}{p50:8.3f}{p99:8.2f}{max(trips) * 1000:8.1f}"
            f"{p50 / base_p50:7.1f}{p99 / base_p99:7.1f}{rate / base_rate:8.3f}{outlook:>13}"
        )
    default, server = phases[1], phases[2]
    print(
        f"\nwhile the outlook is worked out, the probe's p99 is "
        f"{ms(server.round_trips, 0.99) / ms(default.round_trips, 0.99):.3f}x what it is at "
        f"Python's default interval; one queues() takes "
        f"{statistics.median(server.outlooks) / statistics.median(default.outlooks):.2f}x as long"
    )


async def run(args: argparse.Namespace) -> int:
    gc.freeze()  # as the server does once started: what is loaded by then is never walked
    with tempfile.TemporaryDirectory() as scratch:
        async with embedded_redis(Path(scratch), persist=False) as url, redis_client(url) as client:
            world = World(client, args.seed, args.queues)
            print(f"setting up {args.agents} agents, {args.waiting} calls waiting ...", flush=True)
            await world.add_agents(args.agents)
            await world.add_traffic()
            await world.add_waiting(args.waiting)
            await world.outlook.queues()  # warm: scripts loaded, documents decoded once
            phases = [
                Phase("alone (baseline)", None),
                Phase(f"outlook, default {PYTHON_DEFAULT_SWITCH_SECONDS * 1000:g} ms", 0.005),
                Phase(f"outlook, server's {GIL_SWITCH_SECONDS * 1000:g} ms", GIL_SWITCH_SECONDS),
            ]
            before = sys.getswitchinterval()
            try:
                for _ in range(args.rounds):
                    for index in (0, 1, 2, 2, 1, 0):  # ABCCBA: each as often early as late
                        await measured_slice(world, phases[index], args.seconds)
            finally:
                sys.setswitchinterval(before)
            report(phases)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--agents", type=int, default=15000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=50000)
    parser.add_argument("--seconds", type=float, default=3.0, help="one slice of one phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
