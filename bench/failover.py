"""Failover benchmark: acknowledged events lost when Redis fails over under load, with 0
and with 1 replica acknowledging each commit (CALLCENTER_REDIS_ACK_REPLICAS), and what
waiting for the replica costs.

For each setting (ack 0 with one replica: the baseline; ack 1 with one replica; ack 1 and
ack 2 with two replicas): a real primary, its replicas and three sentinels (Debian's redis-server
and redis-sentinel on loopback), the real app configured with CALLCENTER_REDIS_SENTINELS,
and `--senders` gateways posting `call.created` events (each a new call) as fast as they
are answered. A 503 is retried with the same event (as a gateway does: the server takes an
event once). After `--events` / 3 events, `SENTINEL FAILOVER` moves the primary. Once all
events are sent, every event the server answered 2xx is looked for on the new primary.

Printed per setting: events acknowledged, lost (acknowledged, not on the new primary; per
10,000), 503s, the longest run of failed answers (time to recover) and the answer latency
p50/p99. The ratios compare each ack 1 run with ack 0 (the baseline, measured in the same
run). Log lines from the server (its background loops meeting the failover) go to stderr.

Run:  python bench/failover.py [--events 10000] [--senders 16] [--quick]
Exit status: 0; 1 when a run acknowledged by every replica lost an acknowledged event; 2
when set-up failed."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import redis

from bench.callbacks_harness import serving
from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.storage import keys
from callcenter.web.state import SERVICES
from tests.redis_topology import MASTER, SentinelSet, sentinel_set


@dataclass
class Run:
    replicas: int  # acknowledging each commit
    nodes: int  # replicas in the set
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, answered 2xx
    refused: int = 0  # 503s (each retried)
    other: list[str] = field(default_factory=list)
    outage: float = 0.0  # the longest time from a failed answer to the next 2xx
    lost: int = 0


@asynccontextmanager
async def app_on(
    topology: SentinelSet, scratch: Path, replicas: int
) -> AsyncIterator[tuple[str, str]]:
    """The app behind the sentinels, served on loopback; its URL and a gateway token."""
    settings = Settings(
        redis_sentinels=tuple(("127.0.0.1", s.port) for s in topology.sentinels),
        redis_master_name=MASTER,
        redis_ack_replicas=replicas,
        data_dir=scratch / "data",
        webhook_secret=Secret("bench-failover-secret"),
        log_level="ERROR",
    )
    app = create_app(settings)
    async with serving(app) as url:
        token, _ = await app[SERVICES].auth.create_token("gateway", "bench")
        yield url, token


async def send(
    session: aiohttp.ClientSession, url: str, token: str, ids: Iterator[str], run: Run
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    failing_since: float | None = None
    for call_id in ids:  # shared by the senders: each takes the next
        event = {
            "type": "call.created",
            "event_id": f"e-{call_id}",
            "call_id": call_id,
            "from": "+15550000000",
        }
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


async def one_run(replicas: int, nodes: int, args: argparse.Namespace, scratch: Path) -> Run:
    run = Run(replicas, nodes)
    name = f"ack{replicas}-of-{nodes}"
    with sentinel_set(scratch / name, replicas=nodes) as topology:
        async with app_on(topology, scratch / f"app-{name}", replicas) as (url, token):
            counter = itertools.count()
            failover_at = args.events // 3
            failed_over = asyncio.Event()
            loop = asyncio.get_running_loop()

            def fail_over() -> None:
                moving = loop.run_in_executor(None, topology.failover)
                moving.add_done_callback(lambda _: failed_over.set())

            def ids() -> Iterator[str]:
                for n in counter:
                    if n >= args.events:
                        return
                    if n == failover_at:
                        fail_over()
                    yield f"{name}-{n}"

            shared = ids()
            connector = aiohttp.TCPConnector(limit=args.senders)
            async with aiohttp.ClientSession(connector=connector) as session:
                await asyncio.gather(
                    *(send(session, url, token, shared, run) for _ in range(args.senders))
                )
            await asyncio.wait_for(failed_over.wait(), 60)
        primary = redis.Redis(port=topology.primary_port())
        pipe = primary.pipeline(transaction=False)
        for call_id in run.acknowledged:
            pipe.exists(keys.call(call_id))
        run.lost = sum(1 for found in pipe.execute() if not found)
        primary.close()
    return run


def report(run: Run, baseline: Run | None) -> list[str]:
    acked = len(run.acknowledged)
    p50 = statistics.median(run.latencies) * 1000
    p99 = statistics.quantiles(run.latencies, n=100)[98] * 1000
    lines = [
        f"ack {run.replicas} of {run.nodes} replicas: {acked} events acknowledged, {run.lost} lost "
        f"({run.lost * 10_000 / max(1, acked):.1f} per 10,000), {run.refused} answered 503 "
        f"and retried, recovered after {run.outage:.2f} s; latency p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms",
    ]
    if run.other:
        lines.append(f"  other failures: {run.other[:5]}")
    if baseline is not None:
        base50 = statistics.median(baseline.latencies) * 1000
        base99 = statistics.quantiles(baseline.latencies, n=100)[98] * 1000
        lines.append(
            f"  against ack {baseline.replicas} of {baseline.nodes}: latency "
            f"p50 {p50 / base50:.2f}x, p99 {p99 / base99:.2f}x"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="2,000 events")
    args = parser.parse_args()
    if args.quick:
        args.events = 2_000
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as folder:
        try:
            base = asyncio.run(one_run(0, 1, args, Path(folder)))
            acked = [
                asyncio.run(one_run(replicas, nodes, args, Path(folder)))
                for replicas, nodes in ((1, 1), (1, 2), (2, 2))
            ]
        except (OSError, RuntimeError, AssertionError) as error:
            print(f"set-up failed: {error}", file=sys.stderr)
            return 2
    lines = report(base, None)
    for run in acked:
        lines += report(run, base)
    print("\n".join(lines))
    # acknowledged by every replica, nothing acknowledged may be lost
    return 1 if any(run.lost for run in acked if run.replicas == run.nodes) else 0


if __name__ == "__main__":
    sys.exit(main())
