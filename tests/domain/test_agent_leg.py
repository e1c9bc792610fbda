"""`call.agent_failed`: the leg to the accepting agent was not answered, so the caller goes
back to their old place and the agent's offer counts as missed (backing off, then away)."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.call_lifecycle import CallChange, Disposition, apply_call_event
from callcenter.domain.calls import Call, CallState
from callcenter.domain.events import CallEvent
from callcenter.domain.routing_rules import QueueConfig
from tests.domain.test_call_lifecycle import NOW, at, make_agent, make_call, make_event

QUEUE = QueueConfig(name="billing", max_missed_offers=2, missed_offer_backoff_seconds=10)


def failed(agent_id: str = "a1", seconds: int = 60) -> CallEvent:
    return make_event(
        "call.agent_failed", agent_id=agent_id, end_reason="busy", occurred_at=at(seconds)
    )


def apply(call: Call, agents: dict[str, Agent], event: CallEvent) -> CallChange:
    return apply_call_event(
        call, agents, event, NOW, default_queue="general", queues=lambda name: QUEUE
    )


def test_the_caller_keeps_their_place_and_the_agent_backs_off() -> None:
    call = make_call(CallState.CONNECTED, agent_id="a1")
    change = apply(call, {"a1": make_agent("a1", Activity.ON_CALL, "c1")}, failed())
    assert change.disposition is Disposition.APPLIED
    requeued = change.call
    assert requeued.state is CallState.QUEUED
    assert requeued.queued_at == call.queued_at  # the old place, not the back of the line
    assert requeued.agent_id is None and requeued.answered_at is None
    assert requeued.last_event_at == at(60)
    (agent,) = change.agents
    assert agent.activity is Activity.IDLE and agent.call_id is None
    assert agent.missed_offers == 1
    assert agent.blocked_until == NOW + timedelta(seconds=10)
    assert agent.presence is Presence.AVAILABLE


def test_missing_as_many_as_the_queue_allows_sets_the_agent_away() -> None:
    call = make_call(CallState.CONNECTED, agent_id="a1")
    agent = msgspec.structs.replace(make_agent("a1", Activity.ON_CALL, "c1"), missed_offers=1)
    (after,) = apply(call, {"a1": agent}, failed()).agents
    assert after.missed_offers == 2 and after.presence is Presence.AWAY


def test_a_report_for_another_agent_or_a_late_one_moves_nothing() -> None:
    call = make_call(CallState.CONNECTED, agent_id="a1")
    agents = {"a1": make_agent("a1", Activity.ON_CALL, "c1"), "a2": make_agent("a2")}
    for event in (failed("a2"), failed("a1", seconds=10)):  # last event was at 30 s
        change = apply(call, agents, event)
        assert change.disposition is Disposition.STALE
        assert change.call == call and change.agents == ()


def test_an_agent_already_elsewhere_is_left_alone() -> None:
    call = make_call(CallState.CONNECTED, agent_id="a1")
    elsewhere = make_agent("a1", Activity.ON_CALL, "other")
    change = apply(call, {"a1": elsewhere}, failed())
    assert change.call.state is CallState.QUEUED and change.agents == ()
