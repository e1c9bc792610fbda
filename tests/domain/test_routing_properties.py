"""Property tests of `plan_assignments` over random agents, tickets and rules: nobody is
booked twice, every pairing is allowed, nobody who could help is left idle, and urgency
is respected across queues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.routing import Decision, Ticket, decide, plan_assignments, urgency, why_not
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule, Step, Strategy

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SKILLS = ("billing", "support", "sales", "spanish")
QUEUE_SKILLS: dict[str, tuple[str, ...]] = {
    "billing": ("billing",),
    "support": ("support",),
    "sales": ("sales",),
    "billing-es": ("billing", "spanish"),
    "general": (),
}
AGENT_IDS = tuple(f"a{i}" for i in range(8))


@dataclass(frozen=True, slots=True)
class World:
    rules: RoutingRules
    agents: list[Agent]
    tickets: list[Ticket]


seconds = st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False)


@st.composite
def steps(draw: st.DrawFn) -> tuple[Step, ...]:
    gaps = draw(st.lists(st.integers(min_value=1, max_value=120), max_size=3))
    afters = [0.0]
    for gap in gaps:
        afters.append(afters[-1] + gap)
    return tuple(
        Step(
            after=after,
            require=draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 4), max_size=1)),
            also_queues=tuple(
                draw(st.lists(st.sampled_from(sorted(QUEUE_SKILLS)), max_size=2, unique=True))
            ),
        )
        for after in afters
    )


@st.composite
def routing_rules(draw: st.DrawFn) -> RoutingRules:
    queues = {
        name: QueueConfig(name=name, skills=skills, strategy=draw(st.sampled_from(Strategy)))
        for name, skills in QUEUE_SKILLS.items()
    }
    rules = tuple(
        Rule(
            name=f"r{i}",
            queue=draw(st.sampled_from(sorted(QUEUE_SKILLS))),
            priority=draw(st.integers(0, 10)),
            prefer_seconds=draw(st.sampled_from([0.0, 20.0, 60.0])),
            steps=draw(steps()),
        )
        for i in range(draw(st.integers(1, 4)))
    )
    return RoutingRules(queues=queues, rules=rules)


@st.composite
def agents(draw: st.DrawFn) -> list[Agent]:
    ids = draw(st.lists(st.sampled_from(AGENT_IDS), max_size=len(AGENT_IDS), unique=True))
    made = []
    for agent_id in ids:
        activity = draw(
            st.sampled_from([Activity.IDLE, Activity.IDLE, Activity.IDLE, Activity.ON_CALL])
        )
        idle_since = NOW - timedelta(seconds=draw(st.integers(0, 5000)))
        blocked = draw(st.sampled_from([None, None, None, -5, 0, 5]))
        offered = draw(st.none() | st.integers(0, 5000))
        made.append(
            Agent(
                id=agent_id,
                name=agent_id,
                skills=draw(
                    st.dictionaries(
                        st.sampled_from(SKILLS), st.integers(1, 5), min_size=1, max_size=4
                    )
                ),
                presence=draw(
                    st.sampled_from([Presence.AVAILABLE, Presence.AVAILABLE, Presence.AWAY])
                ),
                activity=activity,
                activity_since=idle_since,
                presence_since=idle_since,
                idle_since=idle_since,
                call_id=None if activity is Activity.IDLE else "busy",
                calls_today=draw(st.integers(0, 6)),
                talk_seconds_today=float(draw(st.integers(0, 3000))),
                last_offered_at=None if offered is None else NOW - timedelta(seconds=offered),
                blocked_until=None if blocked is None else NOW + timedelta(seconds=blocked),
            )
        )
    return made


@st.composite
def worlds(draw: st.DrawFn) -> World:
    rules = draw(routing_rules())
    rule_names = [r.name for r in rules.rules]
    tickets = []
    for n in range(draw(st.integers(0, 8))):
        rule = draw(st.sampled_from([*rule_names, "gone"]))
        found = rules.rule(rule)
        default_queue = found.queue if found and found.queue else "general"
        tickets.append(
            Ticket(
                call_id=f"c{n}",
                queue=draw(st.sampled_from([default_queue] * 3 + sorted(QUEUE_SKILLS))),
                rule=rule,
                priority=draw(st.integers(0, 3)),
                # whole seconds so that equal ages happen and the id must break the tie
                queued_at=NOW - timedelta(seconds=draw(st.integers(0, 300))),
                prefer_agent=draw(st.sampled_from([None, None, None, *AGENT_IDS[:3]])),
                declined_by=tuple(draw(st.lists(st.sampled_from(AGENT_IDS), max_size=1))),
            )
        )
    return World(rules=rules, agents=draw(agents()), tickets=tickets)


def check_no_double_booking_and_every_pair_allowed(
    world: World, decisions: list[Decision], by_id: dict[str, Agent]
) -> None:
    tickets = {t.call_id: t for t in world.tickets}
    assert len({d.agent_id for d in decisions}) == len(decisions), "an agent booked twice"
    assert len({d.call_id for d in decisions}) == len(decisions), "a call decided twice"
    for decision in decisions:
        ticket = tickets[decision.call_id]
        reason = why_not(ticket, by_id[decision.agent_id], world.rules, NOW)
        assert reason is None, f"{decision.agent_id} got {ticket.call_id} although {reason}"
        assert (decision.queue, decision.priority) == (ticket.queue, ticket.priority)
        assert decision.candidates >= 1
        assert decision.top[0].agent_id == decision.agent_id


def check_nobody_who_could_help_is_left_idle(
    world: World, decisions: list[Decision], by_id: dict[str, Agent]
) -> None:
    decided = {d.call_id for d in decisions}
    used = {d.agent_id for d in decisions}
    idle_left = [a for a in by_id.values() if a.id not in used]
    for ticket in world.tickets:
        if ticket.call_id in decided:
            continue
        for agent in idle_left:
            assert why_not(ticket, agent, world.rules, NOW) is not None, (
                f"{ticket.call_id} left waiting while {agent.id} was free and eligible"
            )


def check_urgent_calls_served_first(
    world: World, decisions: list[Decision], by_id: dict[str, Agent]
) -> None:
    """For a decided call B and any more urgent call A: B's agent was free at A's turn, so
    A either got someone no worse for A, or could not use B's agent at all."""
    agent_of = {d.call_id: d.agent_id for d in decisions}
    order = sorted(world.tickets, key=urgency)
    assert [d.call_id for d in decisions] == [t.call_id for t in order if t.call_id in agent_of]
    for b_index, b in enumerate(order):
        if b.call_id not in agent_of:
            continue
        b_agent = by_id[agent_of[b.call_id]]
        for a in order[:b_index]:
            eligible = why_not(a, b_agent, world.rules, NOW) is None
            if a.call_id not in agent_of:
                assert not eligible, f"{a.call_id} passed over for {b.call_id}"
            elif eligible:
                a_agent = by_id[agent_of[a.call_id]]
                best = decide(a, [b_agent, a_agent], world.rules, NOW)
                assert best is not None
                assert best.agent_id == a_agent.id, f"{a.call_id} got a worse agent"


# One test drawing each world once: generating worlds costs more than checking them.
@settings(max_examples=150, deadline=None)
@given(worlds())
def test_plan_assignments_properties(world: World) -> None:
    decisions = plan_assignments(world.tickets, world.agents, world.rules, NOW)
    by_id = {a.id: a for a in world.agents}
    check_no_double_booking_and_every_pair_allowed(world, decisions, by_id)
    check_nobody_who_could_help_is_left_idle(world, decisions, by_id)
    check_urgent_calls_served_first(world, decisions, by_id)
