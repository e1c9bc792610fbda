"""Random durations for the simulator (handle times, patience, think and wrap-up times):
each knows its mean and draws from a `random.Random` it is given, so a seed fixes a run."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol


class Distribution(Protocol):
    @property
    def mean(self) -> float: ...

    def sample(self, rng: random.Random) -> float: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Constant:
    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: random.Random) -> float:
        return self.value

    def describe(self) -> str:
        return f"{self.value:g} s"


@dataclass(frozen=True, slots=True)
class Exponential:
    mean_seconds: float

    @property
    def mean(self) -> float:
        return self.mean_seconds

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean_seconds)

    def describe(self) -> str:
        return f"exponential, mean {self.mean_seconds:g} s"


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        return f"uniform {self.low:g}-{self.high:g} s"


@dataclass(frozen=True, slots=True)
class Lognormal:
    """Parameterised by its own mean and standard deviation (not those of the log)."""

    mean_seconds: float
    sd_seconds: float

    @property
    def mean(self) -> float:
        return self.mean_seconds

    def sample(self, rng: random.Random) -> float:
        sigma2 = math.log1p((self.sd_seconds / self.mean_seconds) ** 2)
        return rng.lognormvariate(math.log(self.mean_seconds) - sigma2 / 2, math.sqrt(sigma2))

    def describe(self) -> str:
        return f"lognormal, mean {self.mean_seconds:g} s, sd {self.sd_seconds:g} s"
