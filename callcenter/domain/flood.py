"""A token bucket: how a connection's senders are held to a budget of messages (or of
seconds of audio) per second. Pure: time is passed in."""

from __future__ import annotations


class FloodGuard:
    """Token bucket: `rate` tokens per second on average, bursts up to `burst`.
    Time is passed in (monotonic seconds)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = now

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take `cost` tokens (one message by default); False when over the budget."""
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True
