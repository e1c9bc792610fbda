"""The waiting lines give the same decisions as the reference: over random worlds (agents,
skills, steps widening into other queues, priorities, channel offsets, preferred agents,
declines, held-back callbacks, all six strategies), reading the heads of the lines with
`plan_from_heads` (heads as short as one task, lengthened when asked) decides exactly as
`plan_assignments` over every waiting task."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import Channel
from callcenter.domain.routing import Decision, Ticket, plan_assignments, urgency
from callcenter.domain.routing_index import (
    Head,
    Line,
    LineKind,
    LineSet,
    call_in,
    lines_of,
    lines_to_read,
    place_in_line,
    plan_from_heads,
)
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule, Step
from tests.domain import test_capacity_properties as capacity_worlds
from tests.domain import test_routing_properties as routing_worlds

NOW = routing_worlds.NOW


def in_lines(tickets: list[Ticket]) -> dict[Line, list[Ticket]]:
    lines: dict[Line, list[Ticket]] = {}
    for ticket in tickets:
        for line in lines_of(ticket):
            lines.setdefault(line, []).append(ticket)
    for members in lines.values():
        members.sort(key=place_in_line)
    return lines


def indexed_plan(
    tickets: list[Ticket],
    agents: list[Agent],
    rules: RoutingRules,
    first_page: int,
    *,
    nearest: int = 0,
) -> tuple[list[Decision], int]:
    """What a dispatch pass decides from the lines; and how many tasks it read. The
    first `nearest` tries name only the lines that set their cut."""
    lines = in_lines(tickets)

    def head(line: Line, length: int) -> Head:
        return Head(tuple(lines[line][:length]), len(lines[line]) <= length)

    length = first_page
    heads = {line: head(line, length) for line in lines_to_read(lines, agents, rules)}
    free: Sequence[Agent] | None = None
    tries = 0
    while True:
        plan = plan_from_heads(heads, agents, rules, NOW, free=free, nearest=tries < nearest)
        tries += 1
        if plan.decisions is not None:
            return plan.decisions, sum(len(h.tickets) for h in heads.values())
        assert plan.read_on, "asked to read on, but named no line"
        length *= 2
        heads.update((line, head(line, length)) for line in plan.read_on)
        free = plan.free


@st.composite
def varied(draw: st.DrawFn, world: routing_worlds.World) -> list[Ticket]:
    """The world's tasks on random channels, some of them callbacks held back."""
    return [
        msgspec.structs.replace(
            ticket,
            channel=draw(st.sampled_from(list(Channel))),
            not_before=draw(st.sampled_from([None, None, NOW + timedelta(seconds=30)])),
        )
        for ticket in world.tickets
    ]


@settings(max_examples=300, deadline=None)
@given(routing_worlds.worlds(), st.integers(1, 3), st.data(), st.integers(0, 3))
def test_lines_decide_as_the_reference(
    world: routing_worlds.World, first_page: int, data: st.DataObject, nearest: int
) -> None:
    tickets = data.draw(varied(world)) if data.draw(st.booleans()) else world.tickets
    expected = plan_assignments(tickets, world.agents, world.rules, NOW)
    decided, _ = indexed_plan(tickets, world.agents, world.rules, first_page, nearest=nearest)
    assert decided == expected


@st.composite
def crowded(draw: st.DrawFn) -> routing_worlds.World:
    """Few agents and long lines: heads are short against them, so cuts matter."""
    world = draw(routing_worlds.worlds())
    rule_names = [r.name for r in world.rules.rules]
    tickets = [
        Ticket(
            call_id=f"c{n:02d}",
            queue=draw(st.sampled_from(sorted(routing_worlds.QUEUE_SKILLS))),
            rule=draw(st.sampled_from(rule_names)),
            priority=draw(st.integers(0, 3)),
            queued_at=NOW - timedelta(seconds=draw(st.integers(0, 300))),
            declined_by=tuple(
                draw(st.lists(st.sampled_from(routing_worlds.AGENT_IDS[:3]), max_size=2))
            ),
        )
        for n in range(draw(st.integers(5, 24)))
    ]
    return routing_worlds.World(rules=world.rules, agents=world.agents[:3], tickets=tickets)


@settings(max_examples=400, deadline=None)
@given(crowded(), st.integers(1, 2), st.integers(0, 3))
def test_long_lines_decide_as_the_reference(
    world: routing_worlds.World, first_page: int, nearest: int
) -> None:
    expected = plan_assignments(world.tickets, world.agents, world.rules, NOW)
    decided, _ = indexed_plan(world.tickets, world.agents, world.rules, first_page, nearest=nearest)
    assert decided == expected


