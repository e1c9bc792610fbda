"""Queueing-theory check: the real server against Erlang C and Erlang A.

One queue, 10 agents, Poisson arrivals, exponential handle times (mean 8 s: time scaled
down from minutes to seconds), longest idle, the bots accepting at once and doing no
after-call work (callcenter/simulate/scenarios/erlang.yaml). Each load point is a separate
run through a real server process (embedded Redis) with the simulator as Twilio and as
the agents. Waits are the server's own (call documents: queued_at -> answered_at); the
server's wait histogram (/metrics, whole run) is shown beside them.

The baseline, measured in the same run, is the ideal queue replayed on the very same
calls (same arrivals, patience, and each call taking its agent as long as it really did
on the server): a run of a few minutes scatters by tens of per cent around Erlang C
whatever routes it, and the replay scatters the same way. "server" is the server's
long-run figure estimated as theory + (server raw - replay) (a control variate); theory
is shown at the nominal handle time and at the agents' real busy time (the handle time
plus the round trips of an offer, an accept, a hang-up and a wrap-up). The check: the
server within 10 % of Erlang C at loads 0.7 and 0.9, and, with impatient callers,
abandonment that moves as Erlang A says (more at higher load, waits below Erlang C).

Run:  python bench/erlang.py [--seconds 240] [--quick]      (about 5 minutes per point)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time

from callcenter.simulate.erlang_check import LoadPoint, Measurement, run_points

POINTS = (
    LoadPoint(0.7),
    LoadPoint(0.9),
    LoadPoint(0.7, patience_mean=16.0),
    LoadPoint(0.9, patience_mean=16.0),
)
TOLERANCE = 0.10


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def _print(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(_row(rows[0], widths))
    print("  ".join("-" * w for w in widths))
    for row in rows[1:]:
        print(_row(row, widths))


def _percent(value: float) -> str:
    return f"{100 * value:+.1f}%"


def report(measured: list[Measurement]) -> bool:
    """Print the tables; True when every check holds."""
    ok = True
    first = measured[0]
    print(
        f"\n{first.agents} agents, exponential handle mean {first.handle_mean:g} s; "
        f"'waited' = waited more than {first.threshold:g} s\n"
    )
    plain = [m for m in measured if m.patience_mean is None]
    for field, title in (("waited", "P(wait > t)"), ("mean_wait", "mean wait (s)")):
        rows = [
            [
                "load", "calls", "Erlang C", "server", "vs Erlang C",
                "Erlang C at busy time", "vs that", "this run: server raw", "replay",
                "replay at busy time",
            ]
        ]  # fmt: skip
        for m in plain:
            good = abs(m.error(field)) <= TOLERANCE and abs(m.busy_error(field)) <= TOLERANCE
            ok &= good
            rows.append(
                [
                    f"{m.occupancy:g}",
                    str(m.calls),
                    f"{getattr(m.theory, field):.3f}",
                    f"{getattr(m.estimate, field):.3f}",
                    _percent(m.error(field)) + ("" if good else " FAIL"),
                    f"{getattr(m.busy_theory, field):.3f}",
                    _percent(m.busy_error(field)),
                    f"{getattr(m.server, field):.3f}",
                    f"{getattr(m.replay, field):.3f}",
                    f"{getattr(m.busy_replay, field):.3f}",
                ]
            )
        print(title)
        _print(rows)
        print()
    for m in plain:
        nominal = m.occupancy * m.agents / m.handle_mean
        line = (
            f"load {m.occupancy:g}: {m.arrival_rate:.3f} arrivals/s (nominal {nominal:.3f}); "
            f"agents busy {1000 * m.overhead_seconds:.1f} ms per call beyond the handle time; "
            f"every answered call: mean wait {m.server_all_mean_wait:.3f} s, waited "
            f"{m.server_all_waited:.3f} (documents)"
        )
        if m.histogram_mean_wait is not None:
            line += f", {m.histogram_mean_wait:.3f} s"
            if m.histogram_waited is not None:
                line += f", {m.histogram_waited:.3f}"
            line += " (wait histogram)"
        print(line)
    patient = [m for m in measured if m.patience_mean is not None]
    if patient:
        rows = [
            [
                "load", "patience", "calls", "abandon: Erlang A", "server", "vs Erlang A",
                "raw", "replay", "mean wait: Erlang A", "server", "Erlang C",
            ]
        ]  # fmt: skip
        for m in patient:
            rows.append(
                [
                    f"{m.occupancy:g}",
                    f"{m.patience_mean:g} s",
                    str(m.calls),
                    f"{m.theory.abandoned:.3f}",
                    f"{m.estimate.abandoned:.3f}",
                    _percent(m.error("abandoned")),
                    f"{m.server.abandoned:.3f}",
                    f"{m.busy_replay.abandoned:.3f}",
                    f"{m.theory.mean_wait:.3f}",
                    f"{m.estimate.mean_wait:.3f}",
                    f"{m.erlang_c.mean_wait_seconds:.3f}",
                ]
            )
        print()
        _print(rows)
        direction = direction_holds(patient)
        ok &= direction
        print(
            "\nErlang A's direction (abandonment rises with load, within 25 % of Erlang A; "
            "waits below Erlang C): " + ("holds" if direction else "FAILS")
        )
    return ok


def direction_holds(patient: list[Measurement]) -> bool:
    ordered = sorted(patient, key=lambda m: m.occupancy)
    rising = all(
        a.estimate.abandoned < b.estimate.abandoned and a.server.abandoned < b.server.abandoned
        for a, b in itertools.pairwise(ordered)
    )
    near = all(abs(m.error("abandoned")) <= 0.25 for m in patient)
    shorter = all(m.estimate.mean_wait < m.erlang_c.mean_wait_seconds for m in patient)
    return rising and near and shorter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="arrivals per point")
    parser.add_argument("--quick", action="store_true", help="60 s per point: a smoke run")
    args = parser.parse_args()
    seconds = 60.0 if args.quick else args.seconds
    began = time.monotonic()
    measured = asyncio.run(
        run_points(POINTS, seconds=seconds, say=lambda line: print(line, file=sys.stderr))
    )
    ok = report(measured)
    print(f"\n{time.monotonic() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
