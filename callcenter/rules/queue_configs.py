"""The `queues:` (and `skills:`) sections of the rule files, merged across files and
checked: each queue defined once, every overflow target defined and not the queue itself."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.domain.routing_rules import QueueConfig
from callcenter.rules.parsed_file import ParsedFile, Problem
from callcenter.rules.schema import QueueSpec


@dataclass(frozen=True, slots=True)
class QueueCatalog:
    """The queues by name, and every skill a queue or a `skills:` list names."""

    queues: dict[str, QueueConfig]
    skills: frozenset[str]


def build_queues(parsed: list[ParsedFile], problems: list[Problem]) -> QueueCatalog:
    """Every file's queues (a later definition of a name replaces the earlier one, which is
    reported) and the skill catalog; appends a problem for each bad overflow."""
    queues: dict[str, QueueConfig] = {}
    skills: set[str] = set()
    for p in parsed:
        skills.update(p.spec.skills)
        for name, spec in p.spec.queues.items():
            if name in queues:
                problems.append(
                    Problem(p.file, p.line("queues", name), f"queue {name!r} defined twice")
                )
            queues[name] = _queue_config(name, spec)
            skills.update(spec.skills)
    for p in parsed:
        for name, spec in p.spec.queues.items():
            problems.extend(_overflow_problems(p, name, spec, queues))
    return QueueCatalog(queues, frozenset(skills))


def _queue_config(name: str, spec: QueueSpec) -> QueueConfig:
    return QueueConfig(
        name=name,
        skills=tuple(spec.skills),
        strategy=spec.strategy,
        service_level_seconds=spec.service_level_seconds,
        wrap_up_seconds=spec.wrap_up_seconds,
        reservation_seconds=spec.reservation_seconds,
        max_wait_seconds=spec.max_wait_seconds,
        overflow=spec.overflow,
        max_missed_offers=spec.max_missed_offers,
        missed_offer_backoff_seconds=spec.missed_offer_backoff_seconds,
        service_level_target=spec.service_level_target,
        callback_offer_after_seconds=spec.callback_offer_after_seconds,
        callback_max_attempts=spec.callback_max_attempts,
        callback_retry_seconds=spec.callback_retry_seconds,
        capacity={str(channel): most for channel, most in spec.capacity.items()},
        text_during_voice=spec.text_during_voice,
        conversation_idle_seconds=spec.conversation_idle_seconds,
    )


def _overflow_problems(
    p: ParsedFile, name: str, spec: QueueSpec, queues: dict[str, QueueConfig]
) -> list[Problem]:
    line = p.line("queues", name, "overflow")
    found = []
    if spec.overflow is not None and spec.overflow not in queues:
        found.append(Problem(p.file, line, f"overflow queue {spec.overflow!r} is not defined"))
    if spec.overflow == name:
        found.append(Problem(p.file, line, "a queue cannot overflow into itself"))
    return found