@settings(max_examples=200, deadline=None)
@given(capacity_worlds.worlds(), st.integers(1, 3), st.integers(0, 3))
def test_lines_decide_as_the_reference_across_channels(
    world: capacity_worlds.World, first_page: int, nearest: int
) -> None:
    expected = plan_assignments(world.tickets, world.agents, world.rules, NOW)
    decided, _ = indexed_plan(world.tickets, world.agents, world.rules, first_page, nearest=nearest)
    assert decided == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**6), 10**6),
            st.integers(0, 10**9),
            st.text("abcXYZ019-", min_size=1, max_size=6),
        ),
        min_size=2,
        max_size=12,
        unique_by=lambda t: t[2],
    )
)
def test_a_line_is_in_routing_order(drawn: list[tuple[int, int, str]]) -> None:
    tickets = [
        Ticket(
            call_id=call_id,
            queue="q",
            rule="r",
            priority=priority,
            queued_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros),
        )
        for priority, micros, call_id in drawn
    ]
    by_member = sorted(tickets, key=lambda t: place_in_line(t).encode())
    assert by_member == sorted(tickets, key=urgency)
    assert [call_in(place_in_line(t)) for t in tickets] == [t.call_id for t in tickets]


def idle_agent(skills: dict[str, int]) -> Agent:
    return Agent(
        id="a1",
        name="a1",
        skills=skills,
        presence=Presence.AVAILABLE,
        activity=Activity.IDLE,
        activity_since=NOW,
        presence_since=NOW,
        idle_since=NOW,
    )


def test_a_long_line_is_read_only_as_far_as_needed() -> None:
    """One free agent, 200 waiting in its queue: a head of 4 settles it."""
    world_rules = RoutingRules(
        queues={"billing": QueueConfig(name="billing", skills=("billing",))},
        rules=(Rule(name="default", queue="billing"),),
    )
    agent = idle_agent({"billing": 3})
    tickets = [
        Ticket(
            call_id=f"c{n:03d}",
            queue="billing",
            rule="default",
            priority=n % 3,
            queued_at=NOW - timedelta(seconds=n),
        )
        for n in range(200)
    ]
    decided, read = indexed_plan(tickets, [agent], world_rules, 4)
    assert decided == plan_assignments(tickets, [agent], world_rules, NOW)
    assert [d.call_id for d in decided] == ["c197"]
    assert read <= 2 * 4  # the queue's line and the rule's line, no more than their heads


# a high-priority queue whose first step asks for a skill level, and two plain queues
VIP_RULES = RoutingRules(
    queues={name: QueueConfig(name=name, skills=(name,)) for name in ("vip", "billing", "sales")},
    rules=(
        Rule(
            name="vip",
            queue="vip",
            priority=5,
            steps=(Step(after=0, require={"vip": 3}), Step(after=30)),
        ),
        Rule(name="billing", queue="billing"),
        Rule(name="sales", queue="sales"),
    ),
)


def test_reading_on_names_only_the_lines_that_set_the_cut() -> None:
    """An agent that may take none of the first tasks of a high-priority queue (its skill
    is below the first step's level) and the first tasks of its other queues: only the
    high-priority queue's lines are read on, and reading them settles the pass."""
    agent = idle_agent({"vip": 1, "billing": 3, "sales": 3})
    tickets = [
        Ticket(
            call_id=f"{queue}{n:02d}",
            queue=queue,
            rule=queue,
            priority=5 if queue == "vip" else 0,
            queued_at=NOW - timedelta(seconds=n + (0 if queue == "vip" else 5)),
        )
        for queue in ("vip", "billing", "sales")
        for n in range(20)
    ]
    lines = in_lines(tickets)
    heads = {
        line: Head(tuple(lines[line][:4]), False)
        for line in lines_to_read(lines, [agent], VIP_RULES)
    }
    everything = plan_from_heads(heads, [agent], VIP_RULES, NOW)
    nearest = plan_from_heads(heads, [agent], VIP_RULES, NOW, nearest=True)
    vip_lines = {line for line in heads if line.name == "vip"}
    assert len(heads) == 3  # the agent's queues' lines
    assert everything.decisions is None and set(everything.read_on) == set(heads)
    assert nearest.decisions is None and set(nearest.read_on) == vip_lines
    heads.update((line, Head(tuple(lines[line]), True)) for line in vip_lines)
    settled = plan_from_heads(heads, [agent], VIP_RULES, NOW, free=nearest.free)
    assert settled.decisions == plan_assignments(tickets, [agent], VIP_RULES, NOW)
    assert [d.call_id for d in settled.decisions] == ["billing19"]


