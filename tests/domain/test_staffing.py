"""Live staffing: Erlang C's service level and the agents a queue needs, against published
figures and an independent textbook computation (factorial sums, not the recursion)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.domain.staffing import agents_needed, erlang_c, service_level


def textbook_service_level(agents: int, rate: float, handle: float, threshold: float) -> float:
    """1 - C(N, A) e^{-(N - A) t / h}, C from the sums of A^k / k! (in logs, scaled by the
    largest term, so that hundreds of erlangs stay finite)."""
    load = rate * handle
    if load >= agents:
        return 0.0
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents + 1)]
    peak = max(logs)
    top = math.exp(logs[agents] - peak) * agents / (agents - load)
    bottom = sum(math.exp(value - peak) for value in logs[:agents]) + top
    return 1 - top / bottom * math.exp(-(agents - load) * threshold / handle)


def test_the_worked_example_of_the_erlang_c_tutorials() -> None:
    # 100 calls in 30 minutes, 3 minutes each, 80 % within 20 s: 10 erlangs
    rate, handle = 100 / 1800, 180.0
    assert erlang_c(11, rate, handle).probability_of_wait == pytest.approx(0.6821, abs=1e-4)
    assert service_level(13, rate, handle, 20) == pytest.approx(0.7956, abs=1e-4)
    assert service_level(14, rate, handle, 20) == pytest.approx(0.8884, abs=1e-4)
    assert agents_needed(rate, handle, 20, 0.8) == 14


@pytest.mark.parametrize(
    ("rate", "handle", "threshold", "target", "expected"),
    [
        (0.0, 180.0, 20.0, 0.8, 0),  # no traffic: nobody needed
        (1 / 3600, 180.0, 20.0, 0.8, 1),  # one call an hour: one agent will do
        (0.1, 240.0, 20.0, 0.8, 29),  # 24 erlangs
        (0.1, 240.0, 20.0, 0.95, 32),  # a higher target needs more
        (0.1, 240.0, 60.0, 0.8, 28),  # a longer threshold needs fewer
    ],
)
def test_agents_needed_table(
    rate: float, handle: float, threshold: float, target: float, expected: int
) -> None:
    assert agents_needed(rate, handle, threshold, target) == expected


def test_service_level_edges() -> None:
    assert service_level(3, 0.0, 180.0, 20.0) == 1.0  # nobody calls
    assert service_level(3, 1 / 60, 180.0, 20.0) == 0.0  # 3 erlangs on 3 agents: unbounded
    assert service_level(0, 1 / 60, 180.0, 20.0) == 0.0


def test_the_cap_and_bad_input() -> None:
    assert agents_needed(10.0, 300.0, 20.0, 0.8, max_agents=100) is None  # 3,000 erlangs
    for bad in (
        (-1.0, 180.0, 20.0, 0.8),
        (0.1, 0.0, 20.0, 0.8),
        (0.1, 180.0, -1.0, 0.8),
        (0.1, 180.0, 20.0, 1.0),
    ):
        with pytest.raises(ValueError):
            agents_needed(*bad)


@given(
    rate=st.floats(min_value=0.001, max_value=0.5),
    handle=st.floats(min_value=10, max_value=600),
    threshold=st.floats(min_value=0, max_value=120),
    target=st.floats(min_value=0.05, max_value=0.95),
)
def test_agents_needed_is_the_fewest_that_meet_the_target(
    rate: float, handle: float, threshold: float, target: float
) -> None:
    needed = agents_needed(rate, handle, threshold, target)
    assert needed is not None and needed > rate * handle
    assert textbook_service_level(needed, rate, handle, threshold) >= target - 1e-9
    if needed > 1:
        assert textbook_service_level(needed - 1, rate, handle, threshold) < target + 1e-9
