"""One retry policy for every outbound request and reconnect: exponential back-off from a
first delay, capped, with "equal jitter" (half of each step fixed, half random) so that
instances that lost the same peer at the same moment do not all come back at once."""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_DOUBLINGS = 32  # 2**32 times any first delay is past every cap


@dataclass(frozen=True, slots=True)
class Backoff:
    first_seconds: float
    max_seconds: float

    def __post_init__(self) -> None:
        if not 0 < self.first_seconds <= self.max_seconds:
            raise ValueError("backoffs must be positive, the first no more than the maximum")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt `attempt` (1, 2, ...): doubling from
        `first_seconds`, capped at `max_seconds`."""
        doublings = min(max(attempt, 1) - 1, _MAX_DOUBLINGS)
        return float(min(self.max_seconds, self.first_seconds * 2.0**doublings))

    def delay(self, attempt: int, *, at_least: float = 0.0) -> float:
        """How long to wait after failed attempt `attempt`: between half the ceiling and the
        ceiling, and no less than `at_least` (a server's Retry-After) up to the cap."""
        top = self.ceiling(attempt)
        jittered = top / 2 + random.uniform(0, top / 2)
        return min(self.max_seconds, max(at_least, jittered))
