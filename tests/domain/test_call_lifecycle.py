"""Table-driven tests of how canonical events move a call and the agents it touches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.call_lifecycle import (
    CallChange,
    Disposition,
    apply_call_event,
    complete_wrap_up,
)
from callcenter.domain.calls import Call, CallState, Direction, Outcome, Survey
from callcenter.domain.events import AnyCallEvent, CallEvent
from callcenter.errors import AgentBusy, Conflict, IllegalTransition, NotFound

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
DEFAULT_QUEUE = "general"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_event(kind: str, call_id: str = "c1", **fields: Any) -> CallEvent:
    """A canonical event decoded the way the API does it (wire names, e.g. "from")."""
    event: CallEvent = msgspec.convert(
        {"type": kind, "event_id": f"{kind}-{call_id}", "call_id": call_id, **fields},
        type=AnyCallEvent,
    )
    return event


def make_agent(
    agent_id: str = "a1", activity: Activity = Activity.IDLE, call_id: str | None = None
) -> Agent:
    agent = agent_rules.set_presence(
        agent_rules.new_agent(agent_id, agent_id.upper(), {"billing": 3}, T0),
        Presence.AVAILABLE,
        T0,
    )
    return msgspec.structs.replace(agent, activity=activity, call_id=call_id)


def make_call(state: CallState, agent_id: str | None = None, **fields: Any) -> Call:
    values: dict[str, Any] = {
        "id": "c1",
        "gateway_call_id": "c1",
        "state": state,
        "queue": "billing",
        "created_at": at(0),
        "updated_at": at(0),
        "last_event_at": at(30),
        "from_": "+15551230000",
        "to": "+15559870000",
        "caller_key": "+15551230000",
        "agent_id": agent_id,
        "queued_at": at(0),
    }
    if state in (CallState.CONNECTED, CallState.WRAP_UP, CallState.ENDED):
        values["answered_at"] = at(20)
    if state in (CallState.WRAP_UP, CallState.ENDED):
        values.update(ended_at=at(30), outcome=Outcome.HANDLED, end_reason="normal")
    values.update(fields)
    return Call(**values)


# The call c1 in each state, with agent a1 in the matching activity.
_AGENT_FOR_STATE: dict[CallState | None, tuple[str | None, Activity, str | None]] = {
    None: (None, Activity.IDLE, None),
    CallState.QUEUED: (None, Activity.IDLE, None),
    CallState.OFFERED: ("a1", Activity.RESERVED, "c1"),
    CallState.CONNECTED: ("a1", Activity.ON_CALL, "c1"),
    CallState.WRAP_UP: ("a1", Activity.WRAP_UP, "c1"),
    CallState.ENDED: ("a1", Activity.IDLE, None),
}


def scenario(state: CallState | None) -> tuple[Call | None, dict[str, Agent]]:
    call_agent, activity, held = _AGENT_FOR_STATE[state]
    call = None if state is None else make_call(state, agent_id=call_agent)
    return call, {"a1": make_agent("a1", activity, held)}


_EVENT_FIELDS: dict[str, dict[str, Any]] = {
    "call.created": {"from": "+15551230000", "queue": "billing"},
    "call.ringing": {},
    "call.answered": {"agent_id": "a1"},
    "call.ended": {"end_reason": "normal"},
    "call.transferred": {"queue": "sales"},
    "call.agent_failed": {"agent_id": "a1", "end_reason": "no_answer"},
    "call.dtmf": {"digits": "12#"},
    "call.callback_requested": {"number": "+15557770000"},
    "survey.completed": {"csat": 5},
}

Expected = tuple[Disposition, CallState, Outcome | None, dict[str, Activity]]
A, S = Disposition.APPLIED, Disposition.STALE
Q, OF, CO, WU, EN = (
    CallState.QUEUED,
    CallState.OFFERED,
    CallState.CONNECTED,
    CallState.WRAP_UP,
    CallState.ENDED,
)
H, AB = Outcome.HANDLED, Outcome.ABANDONED

# (state before, event type) -> result, state after, outcome after, agents in the change.
TABLE: dict[tuple[CallState | None, str], Expected | type[Exception]] = {
    (None, "call.created"): (A, Q, None, {}),
    (None, "call.ringing"): (A, Q, None, {}),
    (None, "call.answered"): (A, CO, None, {"a1": Activity.ON_CALL}),
    (None, "call.ended"): (A, EN, AB, {}),
    (None, "call.transferred"): (A, Q, None, {}),
    (None, "call.agent_failed"): NotFound,
    (None, "call.dtmf"): (A, Q, None, {}),
    (None, "call.callback_requested"): (A, Q, None, {}),
    (None, "survey.completed"): NotFound,
    (Q, "call.created"): (S, Q, None, {}),
    (Q, "call.ringing"): (S, Q, None, {}),
    (Q, "call.answered"): (A, CO, None, {"a1": Activity.ON_CALL}),
    (Q, "call.ended"): (A, EN, AB, {}),
    (Q, "call.transferred"): IllegalTransition,
    (Q, "call.agent_failed"): (S, Q, None, {}),
    (Q, "call.dtmf"): (A, Q, None, {}),
    (Q, "call.callback_requested"): (A, Q, None, {}),
    (Q, "survey.completed"): (A, Q, None, {}),
    (OF, "call.created"): (S, OF, None, {}),
    (OF, "call.ringing"): (S, OF, None, {}),
    (OF, "call.answered"): (A, CO, None, {"a1": Activity.ON_CALL}),
    (OF, "call.ended"): (A, EN, AB, {"a1": Activity.IDLE}),
    (OF, "call.transferred"): IllegalTransition,
    (OF, "call.agent_failed"): (S, OF, None, {}),
    (OF, "call.dtmf"): (A, OF, None, {}),
    (OF, "call.callback_requested"): (A, OF, None, {}),
    (OF, "survey.completed"): (A, OF, None, {}),
    (CO, "call.created"): (S, CO, None, {}),
    (CO, "call.ringing"): (S, CO, None, {}),
    (CO, "call.answered"): (S, CO, None, {}),
    (CO, "call.ended"): (A, WU, H, {"a1": Activity.WRAP_UP}),
    (CO, "call.transferred"): (A, Q, None, {"a1": Activity.WRAP_UP}),
    (CO, "call.agent_failed"): (A, Q, None, {"a1": Activity.IDLE}),
    (CO, "call.dtmf"): (A, CO, None, {}),
    (CO, "call.callback_requested"): Conflict,
    (CO, "survey.completed"): (A, CO, None, {}),
    (WU, "call.created"): (S, WU, H, {}),
    (WU, "call.ringing"): (S, WU, H, {}),
    (WU, "call.answered"): (S, WU, H, {}),
    (WU, "call.ended"): (S, WU, H, {}),
    (WU, "call.transferred"): (S, WU, H, {}),
    (WU, "call.agent_failed"): (S, WU, H, {}),
    (WU, "call.dtmf"): (S, WU, H, {}),
    (WU, "call.callback_requested"): Conflict,
    (WU, "survey.completed"): (A, WU, H, {}),
    (EN, "call.created"): (S, EN, H, {}),
    (EN, "call.ringing"): (S, EN, H, {}),
    (EN, "call.answered"): (S, EN, H, {}),
    (EN, "call.ended"): (S, EN, H, {}),
    (EN, "call.transferred"): (S, EN, H, {}),
    (EN, "call.agent_failed"): (S, EN, H, {}),
    (EN, "call.dtmf"): (S, EN, H, {}),
    (EN, "call.callback_requested"): Conflict,
    (EN, "survey.completed"): (A, EN, H, {}),
}


def test_table_covers_every_state_and_event_type() -> None:
    states: list[CallState | None] = [None, Q, OF, CO, WU, EN]
    assert set(TABLE) == {(state, kind) for state in states for kind in _EVENT_FIELDS}


def _apply(call: Call | None, agents: dict[str, Agent], event: CallEvent) -> CallChange:
    return apply_call_event(call, agents, event, NOW, default_queue=DEFAULT_QUEUE)


@pytest.mark.parametrize(
    ("state", "kind", "expected"),
    [(state, kind, expected) for (state, kind), expected in TABLE.items()],
    ids=[f"{state}-{kind}" for state, kind in TABLE],
)
def test_every_event_from_every_state(
    state: CallState | None, kind: str, expected: Expected | type[Exception]
) -> None:
    call, agents = scenario(state)
    event = make_event(kind, occurred_at=at(60), **_EVENT_FIELDS[kind])
    if isinstance(expected, type):
        with pytest.raises(expected):
            _apply(call, agents, event)
        return
    disposition, new_state, outcome, agent_activity = expected
    change = _apply(call, agents, event)
    assert change.disposition is disposition
    assert change.call.state is new_state
    assert change.call.outcome is outcome
    assert {agent.id: agent.activity for agent in change.agents} == agent_activity
    if disposition is Disposition.STALE:
        assert change.call == call
    assert (change.finished is not None) == (kind == "call.ended" and disposition is A)


@pytest.mark.parametrize(
    ("state", "reason", "outcome"),
    [
        (Q, "normal", AB),
        (Q, "no_answer", AB),
        (Q, "canceled", AB),
        (Q, "busy", Outcome.FAILED),
        (Q, "failed", Outcome.FAILED),
        (OF, "normal", AB),
        (OF, "failed", Outcome.FAILED),
        (OF, "busy", Outcome.FAILED),
        (None, "failed", Outcome.FAILED),
        (None, "canceled", AB),
        (CO, "failed", H),
        (CO, "busy", H),
        (CO, "normal", H),
    ],
)
def test_end_reason_decides_the_outcome(
    state: CallState | None, reason: str, outcome: Outcome
) -> None:
    call, agents = scenario(state)
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(60), end_reason=reason))
    assert change.call.outcome is outcome
    assert change.call.end_reason == reason
    assert change.call.ended_at == at(60)
    assert change.finished is not None
    assert change.finished.outcome is outcome


def test_illegal_transition_names_the_call_and_states() -> None:
    call, agents = scenario(Q)
    with pytest.raises(IllegalTransition) as caught:
        _apply(call, agents, make_event("call.transferred", occurred_at=at(60)))
    assert (caught.value.entity, caught.value.entity_id) == ("call", "c1")
    assert (caught.value.current, caught.value.requested) == ("queued", "transferred")


@pytest.mark.parametrize(
    ("activity", "held"),
    [
        (Activity.ON_CALL, "c9"),
        (Activity.RESERVED, "c9"),
        (Activity.WRAP_UP, "c9"),
    ],
)
def test_answering_agent_holding_another_call_is_busy(activity: Activity, held: str) -> None:
    call = make_call(Q)
    agents = {"a2": make_agent("a2", activity, held)}
    with pytest.raises(AgentBusy) as caught:
        _apply(call, agents, make_event("call.answered", occurred_at=at(60), agent_id="a2"))
    assert (caught.value.agent_id, caught.value.call_id) == ("a2", "c9")


def test_answer_of_an_unknown_call_by_a_busy_agent_is_busy() -> None:
    agents = {"a2": make_agent("a2", Activity.ON_CALL, "c9")}
    with pytest.raises(AgentBusy):
        _apply(None, agents, make_event("call.answered", agent_id="a2"))


def test_answer_by_another_agent_releases_the_reserved_one() -> None:
    call = make_call(OF, agent_id="a1")
    agents = {"a1": make_agent("a1", Activity.RESERVED, "c1"), "a2": make_agent("a2")}
    change = _apply(call, agents, make_event("call.answered", occurred_at=at(60), agent_id="a2"))
    assert change.call.agent_id == "a2"
    assert change.call.answered_at == at(60)
    by_id = {agent.id: agent for agent in change.agents}
    assert (by_id["a1"].activity, by_id["a1"].call_id, by_id["a1"].idle_since) == (
        Activity.IDLE,
        None,
        NOW,
    )
    assert (by_id["a2"].activity, by_id["a2"].call_id) == (Activity.ON_CALL, "c1")


def test_answer_without_agent_id_goes_to_the_reserved_agent() -> None:
    call, agents = scenario(OF)
    change = _apply(call, agents, make_event("call.answered", occurred_at=at(60)))
    assert change.call.agent_id == "a1"
    assert [(a.id, a.activity, a.call_id) for a in change.agents] == [
        ("a1", Activity.ON_CALL, "c1")
    ]


def test_ended_while_offered_releases_the_reserved_agent_to_idle() -> None:
    call, agents = scenario(OF)
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(60)))
    assert change.call.state is CallState.ENDED
    assert change.call.outcome is Outcome.ABANDONED
    (agent,) = change.agents
    assert (agent.activity, agent.call_id, agent.idle_since) == (Activity.IDLE, None, NOW)
    assert agent.calls_today == 0
    assert change.finished is not None
    assert change.finished.agent_id is None
    assert change.finished.talk_seconds is None


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (Q, "call.answered"),
        (OF, "call.answered"),
        (CO, "call.transferred"),
    ],
)
@pytest.mark.parametrize("seconds", [0, 29])
def test_late_answered_and_transferred_are_stale(state: CallState, kind: str, seconds: int) -> None:
    call, agents = scenario(state)
    change = _apply(call, agents, make_event(kind, occurred_at=at(seconds), agent_id="a1"))
    assert change.disposition is Disposition.STALE
    assert change.call is call
    assert change.agents == ()


def test_event_at_the_same_instant_as_the_last_is_not_late() -> None:
    call, agents = scenario(Q)
    change = _apply(call, agents, make_event("call.answered", occurred_at=at(30), agent_id="a1"))
    assert change.disposition is Disposition.APPLIED
    assert change.call.state is CallState.CONNECTED


def test_late_ended_still_ends_the_call_and_keeps_last_event_at() -> None:
    call, agents = scenario(CO)
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(25)))
    assert change.call.state is CallState.WRAP_UP
    assert change.call.ended_at == at(25)
    assert change.call.last_event_at == at(30)


def test_late_end_never_gives_a_negative_talk_time() -> None:
    # The end is stamped before the answer (gateway clocks disagree): talk time is 0.
    call, agents = scenario(CO)
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(10)))
    (agent,) = change.agents
    assert agent.talk_seconds_today == 0.0
    assert change.finished is not None
    assert change.finished.talk_seconds is not None
    assert change.finished.talk_seconds >= 0.0


def test_event_without_occurred_at_uses_now() -> None:
    change = _apply(None, {}, make_event("call.created"))
    assert change.call.created_at == NOW
    assert change.call.last_event_at == NOW
    assert change.call.queued_at == NOW


def test_new_call_takes_its_fields_from_the_event() -> None:
    event = make_event(
        "call.created",
        occurred_at=at(5),
        to="+15559870000",
        direction="outbound",
        queue="sales",
        attributes={"lang": "en", "vip": True},
        **{"from": "+1 (555) 123-0000"},
    )
    change = _apply(None, {}, event)
    call = change.call
    assert (call.id, call.gateway_call_id) == ("c1", "c1")
    assert (call.state, call.queue, call.direction) == (Q, "sales", Direction.OUTBOUND)
    assert (call.from_, call.to) == ("+1 (555) 123-0000", "+15559870000")
    assert call.caller_key == "+15551230000"
    assert call.attributes == {"lang": "en", "vip": True}
    assert (call.created_at, call.queued_at, call.updated_at) == (at(5), at(5), NOW)
    assert call.agent_id is None
    assert change.agents == ()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("0044-20-7946-0958", "+442079460958"),
        ("Anonymous", "anonymous"),
        ("sip:Alice@Example.com", "sip:alice@example.com"),
        (None, None),
    ],
)
def test_new_call_normalises_the_caller_key(raw: str | None, key: str | None) -> None:
    fields = {"from": raw} if raw is not None else {}
    change = _apply(None, {}, make_event("call.ringing", **fields))
    assert change.call.caller_key == key
    assert change.call.from_ == raw


def test_new_call_without_queue_goes_to_the_default_queue() -> None:
    change = _apply(None, {}, make_event("call.created"))
    assert change.call.queue == DEFAULT_QUEUE
    assert change.call.direction is Direction.INBOUND


def test_repeated_created_fills_missing_details_without_moving_the_call() -> None:
    call = make_call(CO, agent_id="a1", from_=None, to=None, caller_key=None)
    call = msgspec.structs.replace(call, attributes={"lang": "en"})
    event = make_event(
        "call.created",
        occurred_at=at(90),
        to="+15559870000",
        queue="sales",
        attributes={"lang": "de", "intent": "refund"},
        **{"from": "0015551230000"},
    )
    change = _apply(call, {}, event)
    assert change.disposition is Disposition.STALE
    new = change.call
    assert (new.state, new.queue, new.agent_id) == (CO, "billing", "a1")
    assert (new.from_, new.caller_key, new.to) == ("0015551230000", "+15551230000", "+15559870000")
    assert new.attributes == {"lang": "en", "intent": "refund"}
    assert new.last_event_at == call.last_event_at
    assert new.updated_at == NOW
    assert change.agents == ()


def test_repeated_created_never_overwrites_known_details() -> None:
    call = make_call(Q, attributes={"lang": "en"})
    event = make_event(
        "call.created",
        occurred_at=at(90),
        to="+15550000000",
        attributes={"lang": "de"},
        **{"from": "+15550000001"},
    )
    change = _apply(call, {}, event)
    assert change.disposition is Disposition.STALE
    assert change.call is call


def test_dtmf_digits_append() -> None:
    first = _apply(None, {}, make_event("call.dtmf", occurred_at=at(1), digits="12"))
    assert first.call.attributes["dtmf"] == "12"
    second = _apply(first.call, {}, make_event("call.dtmf", occurred_at=at(2), digits="3#"))
    assert second.call.attributes["dtmf"] == "123#"
    assert second.call.last_event_at == at(2)
    assert second.call.state is CallState.QUEUED


def test_dtmf_keeps_the_last_64_digits_and_other_attributes() -> None:
    call = make_call(Q, attributes={"dtmf": "1" * 63, "lang": "en"})
    change = _apply(call, {}, make_event("call.dtmf", occurred_at=at(60), digits="2#"))
    assert change.call.attributes == {"dtmf": "1" * 62 + "2#", "lang": "en"}


def test_transfer_requeues_the_call_and_starts_wrap_up() -> None:
    call, agents = scenario(CO)
    change = _apply(call, agents, make_event("call.transferred", occurred_at=at(80), queue="sales"))
    new = change.call
    assert (new.state, new.queue, new.agent_id, new.answered_at) == (Q, "sales", None, None)
    assert (new.queued_at, new.queue_hint) == (at(80), "sales")
    (agent,) = change.agents
    assert (agent.activity, agent.call_id) == (Activity.WRAP_UP, "c1")
    assert agent.calls_today == 1
    assert agent.talk_seconds_today == 60.0
    assert change.finished is None


def test_transfer_without_queue_keeps_the_queue() -> None:
    call, agents = scenario(CO)
    change = _apply(call, agents, make_event("call.transferred", occurred_at=at(80)))
    assert change.call.queue == "billing"


def test_end_of_a_connected_call_counts_the_talk_and_summarises() -> None:
    call, agents = scenario(CO)
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(200)))
    (agent,) = change.agents
    assert (agent.activity, agent.call_id) == (Activity.WRAP_UP, "c1")
    assert (agent.calls_today, agent.talk_seconds_today) == (1, 180.0)
    summary = change.finished
    assert summary is not None
    assert (summary.call_id, summary.queue, summary.outcome) == ("c1", "billing", H)
    assert (summary.agent_id, summary.at) == ("a1", at(0))
    assert (summary.wait_seconds, summary.talk_seconds) == (20.0, 180.0)


def test_end_of_a_connected_call_whose_agent_is_unknown_ends_at_once() -> None:
    call = make_call(CO, agent_id="ghost")
    change = _apply(call, {}, make_event("call.ended", occurred_at=at(200)))
    assert change.call.state is CallState.ENDED
    assert change.call.outcome is Outcome.HANDLED
    assert change.agents == ()


def test_end_of_a_connected_call_whose_agent_moved_on_leaves_the_agent_alone() -> None:
    # the stored agent moved on before this end arrived (it already took another call)
    call = make_call(CO, agent_id="a1")
    agents = {"a1": make_agent("a1", Activity.ON_CALL, call_id="c2")}
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(200)))
    assert (change.call.state, change.call.outcome) == (CallState.ENDED, Outcome.HANDLED)
    assert change.agents == ()
    assert change.finished is not None and change.finished.agent_id == "a1"


def test_end_of_an_offered_call_that_failed_releases_the_reserved_agent() -> None:
    call, agents = scenario(OF)
    change = _apply(call, agents, make_event("call.ended", occurred_at=at(60), end_reason="busy"))
    assert (change.call.outcome, change.call.end_reason) == (Outcome.FAILED, "busy")
    assert change.call.reservation is None
    assert [(a.id, a.activity) for a in change.agents] == [("a1", Activity.IDLE)]


def test_survey_merges_with_earlier_answers() -> None:
    call = make_call(EN, agent_id="a1", survey=Survey(csat=2, ces=3))
    change = _apply(call, {}, make_event("survey.completed", csat=4, nps=9))
    assert change.call.survey == Survey(csat=4, nps=9, ces=3)
    assert change.survey == change.call.survey
    assert change.call.state is CallState.ENDED
    assert change.call.updated_at == NOW


def test_survey_for_an_unknown_call_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        _apply(None, {}, make_event("survey.completed", call_id="nope", csat=3))
    assert (caught.value.entity, caught.value.entity_id) == ("call", "nope")


# complete_wrap_up: agent activity, the call's state -> agent after, call state after.
@pytest.mark.parametrize(
    ("call_state", "call_agent", "ended"),
    [
        (None, None, False),
        (WU, "a1", True),
        (EN, "a1", False),
        (Q, None, False),
        (CO, "a2", False),
    ],
)
def test_complete_wrap_up(
    call_state: CallState | None, call_agent: str | None, ended: bool
) -> None:
    agent = make_agent("a1", Activity.WRAP_UP, "c1")
    call = None if call_state is None else make_call(call_state, agent_id=call_agent)
    idle, new_call = complete_wrap_up(call, agent, NOW)
    assert (idle.activity, idle.call_id, idle.idle_since, idle.activity_since) == (
        Activity.IDLE,
        None,
        NOW,
        NOW,
    )
    if ended:
        assert new_call is not None
        assert (new_call.state, new_call.updated_at) == (CallState.ENDED, NOW)
        assert new_call.outcome is Outcome.HANDLED
    else:
        assert new_call is None


@pytest.mark.parametrize("activity", [Activity.IDLE, Activity.RESERVED, Activity.ON_CALL])
def test_complete_wrap_up_outside_wrap_up_is_illegal(activity: Activity) -> None:
    agent = make_agent("a1", activity, None if activity is Activity.IDLE else "c1")
    with pytest.raises(IllegalTransition) as caught:
        complete_wrap_up(make_call(WU, agent_id="a1"), agent, NOW)
    assert (caught.value.entity, caught.value.current, caught.value.requested) == (
        "agent",
        str(activity),
        "idle",
    )


def test_finishing_wrap_up_after_a_transfer_leaves_the_next_agents_call_alone() -> None:
    # a1 transfers c1, a2 takes it and is wrapping it up: a1 finishing must not end c1.
    call, agents = scenario(CO)
    agents["a2"] = make_agent("a2")
    steps = [
        make_event("call.transferred", occurred_at=at(60)),
        make_event("call.answered", occurred_at=at(70), agent_id="a2"),
        make_event("call.ended", occurred_at=at(90)),
    ]
    for event in steps:
        involved = {a for a in (event.agent_id, call.agent_id if call else None) if a}
        change = _apply(call, {a: agents[a] for a in involved}, event)
        call = change.call
        agents.update({agent.id: agent for agent in change.agents})
    assert call is not None
    assert (call.state, call.agent_id) == (CallState.WRAP_UP, "a2")
    assert (agents["a1"].activity, agents["a1"].call_id) == (Activity.WRAP_UP, "c1")
    assert (agents["a2"].activity, agents["a2"].call_id) == (Activity.WRAP_UP, "c1")
    idle, new_call = complete_wrap_up(call, agents["a1"], NOW)
    assert idle.activity is Activity.IDLE
    assert new_call is None
