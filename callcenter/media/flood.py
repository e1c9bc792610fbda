"""A per-connection message budget: media connections that send far faster than real time
are cut off instead of eating the event loop."""

from __future__ import annotations


class FloodGuard:
    """Token bucket: `rate` messages per second on average, bursts up to `burst`.
    Time is passed in (monotonic seconds)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one message's token; False when the sender is over its budget."""
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
