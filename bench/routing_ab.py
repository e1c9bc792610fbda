"""Routing, an older revision against this tree, in one process: dispatch passes of each
alternate in blocks, so that both meet the same noise (separate runs of bench/routing.py
differ by more than a change of a few percent on a shared machine).

Each side is bench/routing.py's world (this tree's bench file) on its own embedded Redis,
with the same seed and workload: the older revision's package is copied from git under
another name (`callcenter_base`), so the two load side by side. Blocks of `--per-block`
passes run in ABBA order (each side first as often), and the two are compared by their
median block, so that a rare slow block does not decide it. `--base HEAD` with a clean
tree is an A/A run: how far apart one code lands this way (about 4 % on this machine).

The older revision must have what bench/routing.py uses (its services, repositories and
`callcenter.services.clock`).

Run:  python bench/routing_ab.py --base REV [--agents 15000 --queues 500 --calls 50000]
      [--arrival-ms 1] [--blocks 20] [--per-block 50] [--asked]
`--asked`: each pass is asked for as the server asks for one, through the dispatch turn
(taken with the pass, then given up), instead of run alone.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this tree's bench/routing.py

from bench.routing import PLATFORM, world_arguments
from callcenter.cli import new_event_loop

ROOT = Path(__file__).resolve().parents[1]

IMPORTS = re.compile(r"\bcallcenter(?=[. ])")


def base_package(revision: str, into: Path) -> ModuleType:
    """bench/routing.py bound to `revision`'s package, renamed `callcenter_base`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "callcenter"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "callcenter").rename(into / "callcenter_base")
    for source in (into / "callcenter_base").rglob("*.py"):
        source.write_text(IMPORTS.sub("callcenter_base", source.read_text()))
    bench = IMPORTS.sub("callcenter_base", (ROOT / "bench" / "routing.py").read_text())
    (into / "routing_base.py").write_text(bench)
    sys.path.insert(0, str(into))
    return importlib.import_module("routing_base")


async def world(
    bench: ModuleType, scratch: Path, args: argparse.Namespace, stack: AsyncExitStack
) -> Any:
    """A bench world (agents, waiting calls) on its own embedded Redis, warmed up."""
    url = await stack.enter_async_context(bench.embedded_redis(scratch, persist=False))
    client = await stack.enter_async_context(bench.redis_client(url))
    side = bench.Bench(client, args.seed, args.queues, clock=bench.VirtualClock())
    await side.add_agents(args.agents)
    await side.add_calls(args.calls, args.arrival_ms)
    await side.one_by_one(50)
    return side


async def block(side: Any, passes: int, asked: bool) -> float:
    """Seconds per offer over `passes` agents freed one by one (each pass asked for as the
    server asks, with `asked`)."""
    if asked:
        offers, busy = await side.asked_one_by_one(passes)
    else:
        _, offers, busy = await side.one_by_one(passes)
    return float(busy) / max(1, int(offers))


async def run(args: argparse.Namespace) -> None:
    this = importlib.import_module("bench.routing")
    with tempfile.TemporaryDirectory() as scratch:
        base = base_package(args.base, Path(scratch) / "code")
        async with AsyncExitStack() as stack:
            print(f"setting up two worlds of {args.agents} agents, {args.calls} calls ...")
            sides = {
                "base": await world(base, Path(scratch) / "a", args, stack),
                "this": await world(this, Path(scratch) / "b", args, stack),
            }
            blocks: dict[str, list[float]] = {"base": [], "this": []}
            for i in range(args.blocks):
                for name in ("base", "this") if i % 2 == 0 else ("this", "base"):
                    blocks[name].append(await block(sides[name], args.per_block, args.asked))
    old, new = (statistics.median(blocks[name]) for name in ("base", "this"))
    print(
        f"{args.agents}/{args.queues}/{args.calls}, arrivals {args.arrival_ms} ms apart, "
        f"{args.blocks} blocks of {args.per_block} passes each"
        f"{', asked for as the server asks' if args.asked else ''}, median block:\n"
        f"  {args.base}: {old * 1e6:.0f} us an offer ({1 / old:.0f}/s)\n"
        f"  this tree: {new * 1e6:.0f} us an offer ({1 / new:.0f}/s)\n"
        f"  this / {args.base}, time per offer: {new / old:.3f} (A/A lands within about 4 %)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    world_arguments(parser, PLATFORM)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--per-block", type=int, default=50)
    parser.add_argument(
        "--asked",
        action="store_true",
        help="each pass asked for as the server asks for one: the dispatch turn taken and given up",
    )
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        runner.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
