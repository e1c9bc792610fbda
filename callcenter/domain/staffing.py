"""Queueing formulas, one implementation for the server (live staffing) and the simulator
(its Erlang check): Erlang B and C (M/M/N), Erlang A (M/M/N+M: callers who hang up after
an exponential patience), and the agents a queue needs to meet its service-level target.
Pure functions.

Notation: `arrival_rate` λ calls per second, `service_rate` μ = 1 / mean handle time,
`agents` N, offered load A = λ/μ erlangs, occupancy rho = A/N."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Erlang A sums the birth-death chain until the tail is this small.
_TAIL = 1e-12
_MAX_STATES = 1_000_000
# `agents_needed` gives up above this many agents: the search is linear in the answer.
MAX_AGENTS = 10_000


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


def _waiting_from_blocking(agents: int, load: float, blocking: float) -> float:
    """C(N, A) from B(N, A): B / (1 - rho (1 - B))."""
    return blocking / (1 - load / agents * (1 - blocking))


def erlang_c(agents: int, arrival_rate: float, mean_handle_seconds: float) -> Prediction:
    """M/M/N, callers never leave: P(wait) = C(N, A) and mean wait C / (Nμ - λ).

    Raises ValueError when the load is not below N (the queue grows without bound)."""
    load = arrival_rate * mean_handle_seconds
    if not 0 <= load < agents:
        raise ValueError(f"load {load:.3f} erlangs needs more than {agents} agents")
    waiting = _waiting_from_blocking(agents, load, erlang_b(agents, load))
    decay = erlang_c_decay(agents, arrival_rate, mean_handle_seconds)
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


def service_level(
    agents: int, arrival_rate: float, mean_handle_seconds: float, threshold_seconds: float
) -> float:
    """Erlang C's service level P(W <= t) = 1 - C(N, A) exp(-(Nμ - λ) t): 1 without
    traffic, 0 when the load is not below N (the queue grows without bound)."""
    if arrival_rate <= 0 or mean_handle_seconds <= 0:
        return 1.0
    if agents < 1 or arrival_rate * mean_handle_seconds >= agents:
        return 0.0
    prediction = erlang_c(agents, arrival_rate, mean_handle_seconds)
    decay = erlang_c_decay(agents, arrival_rate, mean_handle_seconds)
    return 1.0 - prediction.probability_wait_longer(threshold_seconds, decay)


def agents_needed(
    arrival_rate: float,
    mean_handle_seconds: float,
    service_level_seconds: float,
    target: float,
    *,
    max_agents: int = MAX_AGENTS,
) -> int | None:
    """The fewest agents N whose Erlang C service level P(W <= t) reaches `target` at
    arrival rate λ (per second) and mean handle time h: 0 without traffic, None when even
    `max_agents` would not do. One pass of the Erlang B recursion up to the answer, so the
    cost is linear in it (and bounded by `max_agents`).

    Raises ValueError for a negative rate, a non-positive handle time, a negative
    threshold or a target outside [0, 1)."""
    if arrival_rate < 0 or mean_handle_seconds <= 0 or service_level_seconds < 0:
        raise ValueError("need arrival_rate >= 0, mean_handle_seconds > 0, threshold >= 0")
    if not 0 <= target < 1:
        raise ValueError("the target is a share below 1")
    if arrival_rate == 0:
        return 0
    load = arrival_rate * mean_handle_seconds
    blocking = 1.0
    for n in range(1, max_agents + 1):
        blocking = load * blocking / (n + load * blocking)
        if load >= n:
            continue
        waiting = _waiting_from_blocking(n, load, blocking)
        decay = n / mean_handle_seconds - arrival_rate
        if 1.0 - waiting * math.exp(-decay * service_level_seconds) >= target:
            return n
    return None
