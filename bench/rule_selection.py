"""Rule selection benchmark: choosing the rule for a new call with 30 and 500 per-queue
rules (`call.queue == "qN"`, as `bench/routing.py` makes them), against trying every rule
in order (what selection did before it skipped the rules that test another queue), in the
same run. Both build the call's rule context.

Run:  python bench/rule_selection.py [--calls 2000]"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.routing import make_rules
from callcenter.domain.calls import Call, CallState
from callcenter.domain.routing_context import first_match, rule_context, select_rule
from callcenter.domain.routing_rules import RoutingRules

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def every_rule(rules: RoutingRules, context: Any) -> object:
    """The baseline: each rule's condition tried in order."""
    return first_match(rules.rules, rules, context)


def per_call(
    select: Callable[[RoutingRules, Any], object], rules: RoutingRules, calls: list[Call]
) -> float:
    select(rules, rule_context(calls[0], None, NOW))  # warm
    started = time.perf_counter()
    for call in calls:
        select(rules, rule_context(call, None, NOW))
    return (time.perf_counter() - started) / len(calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    shuffled = random.Random(7)
    print(f"{'rules':>6}{'every rule, µs':>16}{'indexed, µs':>13}{'ratio':>7}")
    for count in (30, 500):
        rules = make_rules(count)
        calls = [
            Call(
                id=f"c{n}",
                gateway_call_id=f"c{n}",
                state=CallState.QUEUED,
                queue="q0",
                queue_hint=f"q{shuffled.randrange(count)}",
                created_at=NOW - timedelta(seconds=n),
                updated_at=NOW,
                last_event_at=NOW,
            )
            for n in range(args.calls)
        ]
        baseline = per_call(every_rule, rules, calls)
        indexed = per_call(select_rule, rules, calls)
        print(f"{count + 1:6d}{baseline * 1e6:16.1f}{indexed * 1e6:13.1f}{baseline / indexed:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
