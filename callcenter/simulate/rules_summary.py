"""What a scenario needs of the routing rules it names: each queue's skills and service
level, read from the rule files' documented `queues:` section once `callcenter rules check`
has accepted them (server_cli.py). The rest of the rules is the server's business."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from callcenter.rules.yaml_nodes import load_with_lines

DEFAULT_SERVICE_LEVEL_SECONDS = 20.0  # a queue's, when the rules do not say


@dataclass(frozen=True, slots=True)
class RuledQueue:
    skills: tuple[str, ...]
    service_level_seconds: float


@dataclass(frozen=True, slots=True)
class RulesSummary:
    queues: dict[str, RuledQueue]

    def service_level_seconds(self, queue: str) -> float:
        """The queue's threshold; an unknown queue has the default, as on the server."""
        known = self.queues.get(queue)
        return known.service_level_seconds if known else DEFAULT_SERVICE_LEVEL_SECONDS


class _QueueSection(msgspec.Struct, kw_only=True):
    """The fields of a queue the simulator reads; the server checks all of them."""

    skills: list[str] = msgspec.field(default_factory=list)
    service_level_seconds: float = DEFAULT_SERVICE_LEVEL_SECONDS


class _RulesFile(msgspec.Struct, kw_only=True):
    queues: dict[str, _QueueSection] = msgspec.field(default_factory=dict)


def rule_files(location: Path) -> list[Path]:
    """A file itself, or the `*.yaml`/`*.yml` files of a directory in name order (the
    order in which the server merges them)."""
    if location.is_file():
        return [location]
    return sorted(p for p in location.glob("*") if p.suffix in (".yaml", ".yml"))


def read_rules_summary(location: Path) -> RulesSummary:
    """The queues of rule files the server accepts (`callcenter rules check`).

    Raises OSError, YamlSyntaxError or msgspec.ValidationError for files it would not."""
    queues: dict[str, RuledQueue] = {}
    for path in rule_files(location):
        value, _ = load_with_lines(path.read_text(encoding="utf-8"))
        section = msgspec.convert(value if value is not None else {}, _RulesFile)
        for name, queue in section.queues.items():
            queues[name] = RuledQueue(tuple(queue.skills), queue.service_level_seconds)
    return RulesSummary(queues)
