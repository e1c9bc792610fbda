"""Erlang B, C and A against published values and against each other, and the ideal queue
against the formulas."""

from __future__ import annotations

import random
import statistics

import pytest

from callcenter.domain.staffing import erlang_a, erlang_b, erlang_c, erlang_c_decay
from callcenter.simulate.erlang import Arrival, ideal_queue


def test_erlang_b_and_c_known_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)  # standard B table
    # M/M/1: P(wait) = rho, mean wait = rho / (mu - lambda)
    single = erlang_c(1, 0.8, 1.0)
    assert single.probability_of_wait == pytest.approx(0.8)
    assert single.mean_wait_seconds == pytest.approx(4.0)
    # 10 agents, 8 erlangs: the textbook sum (A^N/N! N/(N-A)) / (sum_k<N A^k/k! + that)
    ten = erlang_c(10, 8.0, 1.0)
    assert ten.probability_of_wait == pytest.approx(0.40918, abs=1e-4)
    assert ten.mean_wait_seconds == pytest.approx(0.40918 / 2, abs=1e-4)
    with pytest.raises(ValueError):
        erlang_c(5, 6.0, 1.0)


def test_erlang_a_tends_to_c_and_abandons_more_under_load() -> None:
    c = erlang_c(10, 8.0, 1.0)
    patient = erlang_a(10, 8.0, 1.0, 1e6)
    assert patient.probability_of_wait == pytest.approx(c.probability_of_wait, rel=1e-3)
    assert patient.mean_wait_seconds == pytest.approx(c.mean_wait_seconds, rel=1e-2)
    light, heavy = erlang_a(10, 7.0, 1.0, 2.0), erlang_a(10, 9.0, 1.0, 2.0)
    assert light.probability_of_abandon < heavy.probability_of_abandon
    assert heavy.mean_wait_seconds < erlang_c(10, 9.0, 1.0).mean_wait_seconds
    # overload is fine for Erlang A: impatience keeps the queue finite
    over = erlang_a(10, 12.0, 1.0, 2.0)
    assert 0.15 < over.probability_of_abandon < 1.0


def test_the_ideal_queue_matches_erlang_c_over_a_long_run() -> None:
    rng = random.Random(3)
    agents, rate, handle = 10, 2.25, 4.0
    at, calls = 0.0, []
    for _ in range(200_000):
        at += rng.expovariate(rate)
        calls.append(Arrival(at, rng.expovariate(1 / handle)))
    waits = [w for w in ideal_queue(calls, agents)[20_000:] if w is not None]
    c = erlang_c(agents, rate, handle)
    assert statistics.fmean(waits) == pytest.approx(c.mean_wait_seconds, rel=0.06)
    threshold = 0.25
    longer = sum(w > threshold for w in waits) / len(waits)
    decay = erlang_c_decay(agents, rate, handle)
    assert longer == pytest.approx(c.probability_wait_longer(threshold, decay), rel=0.03)


def test_the_ideal_queue_with_patience_matches_erlang_a() -> None:
    rng = random.Random(4)
    agents, rate, handle, patience = 10, 2.25, 4.0, 8.0
    at, calls = 0.0, []
    for _ in range(200_000):
        at += rng.expovariate(rate)
        calls.append(Arrival(at, rng.expovariate(1 / handle), rng.expovariate(1 / patience)))
    waits = ideal_queue(calls, agents)[20_000:]
    abandoned = sum(w is None for w in waits) / len(waits)
    assert abandoned == pytest.approx(
        erlang_a(agents, rate, handle, patience).probability_of_abandon, rel=0.05
    )


def test_first_come_first_served_by_hand() -> None:
    calls = [Arrival(0, 5), Arrival(1, 5), Arrival(2, 1, patience=2.5), Arrival(3, 1)]
    # two agents: the third call would wait 3 s (until 5) but gives up after 2.5 s
    assert ideal_queue(calls, 2) == [0, 0, None, 2]
    with pytest.raises(ValueError):
        ideal_queue([Arrival(2, 1), Arrival(1, 1)], 1)
