"""Routing configuration as values: queues, rules with their steps, and alert rules.

Conditions are opaque here (a `Condition` port); the rules adapter compiles them from CEL."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from callcenter.domain.alerts import AlertRule


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    BEST_SKILL = "best_skill"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"


class Prefer(StrEnum):
    LAST_AGENT = "last_agent"


class Condition(Protocol):
    """A compiled boolean expression over `call`, `caller`, `queue` and `now`."""

    source: str
    # set when the expression is false for every call whose queue hint is not this one
    # (`call.queue == "billing"`, alone or and-ed first): rule selection skips it then
    only_queue: str | None

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True/False; raises ConditionError when the expression cannot be evaluated."""
        ...


class ConditionError(Exception):
    """A condition that failed to evaluate on some input (a type error, a missing field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    name: str
    skills: tuple[str, ...] = ()
    strategy: Strategy = Strategy.LONGEST_IDLE
    service_level_seconds: float = 20.0
    wrap_up_seconds: float = 10.0
    reservation_seconds: float = 15.0
    max_wait_seconds: float | None = None
    overflow: str | None = None  # a queue name; None with max_wait: route.overflow to gateway
    max_missed_offers: int = 3
    missed_offer_backoff_seconds: float = 5.0  # times the number of misses in a row
    service_level_target: float = 0.8  # share of calls answered within service_level_seconds
    # Twilio callers on hold are offered a callback once the estimated wait passes this
    # (None: never offered on hold; the API and the generic event still take requests).
    callback_offer_after_seconds: float | None = None
    callback_max_attempts: int = 3  # dial attempts before a callback is given up
    callback_retry_seconds: float = 300.0  # after a busy / unanswered / failed attempt
    # per channel, the most tasks an agent holds when taking one from this queue (on top
    # of the agent's own capacity); text offers to agents on voice only if allowed
    capacity: Mapping[str, int] = field(default_factory=dict)
    text_during_voice: bool = False
    # an SMS or email conversation quiet this long is over: the customer's next message
    # opens a new task (the quiet one is resolved, reason "idle")
    conversation_idle_seconds: float = 86400.0

    def served_by(self, skills: Collection[str]) -> bool:
        """Whether an agent with these skill names is in the queue: it has every skill
        the queue names."""
        return all(skill in skills for skill in self.skills)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """From `after` seconds of waiting: required proficiency per skill (empty = anyone in
    the queue) and extra queues whose agents may also take the call."""

    after: float
    require: Mapping[str, int] = field(default_factory=dict)
    also_queues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    queue: str | None = None  # None: the queue the gateway asked for (or the default queue)
    when: Condition | None = None  # None: the default rule, matches everything
    priority: int = 0
    prefer: Prefer | None = None
    prefer_seconds: float = 20.0  # wait this long for the preferred agent, then anyone
    steps: tuple[Step, ...] = (Step(after=0),)
    line: int = 0


MAX_HINTS_KEPT = 10_000  # queue hints come from gateways: the answers kept are bounded
SKILL_SETS_KEPT = 50_000  # agents' sets of skill names whose reach is kept (then cleared)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRules:
    queues: Mapping[str, QueueConfig]
    rules: tuple[Rule, ...]
    version: str = ""
    alerts: tuple[AlertRule, ...] = ()
    # added to a task's priority by its channel (e.g. email -5: calls and chats first)
    channel_priority: Mapping[str, int] = field(default_factory=dict)
    by_name: Mapping[str, Rule] = field(init=False, repr=False, compare=False)
    widening_rules: frozenset[str] = field(init=False, repr=False, compare=False)
    text_during_voice: bool = field(init=False, repr=False, compare=False)
    # the queues that name each skill, and those that name none (anyone serves them)
    queues_by_skill: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    open_queues: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # per queue hint, the rules whose condition may hold for it (see `rules_for`)
    _for_hint: dict[str, tuple[Rule, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # per set of skill names, the queues an agent with them serves and the rules reaching in
    _reach: dict[frozenset[str], tuple[frozenset[str], frozenset[str]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {rule.name: rule for rule in self.rules})
        widening = {r.name for r in self.rules if any(s.also_queues for s in r.steps)}
        object.__setattr__(self, "widening_rules", frozenset(widening))
        blended = any(q.text_during_voice for q in self.queues.values())
        object.__setattr__(self, "text_during_voice", blended)
        by_skill: dict[str, tuple[str, ...]] = {}
        for name, queue in self.queues.items():
            for skill in queue.skills:
                by_skill[skill] = (*by_skill.get(skill, ()), name)
        object.__setattr__(self, "queues_by_skill", by_skill)
        open_queues = tuple(name for name, queue in self.queues.items() if not queue.skills)
        object.__setattr__(self, "open_queues", open_queues)

    def rules_for(self, queue_hint: str) -> tuple[Rule, ...]:
        """The rules, in order, less those whose condition names another queue: the only
        ones that may match a call with this queue hint (worked out once per hint, so a
        long list of per-queue rules costs one look-up, not one condition each)."""
        found = self._for_hint.get(queue_hint)
        if found is None:
            found = tuple(
                rule
                for rule in self.rules
                if rule.when is None or rule.when.only_queue in (None, queue_hint)
            )
            if len(self._for_hint) < MAX_HINTS_KEPT:
                self._for_hint[queue_hint] = found
        return found

    def reach(self, skills: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """For an agent with these skill names: the configured queues it serves (it has
        every skill a queue names; a queue naming none is everyone's), and the rules whose
        steps reach into one of them or into a queue not configured (anyone serves it).
        Worked out once per set of names: dispatch passes ask for every agent they plan."""
        found = self._reach.get(skills)
        if found is None:
            served = self._served(skills)
            found = (served, self._reaching(served))
            if len(self._reach) >= SKILL_SETS_KEPT:
                self._reach.clear()
            self._reach[skills] = found
        return found

    def _served(self, skills: frozenset[str]) -> frozenset[str]:
        queues = self.queues
        named = (
            name
            for skill in skills
            for name in self.queues_by_skill.get(skill, ())
            if queues[name].served_by(skills)
        )
        return frozenset((*self.open_queues, *named))

    def _reaching(self, served: frozenset[str]) -> frozenset[str]:
        return frozenset(
            name
            for name in self.widening_rules
            if any(
                queue in served or queue not in self.queues
                for step in self.by_name[name].steps
                for queue in step.also_queues
            )
        )

    def queue(self, name: str) -> QueueConfig:
        """The queue's config; an unknown queue (e.g. a gateway hint) gets the defaults."""
        return self.queues.get(name) or QueueConfig(name=name)

    def rule(self, name: str | None) -> Rule | None:
        return self.by_name.get(name) if name is not None else None


def default_rules(default_queue: str) -> RoutingRules:
    """What runs with no rule files: one queue, anyone may take any call."""
    return RoutingRules(
        queues={default_queue: QueueConfig(name=default_queue)},
        rules=(Rule(name="default"),),
        version="builtin",
    )
