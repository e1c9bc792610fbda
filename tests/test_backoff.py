"""The one retry policy: doubling, capped, jittered within the upper half of each step."""

from __future__ import annotations

import pytest

from callcenter.backoff import Backoff


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    policy = Backoff(0.5, 30.0)
    assert [policy.ceiling(n) for n in (0, 1, 2, 3, 4, 7, 8, 10_000)] == [
        0.5,
        0.5,
        1.0,
        2.0,
        4.0,
        30.0,
        30.0,
        30.0,
    ]


def test_each_delay_lies_in_the_upper_half_of_its_step_and_they_differ() -> None:
    policy = Backoff(1.0, 8.0)
    for attempt in range(1, 8):
        top = policy.ceiling(attempt)
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(top / 2 <= d <= top for d in delays)
        assert len(set(delays)) > 100  # jittered, not one fixed value


def test_a_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = Backoff(0.5, 8.0)
    assert policy.delay(1, at_least=3.0) == 3.0
    assert policy.delay(1, at_least=60.0) == 8.0


@pytest.mark.parametrize(("first", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_unusable_policies_are_refused(first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoffs"):
        Backoff(first, cap)