def test_line_ids_read_back() -> None:
    line = Line(LineKind.QUEUE, Channel.CHAT, "a:queue:with:colons")
    assert Line.parse(line.id) == line
    assert Line.parse("x:voice:q") is None
    assert Line.parse("q:fax:q") is None


@settings(max_examples=200, deadline=None)
@given(routing_worlds.worlds())
def test_an_agents_lines_kept_by_the_line_set_are_those_worked_out_afresh(
    world: routing_worlds.World,
) -> None:
    """A line set keeps each agent's lines by its skills' names; asked again (or for an
    agent with the same skill names), it answers as `lines_to_read` over a plain list of
    the same lines, and the union of the agents' answers is the answer for all of them."""
    lines = list(in_lines(world.tickets))
    found = LineSet(lines)
    for _ in range(2):
        for agent in world.agents:
            assert found.of_agent(agent, world.rules) == lines_to_read(lines, [agent], world.rules)
    everyone = {line for agent in world.agents for line in found.of_agent(agent, world.rules)}
    assert set(lines_to_read(found, world.agents, world.rules)) == everyone


def test_an_agents_lines_follow_new_rules() -> None:
    agent = agent_rules.new_agent("a1", "Agent 1", {"billing": 3}, NOW)
    lines = [Line(LineKind.QUEUE, Channel.VOICE, "billing")]
    found = LineSet(lines)
    open_queue = RoutingRules(
        queues={"billing": QueueConfig(name="billing", skills=("billing",))}, rules=()
    )
    assert found.of_agent(agent, open_queue) == lines
    closed = RoutingRules(
        queues={"billing": QueueConfig(name="billing", skills=("french",))}, rules=()
    )
    assert found.of_agent(agent, closed) == []


def _could_serve(line: Line, agents: Sequence[Agent], rules: RoutingRules) -> bool:
    """The definition, naively: a queue's line when one of `agents` has every skill the
    queue names (an unknown queue names none); a rule's line when one of its steps widens
    into such a queue."""

    def served(queue: str) -> bool:
        config = rules.queue(queue)
        return any(all(skill in a.skills for skill in config.skills) for a in agents)

    if line.kind is LineKind.QUEUE:
        return served(line.name)
    rule = rules.rule(line.name)
    return rule is not None and any(served(q) for step in rule.steps for q in step.also_queues)


@settings(max_examples=200, deadline=None)
@given(routing_worlds.worlds(), st.data())
def test_the_lines_to_read_are_those_the_agents_could_serve(
    world: routing_worlds.World, data: st.DataObject
) -> None:
    """`lines_to_read` over a plain list and over a line set, for one agent and for
    several, against the definition; and asked twice (the reaches are kept by skills)."""
    lines = list(in_lines(world.tickets))
    lines.append(Line(LineKind.QUEUE, Channel.VOICE, "unconfigured"))
    picked = data.draw(st.lists(st.sampled_from(world.agents), max_size=4)) if world.agents else []
    expected = sorted(line for line in lines if _could_serve(line, picked, world.rules))
    for _ in range(2):
        assert lines_to_read(lines, picked, world.rules) == expected
        assert lines_to_read(LineSet(lines), picked, world.rules) == expected


def test_a_rule_widening_into_an_unconfigured_queue_is_read_by_anyone() -> None:
    billing = QueueConfig(name="billing", skills=("billing",))
    rules = RoutingRules(
        queues={"billing": billing, "sales": QueueConfig(name="sales", skills=("sales",))},
        rules=(
            Rule(
                name="to_billing", steps=(Step(after=0), Step(after=30, also_queues=("billing",)))
            ),
            Rule(name="anywhere", steps=(Step(after=0), Step(after=30, also_queues=("spare",)))),
            Rule(name="plain"),
        ),
    )
    lines = [
        Line(LineKind.RULE, Channel.VOICE, name) for name in ("to_billing", "anywhere", "plain")
    ]
    seller = agent_rules.new_agent("a1", "Agent 1", {"sales": 3}, NOW)
    biller = agent_rules.new_agent("a2", "Agent 2", {"billing": 3}, NOW)
    assert lines_to_read(lines, [seller], rules) == [lines[1]]
    assert lines_to_read(lines, [biller], rules) == sorted(lines[:2])
    assert lines_to_read(LineSet(lines), [seller, biller], rules) == sorted(lines[:2])
