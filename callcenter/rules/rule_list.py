"""The `rules:` sections of the rule files, built into Rules and checked: queues and skills
defined, conditions that compile and evaluate, steps in order, names unique, exactly one
default rule and it comes last, no rule unreachable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.domain.routing_context import rule_context
from callcenter.domain.routing_rules import ConditionError, Rule, Step
from callcenter.rules.cel_condition import CelCondition
from callcenter.rules.parsed_file import ParsedFile, Problem
from callcenter.rules.probe import probe_call
from callcenter.rules.queue_configs import QueueCatalog
from callcenter.rules.schema import RuleSpec, StepSpec


class _Unusable:
    """Stands in for a condition that failed to compile, so the rule is not taken for the
    default; the load fails anyway."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.only_queue: str | None = None

    def matches(self, context: Mapping[str, Any]) -> bool:
        raise ConditionError("condition did not compile")


@dataclass(frozen=True, slots=True)
class _RuleLocation:
    """Where a rule is (its file and key path) and where its problems go."""

    parsed: ParsedFile
    path: tuple[str | int, ...]
    problems: list[Problem]

    def line(self, *below: str | int) -> int:
        return self.parsed.line(*self.path, *below)

    def report(self, message: str, *below: str | int) -> None:
        self.problems.append(Problem(self.parsed.file, self.line(*below), message))


def build_rules(
    parsed: list[ParsedFile], catalog: QueueCatalog, problems: list[Problem]
) -> tuple[Rule, ...]:
    """Every file's rules in file order, each checked against `catalog`, then the order of
    the whole list; appends every problem found."""
    built: list[tuple[str, Rule]] = []
    for p in parsed:
        for index, spec in enumerate(p.spec.rules):
            at = _RuleLocation(p, ("rules", index), problems)
            built.append((p.file, _rule(at, spec, catalog)))
    _check_order(built, problems, parsed[-1].file if parsed else "rules")
    return tuple(rule for _, rule in built)


def _rule(at: _RuleLocation, spec: RuleSpec, catalog: QueueCatalog) -> Rule:
    if spec.queue is not None and spec.queue not in catalog.queues:
        at.report(f"queue {spec.queue!r} is not defined", "queue")
    condition = _condition(at, spec.when)
    steps = tuple(_step(at, index, step, catalog) for index, step in enumerate(spec.steps))
    afters = [s.after for s in steps]
    if steps and (afters != sorted(afters) or afters[0] != 0):
        at.report("steps must start at after: 0 and be in increasing order", "steps")
    return Rule(
        name=spec.name,
        queue=spec.queue,
        when=condition,
        priority=spec.priority,
        prefer=spec.prefer,
        prefer_seconds=spec.prefer_seconds,
        steps=steps or (Step(after=0),),
        line=at.line(),
    )


def _condition(at: _RuleLocation, when: str | None) -> CelCondition | _Unusable | None:
    """The compiled `when`, tried on a sample call (a problem if it fails there); an
    _Unusable stand-in if it does not compile."""
    if when is None:
        return None
    condition: CelCondition | _Unusable = _Unusable(when)
    try:
        condition = CelCondition(when)
        condition.matches(rule_context(probe_call(), None, probe_call().created_at))
    except ValueError as error:
        at.report(f"bad condition: {error}", "when")
    except ConditionError as error:
        at.report(f"condition fails: {error}", "when")
    return condition


def _step(at: _RuleLocation, index: int, step: StepSpec, catalog: QueueCatalog) -> Step:
    for skill in step.require:
        if skill not in catalog.skills:
            at.report(
                f"unknown skill {skill!r} (not in any queue or skills list)",
                "steps",
                index,
                "require",
                skill,
            )
    for extra in step.also_queues:
        if extra not in catalog.queues:
            at.report(f"queue {extra!r} is not defined", "steps", index, "also_queues")
    return Step(after=step.after, require=dict(step.require), also_queues=tuple(step.also_queues))


def _check_order(rules: list[tuple[str, Rule]], problems: list[Problem], last_file: str) -> None:
    """Names are unique, exactly one default rule comes last, no rule is unreachable."""
    names: set[str] = set()
    conditions: dict[str, str] = {}
    default: Rule | None = None
    for file, rule in rules:
        if rule.name in names:
            problems.append(Problem(file, rule.line, f"rule {rule.name!r} defined twice"))
        names.add(rule.name)
        source = rule.when.source.strip() if rule.when else None
        if default is not None:
            problems.append(
                Problem(
                    file,
                    rule.line,
                    f"rule {rule.name!r} is unreachable: "
                    f"the default rule {default.name!r} above matches every call",
                )
            )
        elif source is None:
            default = rule
        elif source in conditions:
            problems.append(
                Problem(
                    file,
                    rule.line,
                    f"rule {rule.name!r} is unreachable: rule "
                    f"{conditions[source]!r} above has the same condition",
                )
            )
        else:
            conditions[source] = rule.name
    if default is None:
        last = rules[-1][0] if rules else last_file
        problems.append(
            Problem(
                last,
                rules[-1][1].line if rules else 1,
                "no default rule: the last rule must have no `when`",
            )
        )
