"""Redis restart benchmark: acknowledged events lost when the only Redis is SIGKILLed under
load and started again from its AOF, with `appendfsync everysec` (the baseline) and
`always`, and what fsyncing every write costs.

For each: a redis-server with AOF on loopback, the real app on it (CALLCENTER_REDIS_URL),
`--senders` gateways posting `call.created` events (each a new call) as fast as they are
answered, a 503 retried with the same event. After a third of `--events`, Redis is
SIGKILLed and started again a second later from its files; once all events are sent,
every event answered 2xx is looked for.

Printed per setting: events acknowledged, lost (per 10,000), 503s, the longest run of
failed answers and the latency p50/p99, with `always` as ratios of `everysec` measured in
the same run. A SIGKILL leaves the machine up: what Redis wrote to the AOF is in the page
cache either way, so this measures the process dying, not the machine (a power cut loses
up to a second of writes with `everysec`).

Run:  python bench/redis_restart.py [--events 10000] [--senders 16] [--quick]
Exit status: 0; 1 when `always` lost an acknowledged event; 2 when set-up failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.failover import report
from tests.failover_driver import drive_restart


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="2,000 events")
    args = parser.parse_args()
    if args.quick:
        args.events = 2_000
    with tempfile.TemporaryDirectory(prefix="bench-redis-restart-") as folder:
        try:
            runs = [
                asyncio.run(drive_restart(fsync, args.events, args.senders, Path(folder)))
                for fsync in ("everysec", "always")
            ]
        except (OSError, RuntimeError, AssertionError) as error:
            print(f"set-up failed: {error}", file=sys.stderr)
            return 2
    print("\n".join([*report(runs[0], None), *report(runs[1], runs[0])]))
    return 1 if runs[1].lost else 0


if __name__ == "__main__":
    sys.exit(main())
