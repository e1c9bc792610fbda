"""Load and check a directory of routing rule files (`*.yaml`, `*.yml`).

Files are read in name order; their queues merge and their rules run in that order.
Every problem is reported as `file:line: message`; any problem means no rules."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from callcenter.domain.alerts import AlertActions, AlertKind, AlertRule, Severity
from callcenter.domain.routing_context import rule_context
from callcenter.domain.routing_rules import (
    ConditionError,
    Prefer,
    QueueConfig,
    RoutingRules,
    Rule,
    Step,
    Strategy,
)
from callcenter.errors import RulesInvalid
from callcenter.rules.cel_condition import CelCondition
from callcenter.rules.probe import probe_call
from callcenter.rules.yaml_nodes import YamlSyntaxError, load_with_lines

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}(?!\n)$")]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class QueueSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    skills: list[Name] = msgspec.field(default_factory=list)
    strategy: Strategy = Strategy.LONGEST_IDLE
    service_level_seconds: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    wrap_up_seconds: Seconds = 10.0
    reservation_seconds: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    max_wait_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None
    overflow: Name | None = None
    max_missed_offers: Annotated[int, msgspec.Meta(ge=1)] = 3
    missed_offer_backoff_seconds: Seconds = 5.0


class StepSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    after: Seconds
    require: dict[Name, Annotated[int, msgspec.Meta(ge=1, le=5)]] = msgspec.field(
        default_factory=dict
    )
    also_queues: list[Name] = msgspec.field(default_factory=list)


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    queue: Name | None = None
    when: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0
    prefer: Prefer | None = None
    prefer_seconds: Seconds = 20.0
    steps: list[StepSpec] = msgspec.field(default_factory=list)


class AlertActionsSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alert: bool = True
    raise_priority: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    tag_caller: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class AlertSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One alert rule; exactly one of `mood_below`, `phrases`, `silence_seconds` says
    what it watches."""

    name: Name
    mood_below: Annotated[float, msgspec.Meta(ge=-1, le=1)] | None = None
    utterances: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2
    phrases: (
        Annotated[
            list[Annotated[str, msgspec.Meta(min_length=1, max_length=128)]],
            msgspec.Meta(min_length=1, max_length=200),
        ]
        | None
    ) = None
    silence_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] | None = None
    speaker: Literal["caller", "agent", "mixed", "any"] = "caller"
    severity: Severity = Severity.WARNING
    actions: AlertActionsSpec = msgspec.field(default_factory=AlertActionsSpec)


class RulesFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    skills: list[Name] = msgspec.field(default_factory=list)
    queues: dict[Name, QueueSpec] = msgspec.field(default_factory=dict)
    rules: list[RuleSpec] = msgspec.field(default_factory=list)
    alerts: list[AlertSpec] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _invalid(problems: list[Problem]) -> RulesInvalid:
    return RulesInvalid([str(p) for p in problems])


_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def _path_of(error: msgspec.ValidationError) -> tuple[tuple[str | int, ...], str]:
    message = str(error)
    reason, _, where = message.partition(" - at `$")
    path: list[str | int] = []
    for name, index in _PATH_PART.findall(where.rstrip("`").split("[...]")[0]):
        path.append(name if name else int(index))
    return tuple(path), reason


@dataclass(slots=True)
class _Parsed:
    file: str
    spec: RulesFile
    lines: dict[tuple[str | int, ...], int]

    def line(self, *path: str | int) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


class _Unusable:
    """Stands in for a condition that failed to compile, so the rule is not taken for the
    default; the load fails anyway."""

    def __init__(self, source: str) -> None:
        self.source = source

    def matches(self, context: Mapping[str, Any]) -> bool:
        raise ConditionError("condition did not compile")


