"""What a scenario is, once loaded and checked (scenario_loader.py reads the YAML files):
the traffic a simulation places (arrivals, queues, handle and patience times, callers,
text customers by channel) and the agents who answer it, with their capacity."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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


TEXT_CHANNELS = ("chat", "sms", "email")
# the most an agent holds at once per channel when its scenario does not say: the server's
# documented defaults, always sent with the agent so that the bot and the server agree
DEFAULT_CAPACITY = {"voice": 1, "chat": 3, "sms": 3, "email": 5}


@dataclass(frozen=True, slots=True)
class TextChannel:
    """The customers of one text channel: their queue, how they arrive (a share of the
    scenario's arrivals, taken from the callers, or a rate of their own, besides), how long
    an agent works a conversation and how long they wait for one."""

    channel: str  # chat | sms | email
    queue: str
    share: float
    per_second: float
    handle: Distribution  # the agent's work: accept to resolve
    patience: Distribution | None  # None: they wait as long as it takes


@dataclass(frozen=True, slots=True)
class TextMix:
    channels: dict[str, TextChannel]
    messages: tuple[int, int]  # the customer's messages per conversation: low, high
    think: Distribution  # the customer's pause between two messages
    replies: tuple[int, int]  # the agent's replies to a chat (SMS and email: none)
    reply: Distribution  # the agent's typing time per reply
    moods: dict[str, float]  # an angry customer writes angry messages

    @property
    def share(self) -> float:
        return sum(c.share for c in self.channels.values())


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str
    name: str
    skills: dict[str, int]
    capacity: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))


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
    text: TextMix | None = None  # None: callers only

    @property
    def voice_share(self) -> float:
        """Of the Poisson arrivals, the share that are calls (text shares take the rest)."""
        return max(0.0, 1.0 - (self.text.share if self.text is not None else 0.0))

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
