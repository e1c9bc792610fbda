"""The media flood guard: real-time senders pass, floods are cut off."""

from __future__ import annotations

from callcenter.media.flood import FloodGuard


def test_real_time_passes_forever() -> None:
    guard = FloodGuard(rate=100, burst=200, now=0.0)
    assert all(guard.allow(i * 0.02) for i in range(10_000))  # 50 per second for 200 s


def test_a_burst_passes_then_a_flood_is_refused() -> None:
    guard = FloodGuard(rate=100, burst=200, now=0.0)
    assert all(guard.allow(0.0) for _ in range(200))
    assert not guard.allow(0.0)
    assert guard.allow(0.011)  # the budget refills at the rate


def test_sustained_excess_is_refused_within_the_burst_allowance() -> None:
    guard = FloodGuard(rate=100, burst=200, now=0.0)
    answers = [guard.allow(i * 0.001) for i in range(1000)]  # 1,000 per second
    assert not all(answers)
    assert answers.index(False) < 250
