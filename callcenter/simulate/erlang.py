"""The ideal queue the Erlang formulas describe, replayed on given calls, and the load that
makes N agents a given share busy. Pure functions. The formulas themselves (Erlang B, C
and A) are the server's, in `callcenter/domain/staffing.py`: one implementation.

Notation: `arrival_rate` λ calls per second, `agents` N, occupancy rho = A/N."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass


def arrival_rate_for(agents: int, occupancy: float, mean_handle_seconds: float) -> float:
    """λ that makes N agents `occupancy` busy: rho N / h."""
    return occupancy * agents / mean_handle_seconds


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float  # seconds
    handle: float
    patience: float | None = None  # None: waits as long as it takes


def ideal_queue(arrivals: Sequence[Arrival], agents: int) -> list[float | None]:
    """The wait of each call (None: it hung up first) in an ideal first-come-first-served
    queue with `agents` identical agents, all free at time 0, who start the next call the
    instant they finish one: the model Erlang C and A describe, on exactly these calls.

    `arrivals` must be in time order. Raises ValueError otherwise."""
    free = [0.0] * agents  # when each agent is next free, as a heap
    waits: list[float | None] = []
    last = -math.inf
    for call in arrivals:
        if call.at < last:
            raise ValueError("arrivals must be in time order")
        last = call.at
        start = max(call.at, free[0])
        wait = start - call.at
        if call.patience is not None and wait > call.patience:
            waits.append(None)  # gave up: takes no agent's time
            continue
        heapq.heapreplace(free, start + call.handle)
        waits.append(wait)
    return waits
