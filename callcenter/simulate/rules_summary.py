"""What a scenario needs of the routing rules it names: each queue's skills, service
level, callback policy and capacity caps, and whether its calls are taken strictly in
arrival order, read from the rule files' documented sections once `callcenter rules check`
has accepted them (server_cli.py). The rest of the rules is the server's business."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from callcenter.rules.yaml_nodes import load_with_lines

DEFAULT_SERVICE_LEVEL_SECONDS = 20.0  # a queue's, when the rules do not say
DEFAULT_CALLBACK_MAX_ATTEMPTS = 3
DEFAULT_CALLBACK_RETRY_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class RuledQueue:
    skills: tuple[str, ...]
    service_level_seconds: float
    callback_offer_after_seconds: float | None = None  # None: no callback offered on hold
    callback_max_attempts: int = DEFAULT_CALLBACK_MAX_ATTEMPTS
    callback_retry_seconds: float = DEFAULT_CALLBACK_RETRY_SECONDS
    # every agent with the queue's skills may take every call of it, all calls (and text
    # tasks) have one priority and stay in it: they must then be offered in arrival order
    in_arrival_order: bool = False
    capacity: dict[str, int] = field(default_factory=dict)  # per channel, over the agent's
    text_during_voice: bool = False  # text offers to agents on a call


@dataclass(frozen=True, slots=True)
class RulesSummary:
    queues: dict[str, RuledQueue]

    def service_level_seconds(self, queue: str) -> float:
        """The queue's threshold; an unknown queue has the default, as on the server."""
        known = self.queues.get(queue)
        return known.service_level_seconds if known else DEFAULT_SERVICE_LEVEL_SECONDS

    def queue(self, name: str) -> RuledQueue | None:
        return self.queues.get(name)


class _QueueSection(msgspec.Struct, kw_only=True):
    """The fields of a queue the simulator reads; the server checks all of them."""

    skills: list[str] = msgspec.field(default_factory=list)
    service_level_seconds: float = DEFAULT_SERVICE_LEVEL_SECONDS
    max_wait_seconds: float | None = None
    overflow: str | None = None
    callback_offer_after_seconds: float | None = None
    callback_max_attempts: int = DEFAULT_CALLBACK_MAX_ATTEMPTS
    callback_retry_seconds: float = DEFAULT_CALLBACK_RETRY_SECONDS
    capacity: dict[str, int] = msgspec.field(default_factory=dict)
    text_during_voice: bool = False


class _StepSection(msgspec.Struct, kw_only=True):
    require: dict[str, int] = msgspec.field(default_factory=dict)
    also_queues: list[str] = msgspec.field(default_factory=list)


class _RuleSection(msgspec.Struct, kw_only=True):
    queue: str | None = None
    priority: int = 0
    prefer: str | None = None
    steps: list[_StepSection] = msgspec.field(default_factory=list)

    @property
    def plain(self) -> bool:
        """Neither priority, a preferred agent nor steps narrowing or widening the pool."""
        narrowing = any(step.require or step.also_queues for step in self.steps)
        return self.priority == 0 and self.prefer is None and not narrowing


class _Actions(msgspec.Struct, kw_only=True):
    raise_priority: int = 0


class _AlertSection(msgspec.Struct, kw_only=True):
    actions: _Actions = msgspec.field(default_factory=_Actions)


class _RulesFile(msgspec.Struct, kw_only=True):
    queues: dict[str, _QueueSection] = msgspec.field(default_factory=dict)
    rules: list[_RuleSection] = msgspec.field(default_factory=list)
    alerts: list[_AlertSection] = msgspec.field(default_factory=list)
    channel_priority: dict[str, int] = msgspec.field(default_factory=dict)


def rule_files(location: Path) -> list[Path]:
    """A file itself, or the `*.yaml`/`*.yml` files of a directory in name order (the
    order in which the server merges them)."""
    if location.is_file():
        return [location]
    return sorted(p for p in location.glob("*") if p.suffix in (".yaml", ".yml"))


def read_rules_summary(location: Path) -> RulesSummary:
    """The queues of rule files the server accepts (`callcenter rules check`).

    Raises OSError, YamlSyntaxError or msgspec.ValidationError for files it would not."""
    sections: dict[str, _QueueSection] = {}
    rules: list[_RuleSection] = []
    raises_priority = False  # by an alert's action, or by a task's channel
    for path in rule_files(location):
        value, _ = load_with_lines(path.read_text(encoding="utf-8"))
        found = msgspec.convert(value if value is not None else {}, _RulesFile)
        sections.update(found.queues)
        rules += found.rules
        raises_priority |= any(alert.actions.raise_priority for alert in found.alerts)
        raises_priority |= any(found.channel_priority.values())
    overflow_targets = {q.overflow for q in sections.values() if q.overflow}
    queues: dict[str, RuledQueue] = {}
    for name, queue in sections.items():
        in_order = (
            not raises_priority
            and _plain_routing(name, rules)
            and queue.max_wait_seconds is None
            and name not in overflow_targets
        )
        queues[name] = RuledQueue(
            tuple(queue.skills),
            queue.service_level_seconds,
            callback_offer_after_seconds=queue.callback_offer_after_seconds,
            callback_max_attempts=queue.callback_max_attempts,
            callback_retry_seconds=queue.callback_retry_seconds,
            in_arrival_order=in_order,
            capacity=dict(queue.capacity),
            text_during_voice=queue.text_during_voice,
        )
    return RulesSummary(queues)


def _plain_routing(queue: str, rules: list[_RuleSection]) -> bool:
    """Whether every rule that may route to `queue` is plain (see _RuleSection)."""
    return all(rule.plain for rule in rules if rule.queue in (queue, None))
