"""Redis client benchmark: CPU per EVALSHA of the server's own client, addressed directly,
through Sentinel (the same primary) and on a three-primary Cluster, against redis-py's
asyncio client (the baseline, measured in the same run on the single server).

`--commands` EVALSHA of a one-line script, `--in-flight` at a time; the figure is this
process's CPU time per command (the server runs in its own process), best of `--rounds`,
rounds alternating between the clients. Target: under 10 µs per command for ours on one
primary, either way it found it (the Cluster's routing is shown beside).

Run:  python bench/redis_client.py [--commands 20000] [--in-flight 64] [--rounds 3]
Exit status: 0; 1 when ours is at or over 10 µs a command."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.storage import keys
from callcenter.storage.cluster import ClusterClient
from callcenter.storage.resp import RespClient, Script, parse_url
from callcenter.storage.sentinel import SentinelConfig, SentinelLocator
from tests.redis_topology import MASTER, redis_cluster, sentinel_set

SCRIPT = "return ARGV[1]"
TARGET_US = 10.0


async def cpu_per_command(
    call: Callable[[], Awaitable[object]], commands: int, in_flight: int
) -> float:
    """Microseconds of this process's CPU per command, `in_flight` at a time."""
    left = commands

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return (time.process_time() - started) / commands * 1e6


async def measure(
    port: int,
    sentinels: tuple[tuple[str, int], ...],
    seeds: tuple[tuple[str, int], ...],
    args: argparse.Namespace,
) -> dict[str, float]:
    script = Script(SCRIPT)
    direct = RespClient(parse_url(f"redis://127.0.0.1:{port}"))
    located = RespClient(
        parse_url("redis://"), sentinel=SentinelLocator(SentinelConfig(sentinels, MASTER))
    )
    sharded = ClusterClient(parse_url("redis://"), seeds)
    baseline = aioredis.Redis(port=port, max_connections=args.in_flight)
    sha = await baseline.script_load(SCRIPT)
    key = [keys.TIMERS]  # every client runs the script on one key, as the server's do
    clients: dict[str, Callable[[], Awaitable[object]]] = {
        "redis-py (baseline)": lambda: baseline.evalsha(sha, 1, key[0], "x"),
        "ours, direct": lambda: direct.evalsha(script, key, ["x"]),
        "ours, through Sentinel": lambda: located.evalsha(script, key, ["x"]),
        "ours, on a Cluster": lambda: sharded.evalsha(script, key, ["x"]),
    }
    best: dict[str, float] = {}
    try:
        for call in clients.values():  # warm up: connections, scripts
            await cpu_per_command(call, 500, args.in_flight)
        for _ in range(args.rounds):
            for name, call in clients.items():
                took = await cpu_per_command(call, args.commands, args.in_flight)
                best[name] = min(best.get(name, took), took)
    finally:
        await direct.aclose()
        await located.aclose()
        await sharded.aclose()
        await baseline.aclose()
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-redis-client-") as folder:
        with (
            sentinel_set(Path(folder) / "sentinel", replicas=0) as topology,
            redis_cluster(Path(folder) / "cluster") as cluster,
        ):
            sentinels = tuple(("127.0.0.1", s.port) for s in topology.sentinels)
            best = asyncio.run(measure(topology.nodes[0].port, sentinels, cluster.seeds, args))
    base = best["redis-py (baseline)"]
    for name, took in best.items():
        print(f"{name:24} {took:6.2f} µs CPU per EVALSHA ({took / base:.2f}x the baseline)")
    ours = max(best["ours, direct"], best["ours, through Sentinel"])
    print(f"ours on one primary at most {ours:.2f} µs (target: under {TARGET_US:g} µs)")
    return 0 if ours < TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
