"""What a scenario is, once loaded and checked (scenario_loader.py reads the YAML files):
the traffic a simulation places (arrivals, queues, handle and patience times, callers)
and the agents who answer it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from callcenter.errors import CallcenterError
from callcenter.simulate.distributions import Distribution
from callcenter.simulate.rules_summary import RulesSummary
from callcenter.simulate.trace import TraceCall


class ScenarioInvalid(CallcenterError):
    """A scenario with problems, each "file:line: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


@dataclass(frozen=True, slots=True)
class QueueTraffic:
    name: str
    number: str  # the number callers dial for this queue (Twilio's `To`)
    share: float
    handle: Distribution
    patience: Distribution | None  # None: callers wait as long as it takes
    service_level_seconds: float
    callback_share: float = 0.0  # of callers offered a callback on hold, who take it
    callback_answer_share: float = 0.85  # of callback attempts, answered by the customer


@dataclass(frozen=True, slots=True)
class Poisson:
    per_second: float
    occupancy: float | None = None  # the target it was derived from, if any


@dataclass(frozen=True, slots=True)
class Trace:
    path: Path
    calls: tuple[TraceCall, ...]


@dataclass(frozen=True, slots=True)
class CallerMix:
    population: int
    repeat_share: float
    tiers: dict[str, float]
    moods: dict[str, float]
    speaking_share: float


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str
    name: str
    skills: dict[str, int]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    path: Path | None
    seed: int
    duration_seconds: float | None  # arrivals stop after this; None: when stopped
    warm_up_seconds: float  # calls placed earlier stay out of the figures
    gateway: str  # twilio | generic
    arrivals: Poisson | Trace
    queues: dict[str, QueueTraffic]
    callers: CallerMix
    think: Distribution
    wrap_up: Distribution
    roster: tuple[AgentSpec, ...]
    rules_dir: Path | None
    rules: RulesSummary | None  # of the rules in rules_dir

    def with_load(
        self, *, occupancy: float | None = None, per_second: float | None = None
    ) -> Scenario:
        """The same scenario with Poisson arrivals at another rate."""
        if occupancy is not None:
            rate = occupancy * len(self.roster) / mean_handle(self.queues)
            return dataclasses.replace(self, arrivals=Poisson(rate, occupancy))
        if per_second is not None:
            return dataclasses.replace(self, arrivals=Poisson(per_second))
        return self


def mean_handle(queues: dict[str, QueueTraffic]) -> float:
    """The handle time of a call, averaged over the queues' shares."""
    total = sum(q.share for q in queues.values()) or 1.0
    return sum(q.share * q.handle.mean for q in queues.values()) / total
