"""Callbacks benchmark: what an accepted callback costs against an accepted live call, on
the real app (create_app, an embedded redis-server) with a loopback generic gateway.

M agents, each on its own agent websocket, accept every offer they are shown through
`POST /v1/reservations/{id}/accept`. Slices of live calls (`call.created`) and of callbacks
(`POST /v1/callbacks`) alternate ABBA so a change in machine load hits both alike; in each
slice the agents are away while its calls are made, then all go available. Measured:
  accept -> webhook  from the accept's answer to the gateway receiving `route.assigned`
                     (live) or `route.callback` (callback: the DIAL timer's pick-up by the
                     timer loop, the claim commit and the signed POST)
  offers/s           accepted offers per second, from "available" to the slice's last accept
The gateway answers each webhook 204 and reports on the leg (ringing for a callback,
answered, ended) in one batch; wrap-up is 0 s, so the wrap-up timer frees the agent
(`--wrap-up agent`: the agent ends it at once, and the timer loop carries only the dials).
Ratios are callbacks / baseline. Where a dial's time goes comes from the call's dial
(created_at: the accept's clock, when its timer is due; claimed_at: the timer loop claiming
it); the agent's round trip from the desk's websocket (offer seen, agent idle again).
Server, desks and gateway share this process and its event loop: the report says how busy
its CPU was, as offers/s stop meaning much once it is near 100%.

Run:  python bench/callbacks.py [--calls 300] [--agents 20] [--slices 4] [--quick]
      [--wrap-up timer|agent]
Exit status: 0; 1 when a callback was not dialled exactly once or a request failed; 2 when
set-up failed or a slice did not finish."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.callbacks_harness import (
    BUSY_GAP_SECONDS,
    QUEUE,
    RULES,
    TARGET,
    Bench,
    BenchError,
    DialDoc,
    Ledger,
    start,
)
from callcenter.cli import new_event_loop
from callcenter.errors import CallcenterError

# --- figures ----------------------------------------------------------------------------


def pct(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def row(label: str, *columns: Sequence[float], rate: float | None = None) -> str:
    figures = "".join(f"{pct(c, 0.5):9.1f}{pct(c, 0.99):9.1f}" for c in columns)
    return f"{label:<46}{figures}{'' if rate is None else f'{rate:9.0f}'}{len(columns[0]):6d}"


def dial_rows(ledger: Ledger, docs: dict[str, DialDoc | None]) -> list[str]:
    """Where a dial's time goes, from the dial's own timestamps (server clock)."""
    pickup, post, answer, whole = [], [], [], []
    for call_id, dial in docs.items():
        if dial is None or dial.claimed_at is None:
            continue
        due, claimed = dial.created_at.timestamp(), dial.claimed_at.timestamp()
        pickup.append(claimed - due)
        post.append(ledger.hooks["route.callback", call_id][0][1] - claimed)
        answer.append(ledger.answered[call_id][1] - due)
        whole.append(ledger.hooks["route.callback", call_id][0][1] - due)
    share = sum(pickup) / sum(whole) if whole else math.nan
    claims = sorted(d.claimed_at.timestamp() for d in docs.values() if d and d.claimed_at)
    gaps = [b - a for a, b in itertools.pairwise(claims) if b - a < BUSY_GAP_SECONDS]
    return [
        f"\n{'where a callback dial goes':<46}{'p50 ms':>9}{'p99 ms':>9}{'n':>6}",
        row("  accept's clock (timer due) -> accept answered", answer),
        row("  timer due -> claimed (timer loop pick-up)", pickup),
        row("  claimed -> route.callback at the gateway", post),
        row("  timer due -> route.callback at the gateway", whole),
        f"  the timer loop's pick-up is {share:.0%} of that (sum over all dials)",
        row(f"  claim -> next claim, if < {BUSY_GAP_SECONDS * 1000:.0f} ms (busy loop)", gaps),
    ]


def cycle_rows(bench: Bench) -> list[str]:
    base, cb = bench.figures["baseline"].cycles, bench.figures["callbacks"].cycles
    labels = (
        "offer seen -> accept answered",
        "accept answered -> ended reported",
        "ended reported -> agent idle",
        "agent idle -> next offer seen (one frame: 0)",
    )
    head = f"{'live p50':>9}{'p99':>9}{'cb p50':>9}{'p99':>9}{'n':>6}"
    lines = [f"\n{'an agent round trip (ms, seen on its socket)':<46}{head}"]
    for index, label in enumerate(labels):
        lines.append(row(f"  {label}", [c[index] for c in base], [c[index] for c in cb]))
    return lines


def dial_counts(ledger: Ledger, docs: dict[str, DialDoc | None]) -> tuple[str, bool]:
    """The dials-per-callback line and whether every callback was dialled exactly once."""
    posts = [len(ledger.hooks.get(("route.callback", call_id), [])) for call_id in docs]
    claims = [dial.claims if dial else 0 for dial in docs.values()]
    ok = bool(posts) and all(n == 1 for n in posts) and all(n == 1 for n in claims)
    line = (
        f"\ndials per callback (route.callback POSTs): {sorted(set(posts))} over {len(posts)} "
        f"callbacks; claims per dial: {sorted(set(claims))}"
    )
    return line, ok


def print_report(bench: Bench, args: argparse.Namespace, busy: float, extra: list[str]) -> None:
    base, cb = bench.figures["baseline"], bench.figures["callbacks"]
    print(
        f"\n{base.offers} live calls and {cb.offers} callbacks, {args.agents} agents, "
        f"{args.slices} slices of each (ABBA), wrap-up ended by the {args.wrap_up}; this "
        f"process (server, desks, gateway) was {busy:.0%} CPU-busy while measuring"
    )
    print(f"{'accept answered -> webhook':<46}{'p50 ms':>9}{'p99 ms':>9}{'offers/s':>9}{'n':>6}")
    print(row("baseline: -> route.assigned", base.latencies, rate=base.rate()))
    print(row("callbacks: -> route.callback", cb.latencies, rate=cb.rate()))
    print("\n".join(extra))

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b > 0 else "n/a (baseline <= 0)"

    print(
        "\ncallbacks/baseline: p50 "
        f"{ratio(pct(cb.latencies, 0.5), pct(base.latencies, 0.5))}, p99 "
        f"{ratio(pct(cb.latencies, 0.99), pct(base.latencies, 0.99))}, throughput "
        f"{ratio(cb.rate(), base.rate())}"
    )


# --- the run ----------------------------------------------------------------------------


async def run(args: argparse.Namespace, scratch: Path) -> int:
    ledger = Ledger()
    async with AsyncExitStack() as stack:
        bench = await start(stack, scratch, ledger, args)
        await asyncio.sleep(0.2)  # the desks authenticate and take their snapshots
        for mode in TARGET:  # warm-up: connections, scripts, caches
            await bench.run_slice(mode, args.agents, measured=False)
        per_slice = max(1, args.calls // args.slices)
        wall, cpu = time.perf_counter(), time.process_time()
        for index in range(args.slices):
            for mode in list(TARGET) if index % 2 == 0 else list(TARGET)[::-1]:
                await bench.run_slice(mode, per_slice)
        busy = (time.process_time() - cpu) / (time.perf_counter() - wall)
        # a second timer's dial would show by now; none can come later: each dial was
        # answered, and a dial timer finds nothing left to do in an answered dial
        await asyncio.sleep(0.5)
        docs = await bench.dial_docs(bench.figures["callbacks"].call_ids)
        counts, once = dial_counts(ledger, docs)
        print_report(bench, args, busy, [*dial_rows(ledger, docs), *cycle_rows(bench), counts])
    for failure in ledger.failures[:5]:
        print(f"failed: {failure}", file=sys.stderr)
    if not once:
        print("FAIL: a callback was not dialled exactly once", file=sys.stderr)
    return 0 if once and not ledger.failures else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="live calls, and callbacks")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--slices", type=int, default=4, help="slices of each kind, ABBA")
    parser.add_argument(
        "--wrap-up",
        choices=("timer", "agent"),
        default="timer",
        help="timer: 0 s wrap-up ended by the timer loop; agent: ended by the agent at once",
    )
    parser.add_argument("--quick", action="store_true", help="40 calls, 5 agents: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.agents, args.slices = 40, 5, 2
    if min(args.calls, args.agents, args.slices) < 1:
        print("callbacks bench: --calls, --agents and --slices must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as scratch:
        (Path(scratch) / "rules").mkdir()
        wrap_up = 0 if args.wrap_up == "timer" else 3600
        (Path(scratch) / "rules" / "rules.yaml").write_text(RULES % (QUEUE, wrap_up, QUEUE))
        # the event loop the server runs on (uvloop where installed)
        with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
            try:
                return runner.run(run(args, Path(scratch)))
            except (BenchError, CallcenterError) as error:
                print(f"callbacks bench: {error}", file=sys.stderr)
                return 2


if __name__ == "__main__":
    raise SystemExit(main())
