"""The media flood guards: real-time senders pass, floods (of audio or of messages) are
cut off. Time is a fake clock: these are exact, not timing-dependent."""

from __future__ import annotations

import pytest

from callcenter.domain.flood import FloodGuard
from callcenter.media.flood import FloodLimits, MediaGuard, audio_seconds
from callcenter.media.frames import Track
from callcenter.media.refusals import MediaRefused, Refusal


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


def test_the_cost_of_a_take_is_configurable() -> None:
    guard = FloodGuard(rate=1.0, burst=3.0, now=0.0)
    assert guard.allow(0.0, cost=2.5)
    assert not guard.allow(0.0, cost=1.0)  # 0.5 left
    assert guard.allow(0.5, cost=1.0)


def test_audio_seconds_is_bytes_over_rate_sample_size_and_channels() -> None:
    assert audio_seconds(160, 8000, 1) == 0.02  # a Twilio chunk: 20 ms of mu-law
    assert audio_seconds(640, 16000, 2) == 0.02  # 20 ms of L16 at 16 kHz
    assert audio_seconds(640, 8000, 2, channels=2) == 0.02
    assert audio_seconds(44_000, 8000, 1) == 5.5  # the 44 KB chunk of the hostile probe


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(guard: MediaGuard, clock: FakeClock, track: Track, speed: float, seconds: float) -> float:
    """Send `seconds` of audio in 20 ms frames at `speed` x real time; returns the seconds
    of audio accepted before the guard refused (all of it when it never did)."""
    accepted = 0.0
    for _ in range(round(seconds / 0.02)):
        try:
            guard.message()
            guard.audio(track, 0.02)
        except MediaRefused as refused:
            assert refused.refusal is Refusal.FLOOD and "real time" in str(refused)
            return accepted
        accepted += 0.02
        clock.now += 0.02 / speed
    return accepted


@pytest.mark.parametrize("speed", [1.0, 1.5])
def test_real_time_and_a_little_faster_pass_forever(speed: float) -> None:
    clock = FakeClock()
    guard = MediaGuard(clock)
    assert feed(guard, clock, Track.CALLER, speed, 600.0) == pytest.approx(600.0)


def test_a_stall_refills_the_burst_allowance() -> None:
    clock = FakeClock()
    limits = FloodLimits()
    guard = MediaGuard(clock)
    burst = limits.burst_seconds
    assert feed(guard, clock, Track.CALLER, 1000.0, burst + 1.0) == pytest.approx(burst, abs=0.03)
    with pytest.raises(MediaRefused):  # the allowance is spent
        guard.audio(Track.CALLER, 0.02)
    clock.now += burst / limits.speed  # the gateway stalls, then catches up at once
    assert feed(guard, clock, Track.CALLER, 1000.0, burst - 0.1) == pytest.approx(burst - 0.1)


def test_twenty_times_real_time_is_refused_soon_after_the_burst() -> None:
    clock = FakeClock()
    limits = FloodLimits()
    accepted = feed(MediaGuard(clock), clock, Track.CALLER, 20.0, 60.0)
    assert limits.burst_seconds <= accepted < limits.burst_seconds + 1.0


def test_each_track_has_its_own_budget() -> None:
    clock = FakeClock()
    guard = MediaGuard(clock)
    for _ in range(3000):  # a minute of both tracks at real time, interleaved
        guard.message()
        guard.audio(Track.CALLER, 0.02)
        guard.message()
        guard.audio(Track.AGENT, 0.02)
        clock.now += 0.02
    assert feed(guard, clock, Track.AGENT, 20.0, 60.0) < FloodLimits().burst_seconds + 1.0


def test_tiny_messages_are_refused_by_the_message_budget() -> None:
    clock = FakeClock()
    guard = MediaGuard(clock, FloodLimits(messages_per_second=100, message_burst=200))
    for _ in range(200):
        guard.message()
        guard.audio(Track.CALLER, 1 / 8000)  # one sample: weighs nothing as audio
    with pytest.raises(MediaRefused, match="messages arrive far faster than real time"):
        guard.message()
