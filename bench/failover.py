"""Failover benchmark: acknowledged events lost when the Redis primary fails over under
load, with 0 replicas and with every replica acknowledging each commit
(CALLCENTER_REDIS_ACK_REPLICAS), and what waiting for the replicas costs.

Two ways to lose the primary: `SENTINEL FAILOVER` (planned), and a SIGKILL (a crash; the
killed server is started again 3 s after a replica took over, as an orchestrator would).
Each with ack 0 of 1 replica (the baseline), ack 1 of 1 and ack 2 of 2: a real primary,
its replicas and three sentinels (Debian's redis-server and redis-sentinel on loopback),
the real app configured with CALLCENTER_REDIS_SENTINELS, and `--senders` gateways posting
`call.created` events (each a new call) as fast as they are answered. A 503 is retried
with the same event (as a gateway does: the server takes an event once). The primary goes
after a third of `--events`; once all are sent, every event answered 2xx is looked for on
the new primary.

Printed per run: events acknowledged, lost (acknowledged, not on the new primary; per
10,000), 503s, the longest run of failed answers (time to recover) and the answer latency
p50/p99, with ratios against ack 0 lost the same way (measured in the same run). Log lines
from the server (its background loops meeting the failover) go to stderr.

Run:  python bench/failover.py [--events 10000] [--senders 16] [--quick]
Exit status: 0; 1 when a run acknowledged by every replica lost an acknowledged event; 2
when set-up failed."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.failover_driver import Run, drive


def report(run: Run, baseline: Run | None) -> list[str]:
    acked = len(run.acknowledged)
    p50 = statistics.median(run.latencies) * 1000
    p99 = statistics.quantiles(run.latencies, n=100)[98] * 1000
    lines = [
        f"{_setting(run)}: {acked} events acknowledged, {run.lost} lost "
        f"({run.lost * 10_000 / max(1, acked):.1f} per 10,000), {run.refused} answered 503 "
        f"and retried, recovered after {run.outage:.2f} s; latency p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms",
    ]
    if run.other:
        lines.append(f"  other failures: {run.other[:5]}")
    if run.repairs:
        lines.append(f"  the invariant sweep repaired: {run.repairs}")
    if baseline is not None:
        base50 = statistics.median(baseline.latencies) * 1000
        base99 = statistics.quantiles(baseline.latencies, n=100)[98] * 1000
        lines.append(
            f"  against {_setting(baseline)}: latency "
            f"p50 {p50 / base50:.2f}x, p99 {p99 / base99:.2f}x"
        )
    return lines


def _setting(run: Run) -> str:
    if run.fsync:
        return f"restart, appendfsync {run.fsync}"
    way = "crash" if run.crash else "failover"
    return f"{way}, ack {run.replicas} of {run.nodes} replicas"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="2,000 events")
    args = parser.parse_args()
    if args.quick:
        args.events = 2_000
    lines: list[str] = []
    acked: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as folder:
        try:
            for crash in (False, True):
                runs = [
                    asyncio.run(
                        drive(replicas, nodes, args.events, args.senders, Path(folder), crash=crash)
                    )
                    for replicas, nodes in ((0, 1), (1, 1), (2, 2))
                ]
                lines += report(runs[0], None)
                for run in runs[1:]:
                    lines += report(run, runs[0])
                acked += runs[1:]
        except (OSError, RuntimeError, AssertionError) as error:
            print(f"set-up failed: {error}", file=sys.stderr)
            return 2
    print("\n".join(lines))
    # acknowledged by every replica, nothing acknowledged may be lost
    return 1 if any(run.lost for run in acked) else 0


if __name__ == "__main__":
    sys.exit(main())
