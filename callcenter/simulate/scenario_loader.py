"""Scenario files: `load_scenario` reads one (YAML), checks everything up front and
reports every problem as `file:line: message` (lines from `callcenter.rules.yaml_nodes`,
as for routing rules), including problems of its trace and of the routing rules it names
(those found by the server's own `callcenter rules check`)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.rules.yaml_nodes import YamlSyntaxError, load_with_lines
from callcenter.simulate.distributions import Distribution
from callcenter.simulate.rules_summary import (
    DEFAULT_SERVICE_LEVEL_SECONDS,
    RulesSummary,
    read_rules_summary,
)
from callcenter.simulate.scenario import (
    AgentSpec,
    CallerMix,
    Poisson,
    QueueTraffic,
    Scenario,
    ScenarioInvalid,
    Trace,
    mean_handle,
)
from callcenter.simulate.scenario_durations import distribution
from callcenter.simulate.scenario_file import (
    AgentsSpec,
    PoissonSpec,
    QueueSpec,
    ScenarioFile,
)
from callcenter.simulate.scenario_problems import Located
from callcenter.simulate.scenario_text import capacity, convert_channels, text_mix
from callcenter.simulate.server_cli import rules_problems
from callcenter.simulate.trace import TraceCall, load_trace

_AGENT_ID = re.compile(AGENT_ID_PATTERN)


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioInvalid listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioInvalid([f"{path}:1: cannot read: {error}"]) from None
    try:
        value, lines = load_with_lines(text)
    except YamlSyntaxError as error:
        raise ScenarioInvalid([f"{path}:{error.line}: bad YAML: {error.message}"]) from None
    doc = Located(str(path), lines)
    if not isinstance(value, dict):
        raise ScenarioInvalid([f"{path}:1: a scenario is a mapping (seed, arrivals, queues, ...)"])
    # Queues and text channels one by one first: msgspec names a bad value inside a
    # mapping "$.queues[...]", which would lose the queue and so the line.
    queues = value.get("queues")
    if isinstance(queues, dict):
        for name, queue in queues.items():
            doc.convert(queue, QueueSpec, ("queues", str(name)))
    convert_channels(value, doc)
    if doc.problems:
        raise ScenarioInvalid(doc.problems)
    spec = doc.convert(value, ScenarioFile, ())
    if spec is None:
        raise ScenarioInvalid(doc.problems)
    scenario = _build(spec, path, doc)
    if doc.problems or scenario is None:
        raise ScenarioInvalid(doc.problems)
    return scenario


def _roster(spec: AgentsSpec, doc: Located) -> tuple[AgentSpec, ...]:
    agents: list[AgentSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(spec.roster):
        at = ("agents", "roster", index)
        if entry.count > 1 and "{n}" not in entry.id:
            doc.problem((*at, "id"), "an entry with count > 1 needs {n} in its id (e.g. agent-{n})")
            continue
        for n in range(1, entry.count + 1):
            agent_id = entry.id.replace("{n}", str(n))
            if not _AGENT_ID.fullmatch(agent_id):
                doc.problem((*at, "id"), f"agent id {agent_id!r}: 1-64 of A-Z a-z 0-9 _ . @ -")
                break
            if agent_id in seen:
                doc.problem((*at, "id"), f"agent {agent_id!r} is in the roster twice")
                break
            seen.add(agent_id)
            name = (entry.name or agent_id).replace("{n}", str(n))
            own = capacity(spec.capacity, entry.capacity)
            agents.append(AgentSpec(agent_id, name, dict(entry.skills), own))
    return tuple(agents)


def _rules(spec: ScenarioFile, path: Path, doc: Located) -> tuple[Path | None, RulesSummary | None]:
    """Where the rules the scenario names are, and their queues once the server's own
    check accepts them."""
    if spec.rules is None:
        return None, None
    location = (path.parent / spec.rules).resolve()
    if not location.exists():
        doc.problem(("rules",), f"rules {spec.rules!r}: no such file or directory ({location})")
        return location, None
    problems = rules_problems(location)
    if problems:
        doc.problems.extend(problems)
        return location, None
    try:
        return location, read_rules_summary(location)
    except (OSError, UnicodeDecodeError, YamlSyntaxError, msgspec.ValidationError) as error:
        doc.problem(("rules",), f"rules {spec.rules!r}: cannot read: {error}")
        return location, None


def _queues(
    spec: ScenarioFile, doc: Located, rules: RulesSummary | None
) -> dict[str, QueueTraffic]:
    handle = distribution(spec.handle_seconds, doc, "handle_seconds")
    patience = (
        distribution(spec.patience_seconds, doc, "patience_seconds")
        if spec.patience_seconds is not None
        else None
    )
    queues: dict[str, QueueTraffic] = {}
    numbers: dict[str, str] = {}
    for index, (name, queue) in enumerate(spec.queues.items()):
        at = ("queues", name)
        number = queue.number or f"+1555010{index:04d}"
        if number in numbers:
            doc.problem((*at, "number"), f"number {number} is also queue {numbers[number]!r}'s")
        numbers[number] = name
        own_patience: Distribution | None = patience
        if queue.patience_seconds is None:
            own_patience = None
        elif not isinstance(queue.patience_seconds, msgspec.UnsetType):
            own_patience = distribution(queue.patience_seconds, doc, *at, "patience_seconds")
        service_level = DEFAULT_SERVICE_LEVEL_SECONDS
        if rules is not None:
            if name not in rules.queues:
                doc.problem(at, f"queue {name!r} is not in the rules ({spec.rules})")
            service_level = rules.service_level_seconds(name)
        queues[name] = QueueTraffic(
            name=name,
            number=number,
            share=queue.share,
            handle=(
                distribution(queue.handle_seconds, doc, *at, "handle_seconds")
                if queue.handle_seconds is not None
                else handle
            ),
            patience=own_patience,
            service_level_seconds=service_level,
            callback_share=_given(queue.callback_share, spec.callback_share),
            callback_answer_share=_given(queue.callback_answer_share, spec.callback_answer_share),
        )
    return queues


def _given(own: float | None, default: float) -> float:
    return default if own is None else own


def _check_callbacks(
    spec: ScenarioFile, doc: Located, queues: dict[str, QueueTraffic], rules: RulesSummary | None
) -> None:
    """Callers take callbacks only where the hold offers them: through Twilio, in queues
    whose rules set `callback_offer_after_seconds`."""
    taking = [name for name, queue in queues.items() if queue.callback_share > 0]
    if not taking:
        return
    if spec.gateway != "twilio":
        at = ("callback_share",) if spec.callback_share > 0 else ("queues", taking[0])
        doc.problem(
            at,
            "callers take callbacks on the Twilio hold only: the simulated generic gateway "
            "takes none (set gateway: twilio, or callback_share: 0)",
        )
    elif rules is not None:
        _check_offers(spec, doc, taking, rules)


def _check_offers(spec: ScenarioFile, doc: Located, taking: list[str], rules: RulesSummary) -> None:
    offering = {name for name in taking if _offers_callbacks(rules, name)}
    for name in taking:
        if spec.queues[name].callback_share is not None and name not in offering:
            doc.problem(
                ("queues", name, "callback_share"),
                f"queue {name!r} offers no callback on hold (its rules set no "
                "callback_offer_after_seconds): nobody could take one",
            )
    if spec.callback_share > 0 and not offering:
        doc.problem(
            ("callback_share",),
            "no queue offers a callback on hold (no callback_offer_after_seconds in the "
            f"rules {spec.rules}): nobody could take one",
        )


def _offers_callbacks(rules: RulesSummary, name: str) -> bool:
    queue = rules.queue(name)
    return queue is not None and queue.callback_offer_after_seconds is not None


def _arrivals(
    spec: ScenarioFile, path: Path, doc: Located, queues: dict[str, QueueTraffic], agents: int
) -> Poisson | Trace | None:
    arrivals = spec.arrivals
    if (arrivals.poisson is None) == (arrivals.trace is None):
        doc.problem(("arrivals",), "arrivals need exactly one of poisson: {...} or trace: FILE")
        return None
    if arrivals.trace is not None:
        return _trace(path.parent / arrivals.trace, doc, queues)
    assert arrivals.poisson is not None
    return _poisson(arrivals.poisson, doc, queues, agents)


def _trace(location: Path, doc: Located, queues: dict[str, QueueTraffic]) -> Trace:
    calls, problems = load_trace(location)
    doc.problems.extend(problems)
    doc.problems.extend(_calls_to_unknown_queues(location, calls, queues))
    return Trace(location, tuple(calls))


def _calls_to_unknown_queues(
    location: Path, calls: list[TraceCall], queues: dict[str, QueueTraffic]
) -> list[str]:
    return [
        f"{location}:{call.line}: queue {call.queue!r} is not in the scenario's queues"
        for call in calls
        if call.queue not in queues
    ]


def _poisson(
    poisson: PoissonSpec, doc: Located, queues: dict[str, QueueTraffic], agents: int
) -> Poisson | None:
    rates = [
        rate
        for rate in (
            poisson.per_second,
            poisson.per_minute and poisson.per_minute / 60,
            poisson.per_hour and poisson.per_hour / 3600,
        )
        if rate is not None
    ]
    if len(rates) + (poisson.occupancy is not None) != 1:
        doc.problem(
            ("arrivals", "poisson"),
            "poisson needs exactly one of per_second, per_minute, per_hour, occupancy",
        )
        return None
    if poisson.occupancy is not None:
        return Poisson(poisson.occupancy * agents / mean_handle(queues), poisson.occupancy)
    return Poisson(float(rates[0] or 0.0))


def _check_mix(spec: ScenarioFile, doc: Located, queues: dict[str, QueueTraffic]) -> None:
    if not any(q.share > 0 for q in queues.values()):
        doc.problem(("queues",), "every queue has share 0: no call would be placed")
    if not any(spec.callers.tiers.values()):
        doc.problem(("callers", "tiers"), "every tier has weight 0")
    if spec.callers.speaking_share > 0 and not any(spec.callers.moods.values()):
        doc.problem(("callers", "moods"), "every mood has weight 0")


def _check_staffing(
    doc: Located,
    queues: dict[str, QueueTraffic],
    roster: tuple[AgentSpec, ...],
    rules: RulesSummary,
) -> None:
    for name in queues:
        config = rules.queues.get(name)
        if config is None:
            continue
        if not any(
            agent.capacity.get("voice", 0) > 0 and all(s in agent.skills for s in config.skills)
            for agent in roster
        ):
            doc.problem(
                ("queues", name),
                f"no agent in the roster has every skill of queue {name!r} "
                f"({', '.join(config.skills)}): its calls would never be answered",
            )


def _build(spec: ScenarioFile, path: Path, doc: Located) -> Scenario | None:
    rules_dir, rules = _rules(spec, path, doc)
    queues = _queues(spec, doc, rules)
    roster = _roster(spec.agents, doc)
    _check_mix(spec, doc, queues)
    _check_callbacks(spec, doc, queues, rules)
    if rules is not None:
        _check_staffing(doc, queues, roster, rules)
    arrivals = _arrivals(spec, path, doc, queues, len(roster))
    text = text_mix(spec.text, doc, queues=queues, roster=roster, rules=rules, arrivals=arrivals)
    think = distribution(spec.agents.think_seconds, doc, "agents", "think_seconds")
    wrap_up = distribution(spec.agents.wrap_up_seconds, doc, "agents", "wrap_up_seconds")
    if arrivals is None:
        return None
    return Scenario(
        name=spec.name or path.stem,
        description=spec.description.strip(),
        path=path,
        seed=spec.seed,
        duration_seconds=spec.duration_seconds,
        warm_up_seconds=spec.warm_up_seconds,
        gateway=spec.gateway,
        arrivals=arrivals,
        queues=queues,
        callers=CallerMix(
            population=spec.callers.population,
            repeat_share=spec.callers.repeat_share,
            tiers=dict(spec.callers.tiers),
            moods={str(k): v for k, v in spec.callers.moods.items()},
            speaking_share=spec.callers.speaking_share,
        ),
        think=think,
        wrap_up=wrap_up,
        roster=roster,
        rules_dir=rules_dir,
        rules=rules,
        text=text,
    )
