"""Property tests of routing across channels: over random agents (capacities, tasks held,
on voice or not) and random waiting tasks of every channel, one pass never gives an agent
more than its capacity on any channel (its own limit and the queue's cap), never offers
text to an agent on voice unless the queue allows it, never a second voice call, and
leaves nothing waiting that an agent with room could take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain import capacity
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import TEXT_CHANNELS, Channel
from callcenter.domain.routing import Decision, Ticket, plan_assignments, why_not
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
QUEUES = ("web", "mail", "phones")


@dataclass(frozen=True, slots=True)
class World:
    rules: RoutingRules
    agents: list[Agent]
    tickets: list[Ticket]


limits = st.integers(min_value=0, max_value=3)


@st.composite
def rules(draw: st.DrawFn) -> RoutingRules:
    queues = {
        name: QueueConfig(
            name=name,
            capacity=draw(
                st.dictionaries(st.sampled_from(["chat", "sms", "email", "voice"]), limits)
            ),
            text_during_voice=draw(st.booleans()),
        )
        for name in QUEUES
    }
    offsets = draw(st.dictionaries(st.sampled_from([str(c) for c in Channel]), st.integers(-3, 3)))
    return RoutingRules(queues=queues, rules=(Rule(name="default"),), channel_priority=offsets)


@st.composite
def agents(draw: st.DrawFn) -> list[Agent]:
    made = []
    for n in range(draw(st.integers(0, 5))):
        activity = draw(st.sampled_from([Activity.IDLE, Activity.IDLE, Activity.ON_CALL]))
        channels = draw(st.lists(st.sampled_from(sorted(TEXT_CHANNELS)), max_size=4))
        held = {f"h{n}-{i}": str(c) for i, c in enumerate(channels)}
        since = NOW - timedelta(seconds=draw(st.integers(0, 900)))
        made.append(
            Agent(
                id=f"a{n}",
                name=f"a{n}",
                skills={},
                presence=draw(
                    st.sampled_from([Presence.AVAILABLE, Presence.AVAILABLE, Presence.AWAY])
                ),
                activity=activity,
                activity_since=since,
                presence_since=since,
                idle_since=since,
                call_id=None if activity is Activity.IDLE else "busy",
                capacity=draw(
                    st.dictionaries(st.sampled_from(["voice", "chat", "sms", "email"]), limits)
                ),
                tasks=held,
            )
        )
    return made


@st.composite
def worlds(draw: st.DrawFn) -> World:
    tickets = [
        Ticket(
            call_id=f"t{n}",
            queue=draw(st.sampled_from(QUEUES)),
            rule="default",
            priority=draw(st.integers(0, 2)),
            queued_at=NOW - timedelta(seconds=draw(st.integers(0, 300))),
            channel=draw(st.sampled_from(list(Channel))),
        )
        for n in range(draw(st.integers(0, 10)))
    ]
    return World(rules=draw(rules()), agents=draw(agents()), tickets=tickets)


def took(agent: Agent, ticket: Ticket) -> Agent:
    """The agent after being offered `ticket` (what the claim stores)."""
    if ticket.channel in TEXT_CHANNELS:
        return msgspec.structs.replace(
            agent, tasks={**agent.tasks, ticket.call_id: str(ticket.channel)}
        )
    return msgspec.structs.replace(agent, activity=Activity.RESERVED, call_id=ticket.call_id)


def replay(world: World, decisions: list[Decision]) -> dict[str, Agent]:
    """Apply the decisions in order, checking each offer was allowed at its turn."""
    tickets = {t.call_id: t for t in world.tickets}
    state = {a.id: a for a in world.agents}
    for decision in decisions:
        ticket, agent = tickets[decision.call_id], state[decision.agent_id]
        reason = why_not(ticket, agent, world.rules, NOW)
        assert reason is None, f"{agent.id} offered {ticket.call_id} although {reason}"
        queue = world.rules.queue(ticket.queue)
        if ticket.channel in TEXT_CHANNELS:
            assert agent.activity is Activity.IDLE or queue.text_during_voice, "text during voice"
            most = capacity.limit(agent, ticket.channel, queue.capacity)
            assert capacity.held(agent, ticket.channel) < most, "over capacity"
        else:
            assert agent.activity is Activity.IDLE, "a second voice call"
        state[agent.id] = took(agent, ticket)
    return state


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_capacity_and_cross_channel_rules_hold_in_every_pass(world: World) -> None:
    decisions = plan_assignments(world.tickets, world.agents, world.rules, NOW)
    assert len({d.call_id for d in decisions}) == len(decisions), "a task offered twice"
    after = replay(world, decisions)
    decided = {d.call_id for d in decisions}
    for ticket in world.tickets:
        if ticket.call_id in decided:
            continue
        for agent in after.values():
            assert why_not(ticket, agent, world.rules, NOW) is not None, (
                f"{ticket.call_id} left waiting while {agent.id} had room for it"
            )


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_channel_offsets_order_the_pass(world: World) -> None:
    """Decisions come in urgency order with each channel's offset added to priority."""
    decisions = plan_assignments(world.tickets, world.agents, world.rules, NOW)
    offsets = world.rules.channel_priority
    tickets = {t.call_id: t for t in world.tickets}
    keys = [
        (
            -(tickets[d.call_id].priority + offsets.get(tickets[d.call_id].channel, 0)),
            tickets[d.call_id].queued_at,
            d.call_id,
        )
        for d in decisions
    ]
    assert keys == sorted(keys)
