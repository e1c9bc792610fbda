"""Text tasks as pure transitions: messages move the conversation's counters and times,
only the task's agent replies once it accepted, resolve ends it handled or abandoned and
frees the agent's capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.agents import Presence, new_agent, set_presence
from callcenter.domain.calls import CallState, Outcome
from callcenter.domain.messages import Author, Channel
from callcenter.domain.reservations import accept, offer
from callcenter.domain.routing_rules import QueueConfig
from callcenter.domain.tasks import (
    first_response_seconds,
    from_agent,
    from_customer,
    message,
    new_task,
    quiet_for,
    resolve,
)
from callcenter.errors import Conflict, InvalidInput

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_a_voice_channel_is_not_a_task() -> None:
    with pytest.raises(InvalidInput) as raised:
        new_task("t1", channel=Channel.VOICE, customer="x", caller_key="x", queue="q", now=NOW)
    assert raised.value.pointer == "/channel"


@pytest.mark.parametrize(("body", "ok"), [("hi", True), ("   ", False), ("x" * 4001, False)])
def test_message_bodies_are_checked(body: str, ok: bool) -> None:
    task = new_task("t1", channel=Channel.SMS, customer="+1", caller_key="+1", queue="q", now=NOW)
    if ok:
        assert message("m1", task, author=Author.CUSTOMER, body=body, at=NOW).body == body
    else:
        with pytest.raises(InvalidInput):
            message("m1", task, author=Author.CUSTOMER, body=body, at=NOW)


def test_a_chat_from_first_message_to_resolve() -> None:
    task = new_task("t1", channel=Channel.CHAT, customer="v", caller_key="v", queue="web", now=NOW)
    hello = message("m1", task, author=Author.CUSTOMER, body="hello", at=at(1))
    task = from_customer(task, hello)
    agent = set_presence(new_agent("ann", "Ann", {}, NOW), Presence.AVAILABLE, NOW)
    task, agent = offer(task, agent, "r1", at(2), QueueConfig(name="web"))
    assert agent.tasks == {"t1": "chat"} and agent.activity == "idle"
    early = message("m2", task, author=Author.AGENT, body="hi", at=at(3), agent_id="ann")
    with pytest.raises(Conflict):
        from_agent(task, early)  # offered, not accepted
    task, agent = accept(task, agent, "r1", at(3))
    reply = message("m2", task, author=Author.AGENT, body="hi", at=at(11), agent_id="ann")
    task = from_agent(task, reply)
    assert first_response_seconds(task) == 10.0
    assert quiet_for(task, at(41)) == 30.0
    other = message("m3", task, author=Author.AGENT, body="me too", at=at(12), agent_id="bob")
    with pytest.raises(Conflict):
        from_agent(task, other)
    ended, freed = resolve(task, agent, at(60))
    assert (ended.state, ended.outcome, ended.resolved_at) == (
        CallState.ENDED,
        Outcome.HANDLED,
        at(60),
    )
    assert freed is not None and freed.tasks == {}
    assert resolve(ended, freed, at(61)) == (ended, freed)  # resolving again changes nothing
    late = message("m4", ended, author=Author.CUSTOMER, body="thanks", at=at(62))
    with pytest.raises(Conflict):
        from_customer(ended, late)


def test_a_task_closed_before_anyone_took_it_is_abandoned() -> None:
    task = new_task(
        "t1", channel=Channel.EMAIL, customer="p@x", caller_key="p@x", queue="q", now=NOW
    )
    ended, agent = resolve(task, None, at(5), reason="customer_left")
    assert (ended.outcome, ended.end_reason, ended.agent_id, agent) == (
        Outcome.ABANDONED,
        "customer_left",
        None,
        None,
    )
