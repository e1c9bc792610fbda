"""The callback ordering rule, as a property of the routing plan: a callback is never
offered ahead of a live caller who has waited longer at the same priority, and never
falls behind callers who arrived after it. Both follow from one stronger fact tested
here: whether a waiting call is a callback does not change the plan at all."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.agents import Presence, new_agent, set_presence
from callcenter.domain.messages import Channel
from callcenter.domain.routing import Ticket, plan_assignments, why_not
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule
from tests.domain.test_routing_properties import NOW, World, worlds


@st.composite
def worlds_with_callbacks(draw: st.DrawFn) -> tuple[World, World]:
    """A world, and the same world where some of the waiting callers took a callback."""
    world = draw(worlds())
    converted = [
        msgspec.structs.replace(ticket, channel=Channel.CALLBACK) if draw(st.booleans()) else ticket
        for ticket in world.tickets
    ]
    return world, World(rules=world.rules, agents=world.agents, tickets=converted)


@settings(max_examples=150, deadline=None)
@given(worlds_with_callbacks())
def test_taking_a_callback_keeps_the_callers_place(pair: tuple[World, World]) -> None:
    live, mixed = pair
    before = plan_assignments(live.tickets, live.agents, live.rules, NOW)
    after = plan_assignments(mixed.tickets, mixed.agents, mixed.rules, NOW)
    assert [(d.call_id, d.agent_id) for d in after] == [(d.call_id, d.agent_id) for d in before]
    check_fair_order(mixed)


def check_fair_order(world: World) -> None:
    """The rule as the README states it, checked directly on the plan."""
    decisions = plan_assignments(world.tickets, world.agents, world.rules, NOW)
    agent_of = {d.call_id: d.agent_id for d in decisions}
    by_id = {a.id: a for a in world.agents}
    for got in world.tickets:
        if got.call_id not in agent_of:
            continue
        agent = by_id[agent_of[got.call_id]]
        for other in world.tickets:
            if other.channel == got.channel or other.priority != got.priority:
                continue
            waited_longer = (other.queued_at, other.call_id) < (got.queued_at, got.call_id)
            could_take = why_not(other, agent, world.rules, NOW) is None
            if waited_longer and could_take:
                kind = "live caller" if got.channel is Channel.CALLBACK else "callback"
                assert other.call_id in agent_of, (
                    f"{got.call_id} served while the {kind} {other.call_id}, "
                    f"waiting longer, was left for {agent.id}"
                )


def test_a_held_back_callback_waits_for_its_time_then_keeps_its_place() -> None:
    rules = RoutingRules(queues={"general": QueueConfig(name="general")}, rules=(Rule(name="r"),))
    agent = set_presence(new_agent("a1", "A1", {}, NOW), Presence.AVAILABLE, NOW)
    callback = Ticket(
        call_id="cb",
        queue="general",
        rule="r",
        priority=0,
        queued_at=NOW - timedelta(seconds=300),
        channel=Channel.CALLBACK,
        not_before=NOW + timedelta(seconds=60),
    )
    live = Ticket(
        call_id="live", queue="general", rule="r", priority=0, queued_at=NOW - timedelta(seconds=5)
    )
    now_plan = plan_assignments([callback, live], [agent], rules, NOW)
    assert [d.call_id for d in now_plan] == ["live"]
    assert why_not(callback, agent, rules, NOW) == (
        f"callback held back until {callback.not_before.isoformat() if callback.not_before else ''}"
    )
    later = NOW + timedelta(seconds=61)
    assert [d.call_id for d in plan_assignments([callback, live], [agent], rules, later)] == ["cb"]
