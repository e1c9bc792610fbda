"""The CPU a request costs the whole machine (the client sending it, the server, Redis), and
what a throughput target leaves the server: on a machine the three share, a closed loop at
saturation runs at about (cores / the whole cost of a request), so two targets' throughput
ratio is about the inverse ratio of their whole costs."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestCost:
    """CPU microseconds a request costs each party."""

    client_us: float
    server_us: float
    redis_us: float

    @classmethod
    def of(
        cls, requests: int, client_seconds: float, server_seconds: float, redis_seconds: float
    ) -> RequestCost:
        if not requests:
            return cls(math.nan, math.nan, math.nan)
        scale = 1e6 / requests
        return cls(client_seconds * scale, server_seconds * scale, redis_seconds * scale)

    @property
    def whole_us(self) -> float:
        return self.client_us + self.server_us + self.redis_us


@dataclass(frozen=True, slots=True)
class CpuBudget:
    hello: RequestCost  # the baseline (its Redis: what an idle Redis spends meanwhile)
    ours: RequestCost

    def predicted_ratio(self) -> float:
        """Our throughput over the baseline's, were the cores the only limit."""
        return self.hello.whole_us / self.ours.whole_us

    def server_us_allowed(self, ratio: float) -> float:
        """Server CPU a request may cost for `ratio`, at Redis's cost as measured and the
        client's cost against the baseline (the lower: a client waiting on a slower server
        gathers fewer replies per wake-up, and spends more a request). Negative: out of
        reach even with a server costing nothing."""
        client = min(self.ours.client_us, self.hello.client_us)
        return self.hello.whole_us / ratio - client - self.ours.redis_us
