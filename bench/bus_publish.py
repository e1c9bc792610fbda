"""Bus publish benchmark: what the epoch check (a GET and an XREVRANGE inside the publish
script, so a sequence that went back is noticed) costs per published event, against the
script without it, on the same Redis in the same run, alternating rounds.

Each round publishes `--events` events with `--concurrency` calls in flight, in batches of
`--batch` (publish_soon sends one loop turn's events in one call), through the server's own
RESP client. Key figure: the ratio of events/s with the epoch check to without it (target:
>= 0.9, the check must not cost a tenth of the publishing).

Run:  python bench/bus_publish.py [--events 20000] [--batch 1] [--rounds 3] [--quick]
      [--redis-url redis://...]   (default: a throwaway embedded redis-server)"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from callcenter.storage import keys
from callcenter.storage.connection import redis_client
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.resp import RespClient, Script

BODY = b'{"type":"call.updated","at":"2026-12-04T17:00:00Z","call_id":"c1","data":{"x":1}}'

# The publish script before epochs (the baseline): number, log, publish.
WITHOUT_EPOCH = Script(
    """local count = #ARGV - 2
local last = redis.call('INCRBY', KEYS[1], count)
local seq = last - count
for i = 3, #ARGV do
  seq = seq + 1
  local message = '{"seq":' .. seq .. ',' .. string.sub(ARGV[i], 2)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], seq .. '-1', 'm', message)
  redis.call('PUBLISH', ARGV[2], message)
end
return last"""
)
WITH_EPOCH = Script(
    (Path(__file__).parents[1] / "callcenter/storage/lua/bus_publish.lua").read_text()
)
KEYS = [keys.BUS_SEQ, keys.BUS_LOG, keys.BUS_EPOCH]


async def round_of(
    client: RespClient, script: Script, events: int, batch: int, concurrency: int
) -> float:
    """Events per second for `events` events published in batches."""
    await client.execute("DEL", *KEYS)
    calls = events // batch
    args: list[bytes | str | int | float] = [10_000, keys.BUS_CHANNEL, *([BODY] * batch)]
    next_call = 0

    async def worker() -> None:
        nonlocal next_call
        while next_call < calls:
            next_call += 1
            await client.evalsha(script, KEYS, args)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls * batch / (time.perf_counter() - started)


async def run(arguments: argparse.Namespace, url: str) -> None:
    async with redis_client(url) as client:
        rates: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(arguments.rounds):
            for name, script in (("without", WITHOUT_EPOCH), ("with", WITH_EPOCH)):
                rate = await round_of(
                    client, script, arguments.events, arguments.batch, arguments.concurrency
                )
                rates[name].append(rate)
        without = statistics.median(rates["without"])
        with_epoch = statistics.median(rates["with"])
        print(f"bus publish, batch {arguments.batch}, {arguments.concurrency} in flight")
        print(f"  without the epoch check: {without:10,.0f} events/s (baseline)")
        print(f"  with the epoch check:    {with_epoch:10,.0f} events/s")
        print(f"  ratio: {with_epoch / without:.2f} (target >= 0.9)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--redis-url", help="use this Redis (its bus keys are overwritten)")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.events, arguments.rounds = 2_000, 1

    async def go() -> None:
        if arguments.redis_url:
            await run(arguments, arguments.redis_url)
            return
        with tempfile.TemporaryDirectory() as directory:
            async with embedded_redis(Path(directory), persist=False) as url:
                await run(arguments, url)

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
