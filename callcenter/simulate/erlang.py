"""Queueing formulas the simulator is checked against: Erlang B and C (M/M/N) and Erlang A
(M/M/N+M: callers who hang up after an exponential patience), and the ideal queue those
formulas describe, replayed on given calls. Pure functions.

Notation: `arrival_rate` λ calls per second, `service_rate` μ = 1 / mean handle time,
`agents` N, offered load A = λ/μ erlangs, occupancy rho = A/N."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Erlang A sums the birth-death chain until the tail is this small.
_TAIL = 1e-12
_MAX_STATES = 1_000_000


@dataclass(frozen=True, slots=True)
class Prediction:
    """What theory says about one queue under one load."""

    probability_of_wait: float  # P(W > 0)
    mean_wait_seconds: float  # over every caller (0 for those served at once)
    probability_of_abandon: float = 0.0

    def probability_wait_longer(self, seconds: float, decay_per_second: float) -> float:
        """P(W > t) for Erlang C, given its decay rate Nμ - λ (see `erlang_c`)."""
        return self.probability_of_wait * math.exp(-decay_per_second * seconds)


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of N servers and A erlangs without a queue.

    Raises ValueError for N < 1 or A < 0."""
    if agents < 1 or load < 0:
        raise ValueError("need agents >= 1 and load >= 0")
    blocking = 1.0
    for n in range(1, agents + 1):  # the stable recursion B(n) = A B(n-1) / (n + A B(n-1))
        blocking = load * blocking / (n + load * blocking)
    return blocking


def erlang_c(agents: int, arrival_rate: float, mean_handle_seconds: float) -> Prediction:
    """M/M/N, callers never leave: P(wait) = C(N, A) and mean wait C / (Nμ - λ).

    Raises ValueError when the load is not below N (the queue grows without bound)."""
    load = arrival_rate * mean_handle_seconds
    if not 0 <= load < agents:
        raise ValueError(f"load {load:.3f} erlangs needs more than {agents} agents")
    blocking = erlang_b(agents, load)
    occupancy = load / agents
    waiting = blocking / (1 - occupancy * (1 - blocking))
    decay = agents / mean_handle_seconds - arrival_rate
    return Prediction(probability_of_wait=waiting, mean_wait_seconds=waiting / decay)


def erlang_c_decay(agents: int, arrival_rate: float, mean_handle_seconds: float) -> float:
    """Nμ - λ: under Erlang C, P(W > t) = P(W > 0) exp(-(Nμ - λ) t)."""
    return agents / mean_handle_seconds - arrival_rate


def erlang_a(
    agents: int, arrival_rate: float, mean_handle_seconds: float, mean_patience_seconds: float
) -> Prediction:
    """M/M/N+M: the stationary birth-death chain (births λ, deaths min(n, N)μ plus
    (n - N)⁺θ for patience θ = 1/mean), summed until its tail is negligible.

    P(wait) is the chance an arrival finds every agent busy (PASTA); the mean wait and
    P(abandon) follow from the mean queue length E[Q] by Little's law: E[W] = E[Q]/λ,
    P(abandon) = θ E[Q]/λ. Raises ValueError for non-positive rates."""
    if agents < 1 or arrival_rate <= 0 or mean_handle_seconds <= 0 or mean_patience_seconds <= 0:
        raise ValueError("need agents >= 1 and positive rates")
    mu, theta = 1 / mean_handle_seconds, 1 / mean_patience_seconds
    # unnormalised probabilities, scaled as we go to stay finite
    weight, total, busy_all, queued = 1.0, 0.0, 0.0, 0.0
    n = 0
    while True:
        total += weight
        if n >= agents:
            busy_all += weight
            queued += (n - agents) * weight
        departures = min(n + 1, agents) * mu + max(0, n + 1 - agents) * theta
        weight *= arrival_rate / departures
        n += 1
        if n > agents and weight < _TAIL * total:
            break
        if n > _MAX_STATES:
            raise ValueError("the chain does not settle: patience too long for this load")
    mean_queue = queued / total
    return Prediction(
        probability_of_wait=busy_all / total,
        mean_wait_seconds=mean_queue / arrival_rate,
        probability_of_abandon=theta * mean_queue / arrival_rate,
    )


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