def _parse(path: Path, problems: list[Problem]) -> _Parsed | None:
    name = str(path)
    try:
        value, lines = load_with_lines(path.read_text(encoding="utf-8"))
    except YamlSyntaxError as error:
        problems.append(Problem(name, error.line, f"bad YAML: {error.message}"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(name, 1, f"cannot read: {error}"))
        return None
    located = _Parsed(name, RulesFile(), lines)
    # Queues one by one first: msgspec reports a bad value inside a mapping as
    # "$.queues[...]", which would lose the queue's name and so the line.
    queues = value.get("queues") if isinstance(value, dict) else None
    if isinstance(queues, dict):
        for queue_name, queue in queues.items():
            if not _converts(queue, QueueSpec, ("queues", str(queue_name)), located, problems):
                return None
    if not _converts(value if value is not None else {}, RulesFile, (), located, problems):
        return None
    return _Parsed(name, msgspec.convert(value if value is not None else {}, RulesFile), lines)


def _converts(
    value: Any, kind: type, at: tuple[str | int, ...], located: _Parsed, problems: list[Problem]
) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as error:
        where, reason = _path_of(error)
        where = (*at, *where)
        field = _FIELD.search(reason)
        line = located.lines.get((*where, field.group(1)), 0) if field else 0
        problems.append(Problem(located.file, line or located.line(*where), reason))
        return False
    return True


def rule_files(location: Path) -> list[Path]:
    """A file itself, or the `*.yaml`/`*.yml` files of a directory in name order."""
    if location.is_file():
        return [location]
    return sorted(p for p in location.glob("*") if p.suffix in (".yaml", ".yml"))


def load_rules(location: Path) -> RoutingRules:
    """Load a rule file or every rule file of a directory; raise RulesInvalid listing all
    problems (file:line: message)."""
    files = rule_files(location)
    if not files:
        raise _invalid([Problem(str(location), 0, "no *.yaml rule files here")])
    problems: list[Problem] = []
    parsed = [p for p in (_parse(f, problems) for f in files) if p is not None]
    if problems:
        raise _invalid(problems)
    rules = _build(parsed, problems)
    alerts = _alerts(parsed, problems)
    if problems:
        raise _invalid(problems)
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    return RoutingRules(queues=rules[0], rules=rules[1], version=digest, alerts=alerts)


def _alerts(parsed: list[_Parsed], problems: list[Problem]) -> tuple[AlertRule, ...]:
    built: list[AlertRule] = []
    names: set[str] = set()
    for p in parsed:
        for index, spec in enumerate(p.spec.alerts):
            line = p.line("alerts", index)
            watched = {
                AlertKind.MOOD: spec.mood_below is not None,
                AlertKind.KEYWORD: spec.phrases is not None,
                AlertKind.SILENCE: spec.silence_seconds is not None,
            }
            kinds = [kind for kind, given in watched.items() if given]
            if len(kinds) != 1:
                problems.append(
                    Problem(
                        p.file,
                        line,
                        f"alert {spec.name!r} needs exactly one of mood_below, phrases, "
                        f"silence_seconds (has {len(kinds)})",
                    )
                )
                continue
            if spec.name in names:
                problems.append(Problem(p.file, line, f"alert {spec.name!r} defined twice"))
            names.add(spec.name)
            built.append(
                AlertRule(
                    name=spec.name,
                    kind=kinds[0],
                    speaker=None if spec.speaker == "any" else spec.speaker,
                    mood_below=spec.mood_below if spec.mood_below is not None else -0.4,
                    utterances=spec.utterances,
                    phrases=tuple(spec.phrases or ()),
                    silence_seconds=spec.silence_seconds or 0.0,
                    severity=spec.severity,
                    actions=AlertActions(
                        alert=spec.actions.alert,
                        raise_priority=spec.actions.raise_priority,
                        tag_caller=spec.actions.tag_caller,
                    ),
                    line=line,
                )
            )
    return tuple(built)


def _build(
    parsed: list[_Parsed], problems: list[Problem]
) -> tuple[dict[str, QueueConfig], tuple[Rule, ...]]:
    queues: dict[str, QueueConfig] = {}
    catalog: set[str] = set()
    for p in parsed:
        catalog.update(p.spec.skills)
        for name, q in p.spec.queues.items():
            if name in queues:
                problems.append(
                    Problem(p.file, p.line("queues", name), f"queue {name!r} defined twice")
                )
            queues[name] = QueueConfig(
                name=name,
                skills=tuple(q.skills),
                strategy=q.strategy,
                service_level_seconds=q.service_level_seconds,
                wrap_up_seconds=q.wrap_up_seconds,
                reservation_seconds=q.reservation_seconds,
                max_wait_seconds=q.max_wait_seconds,
                overflow=q.overflow,
                max_missed_offers=q.max_missed_offers,
                missed_offer_backoff_seconds=q.missed_offer_backoff_seconds,
            )
            catalog.update(q.skills)
    for p in parsed:
        for name, q in p.spec.queues.items():
            if q.overflow is not None and q.overflow not in queues:
                problems.append(
                    Problem(
                        p.file,
                        p.line("queues", name, "overflow"),
                        f"overflow queue {q.overflow!r} is not defined",
                    )
                )
            if q.overflow == name:
                problems.append(
                    Problem(
                        p.file,
                        p.line("queues", name, "overflow"),
                        "a queue cannot overflow into itself",
                    )
                )
    built: list[tuple[str, Rule]] = []
    for p in parsed:
        for index, spec in enumerate(p.spec.rules):
            built.append((p.file, _rule(p, index, spec, queues, catalog, problems)))
    _check_order(built, problems, parsed[-1].file if parsed else "rules")
    return queues, tuple(rule for _, rule in built)


def _rule(
    p: _Parsed,
    index: int,
    spec: RuleSpec,
    queues: dict[str, QueueConfig],
    catalog: set[str],
    problems: list[Problem],
) -> Rule:
    at = ("rules", index)
    if spec.queue is not None and spec.queue not in queues:
        problems.append(
            Problem(p.file, p.line(*at, "queue"), f"queue {spec.queue!r} is not defined")
        )
    condition: CelCondition | _Unusable | None = None
    if spec.when is not None:
        condition = _Unusable(spec.when)
        try:
            condition = CelCondition(spec.when)
            condition.matches(rule_context(probe_call(), None, probe_call().created_at))
        except ValueError as error:
            problems.append(Problem(p.file, p.line(*at, "when"), f"bad condition: {error}"))
        except ConditionError as error:
            problems.append(Problem(p.file, p.line(*at, "when"), f"condition fails: {error}"))
    steps = []
    for s_index, step in enumerate(spec.steps):
        for skill in step.require:
            if skill not in catalog:
                problems.append(
                    Problem(
                        p.file,
                        p.line(*at, "steps", s_index, "require", skill),
                        f"unknown skill {skill!r} (not in any queue or skills list)",
                    )
                )
        for extra in step.also_queues:
            if extra not in queues:
                problems.append(
                    Problem(
                        p.file,
                        p.line(*at, "steps", s_index, "also_queues"),
                        f"queue {extra!r} is not defined",
                    )
                )
        steps.append(
            Step(after=step.after, require=dict(step.require), also_queues=tuple(step.also_queues))
        )
    afters = [s.after for s in steps]
    if steps and (afters != sorted(afters) or afters[0] != 0):
        problems.append(
            Problem(
                p.file,
                p.line(*at, "steps"),
                "steps must start at after: 0 and be in increasing order",
            )
        )
    return Rule(
        name=spec.name,
        queue=spec.queue,
        when=condition,
        priority=spec.priority,
        prefer=spec.prefer,
        prefer_seconds=spec.prefer_seconds,
        steps=tuple(steps) or (Step(after=0),),
        line=p.line(*at),
    )


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
