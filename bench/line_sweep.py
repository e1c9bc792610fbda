"""The invariant sweep's check of the waiting lines, against the backlog: read every
ticket, every line's members and arrivals in chunks (HSCAN / ZSCAN), judge them. The
baseline, measured in the same run on the same data, is one HGETALL of the waiting hash
(the tickets alone, in one command): the check reads about three times that data, in
chunks of 1,000 so that no single command holds Redis long.

Printed per size: the check's time, its ratio to the baseline, the time per waiting call,
and the longest single command Redis ran meanwhile (its SLOWLOG, threshold 0).

Run:  python bench/line_sweep.py [--sizes 5000 50000] [--queues 500] [--rounds 3]"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.domain.line_check import line_findings
from callcenter.domain.routing import Ticket
from callcenter.storage import keys
from callcenter.storage.calls import CallRepository
from callcenter.storage.connection import redis_client
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import embedded_redis
from callcenter.storage.resp import RespClient
from callcenter.storage.waiting_lines import WaitingLinesRepository

START = datetime(2026, 12, 5, tzinfo=UTC)


async def fill(client: RespClient, store: DocumentStore, waiting: int, queues: int) -> None:
    """`waiting` tickets over `queues` queues, put in their lines as a commit would."""
    await client.execute("FLUSHDB")
    encoder = msgspec.json.Encoder()
    for first in range(0, waiting, 1000):
        fields: list[bytes | str] = []
        for i in range(first, min(waiting, first + 1000)):
            ticket = Ticket(
                call_id=f"c{i}",
                queue=f"q{i % queues}",
                rule=f"r{i % queues}",
                priority=i % 3,
                queued_at=START + timedelta(milliseconds=i),
            )
            fields += [ticket.call_id, encoder.encode(ticket)]
        await client.execute("HSET", keys.WAITING, *fields)
    repository = CallRepository(store, retention=timedelta(days=1), dedupe_window=timedelta(1))
    assert await repository.build_lines() == waiting


async def hgetall_seconds(client: RespClient) -> float:
    """The baseline: every ticket in one command."""
    started = time.perf_counter()
    await client.execute("HGETALL", keys.WAITING)
    return time.perf_counter() - started


async def check_seconds(lines: WaitingLinesRepository) -> float:
    """The sweep's check of the lines: read in chunks, judged."""
    started = time.perf_counter()
    snapshot = await lines.snapshot()
    found = line_findings(snapshot.tickets, snapshot.members, snapshot.arrivals)
    seconds = time.perf_counter() - started
    if found:
        raise SystemExit(f"a consistent store had findings: {found}")
    return seconds


async def longest_command_us(client: RespClient) -> int:
    entries = await client.execute("SLOWLOG", "GET", 100_000)
    assert isinstance(entries, list)
    return max((int(entry[2]) for entry in entries), default=0)


async def run(args: argparse.Namespace, scratch: Path) -> None:
    async with embedded_redis(scratch / "redis", persist=False) as url, redis_client(url) as client:
        store = DocumentStore(client)
        lines = WaitingLinesRepository(store)
        print(
            f"{'waiting':>8} {'check ms':>9} {'HGETALL ms':>11} {'ratio':>6} {'µs/call':>8}", end=""
        )
        print(f" {'longest cmd µs':>15}")
        for size in args.sizes:
            await fill(client, store, size, args.queues)
            baseline = min([await hgetall_seconds(client) for _ in range(args.rounds)])
            await client.execute("CONFIG", "SET", "slowlog-log-slower-than", 0)
            await client.execute("CONFIG", "SET", "slowlog-max-len", 1_000_000)
            await client.execute("SLOWLOG", "RESET")
            check = min([await check_seconds(lines) for _ in range(args.rounds)])
            longest = await longest_command_us(client)
            await client.execute("CONFIG", "SET", "slowlog-log-slower-than", 10_000)
            print(
                f"{size:>8} {1000 * check:>9.1f} {1000 * baseline:>11.1f} "
                f"{check / baseline:>6.1f} {1e6 * check / size:>8.1f} {longest:>15}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(run(args, Path(scratch)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
