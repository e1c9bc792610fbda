"""Callbacks in the domain: asking for one, the attempts an agent's accept starts, what
the gateway's reports do to them, the retry policy, cancelation and the input checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from callcenter.domain.agents import Activity
from callcenter.domain.call_lifecycle import CallChange, Disposition, apply_call_event
from callcenter.domain.callbacks import (
    CLAIM_TIMEOUT,
    CLAIMS_PER_ATTEMPT,
    RING_TIMEOUT,
    cancel,
    check_not_before,
    check_number,
    claim_dial,
    dial_failed,
    dial_placed,
    new_callback,
    next_dial_step,
    request_callback,
    start_dial,
)
from callcenter.domain.calls import (
    Call,
    CallState,
    DialOutcome,
    DialState,
    Outcome,
    Reservation,
)
from callcenter.domain.messages import Channel
from callcenter.domain.reservations import accept
from callcenter.domain.routing_context import ticket_of
from callcenter.domain.routing_rules import QueueConfig
from callcenter.errors import Conflict, InvalidInput
from tests.domain.test_call_lifecycle import NOW, at, make_agent, make_call, make_event

BILLING = QueueConfig(name="billing", callback_max_attempts=2, callback_retry_seconds=120)


def _queues(name: str) -> QueueConfig:
    return BILLING if name == "billing" else QueueConfig(name=name)


def waiting_callback() -> Call:
    return request_callback(
        make_call(CallState.QUEUED), None, at(40), source="event", max_attempts=2
    )


def dialling(call: Call | None = None, *, attempt_at: int = 100) -> Call:
    """The callback accepted by a1: connected, attempt pending."""
    call = call or waiting_callback()
    offered = msgspec.structs.replace(call, state=CallState.OFFERED, agent_id="a1")
    connected = msgspec.structs.replace(offered, state=CallState.CONNECTED)
    return start_dial(connected, "a1", f"d{attempt_at}", at(attempt_at))


def test_a_waiting_caller_keeps_place_and_priority_when_taking_a_callback() -> None:
    live = make_call(CallState.QUEUED, priority=5)
    called_back = request_callback(live, "+15557770000", at(40), source="ivr", max_attempts=2)
    assert called_back.callback is not None
    assert (called_back.callback.number, called_back.callback.source) == ("+15557770000", "ivr")
    assert called_back.callback.requested_at == at(40)
    live_ticket, callback_ticket = ticket_of(live), ticket_of(called_back)
    assert callback_ticket.channel is Channel.CALLBACK
    assert live_ticket.channel is Channel.VOICE
    assert msgspec.structs.replace(callback_ticket, channel=Channel.VOICE) == live_ticket


def test_the_callers_own_number_is_used_unless_another_is_given() -> None:
    own = waiting_callback().callback
    assert own is not None and own.number == "+15551230000"
    nameless = make_call(CallState.QUEUED, from_=None)
    with pytest.raises(Conflict, match="no caller number"):
        request_callback(nameless, None, at(40), source="event", max_attempts=2)


def test_asking_twice_changes_nothing() -> None:
    once = waiting_callback()
    assert request_callback(once, "+15550000000", at(50), source="event", max_attempts=2) is once


@pytest.mark.parametrize("state", [CallState.CONNECTED, CallState.WRAP_UP, CallState.ENDED])
def test_only_a_waiting_call_can_be_called_back(state: CallState) -> None:
    with pytest.raises(Conflict, match="only a waiting call"):
        request_callback(make_call(state), None, at(40), source="event", max_attempts=2)


@pytest.mark.parametrize(
    "number", ["5551234567", "+0551234567", "+1555", "+1555123456789012", "+1555 123 4567"]
)
def test_numbers_must_be_e164(number: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_number(number)
    assert caught.value.pointer == "/number"


def test_schedules_within_thirty_days() -> None:
    assert check_not_before(None, NOW) is None
    assert check_not_before(NOW + timedelta(days=29), NOW) == NOW + timedelta(days=29)
    assert check_not_before(NOW - timedelta(seconds=30), NOW) == NOW  # a clock's slack
    for bad, reason in ((NOW - timedelta(minutes=5), "past"), (NOW + timedelta(days=31), "30")):
        with pytest.raises(InvalidInput, match=reason) as caught:
            check_not_before(bad, NOW)
        assert caught.value.pointer == "/not_before"


def test_a_scheduled_callback_waits_from_its_time() -> None:
    later = NOW + timedelta(hours=2)
    call = new_callback(
        "cb-1",
        number="+15557770000",
        queue="billing",
        attributes={"lang": "es"},
        name="Ana",
        not_before=later,
        now=NOW,
    )
    assert (call.state, call.queued_at, call.caller_key) == (
        CallState.QUEUED,
        later,
        "+15557770000",
    )
    assert ticket_of(call).not_before == later


def test_accepting_starts_one_pending_attempt() -> None:
    call = waiting_callback()
    offered = msgspec.structs.replace(call, state=CallState.OFFERED)
    agent = make_agent("a1", Activity.RESERVED, "c1")
    reservation = Reservation(id="r1", agent_id="a1", offered_at=at(90), expires_at=at(120))
    offered = msgspec.structs.replace(offered, agent_id="a1", reservation=reservation)
    connected, on_call = accept(offered, agent, "r1", at(100))
    dialled = start_dial(connected, "a1", "d1", at(100))
    assert on_call.activity is Activity.ON_CALL
    assert dialled.callback is not None and dialled.callback.dial is not None
    assert dialled.callback.attempts == 1
    assert (dialled.callback.dial.state, dialled.callback.dial.attempt) == (DialState.PENDING, 1)
    assert dialled.answered_at is None  # the customer is not on the line yet


def test_next_step_of_an_attempt() -> None:
    call = dialling()
    assert next_dial_step(call, "d100", at(100)).action == "place"
    assert next_dial_step(call, "other", at(100)).action == "nothing"
    claimed = claim_dial(call, "d100", at(101))
    waiting = next_dial_step(claimed, "d100", at(105))
    assert (waiting.action, waiting.at) == ("wait", at(101) + CLAIM_TIMEOUT)
    assert next_dial_step(claimed, "d100", at(101) + CLAIM_TIMEOUT).action == "place"
    silent = claimed
    for _ in range(CLAIMS_PER_ATTEMPT - 1):
        silent = claim_dial(silent, "d100", at(101))
    gave_up = next_dial_step(silent, "d100", at(101) + CLAIM_TIMEOUT)
    assert (gave_up.action, gave_up.outcome) == ("give_up", DialOutcome.FAILED)
    placed = dial_placed(claimed, "d100", "CA1", at(102))
    assert placed.callback is not None and placed.callback.dial is not None
    assert placed.callback.dial.gateway_call_id == "CA1"
    assert next_dial_step(placed, "d100", at(110)).action == "wait"
    rang_out = next_dial_step(placed, "d100", at(101) + RING_TIMEOUT)
    assert (rang_out.action, rang_out.outcome) == ("give_up", DialOutcome.NO_ANSWER)


def test_an_unanswered_attempt_frees_the_agent_and_waits_in_the_old_place() -> None:
    call = dialling()
    agent = make_agent("a1", Activity.ON_CALL, "c1")
    again, freed = dial_failed(call, agent, DialOutcome.BUSY, at(130), BILLING)
    assert freed is not None and freed.activity is Activity.IDLE
    assert again.state is CallState.QUEUED and again.agent_id is None
    assert again.queued_at == call.queued_at
    assert again.callback is not None
    assert again.callback.not_before == at(130) + timedelta(seconds=120)
    assert again.callback.last_outcome is DialOutcome.BUSY


def test_out_of_attempts_the_callback_ends_failed() -> None:
    first, _ = dial_failed(dialling(), None, DialOutcome.NO_ANSWER, at(130), BILLING)
    second = dialling(first, attempt_at=300)
    assert second.callback is not None and second.callback.attempts == 2
    ended, _ = dial_failed(second, None, DialOutcome.FAILED, at(330), BILLING)
    assert (ended.state, ended.outcome, ended.end_reason) == (
        CallState.ENDED,
        Outcome.FAILED,
        "callback_failed",
    )


def test_the_gateways_reports_move_the_attempt() -> None:
    call = dialling()
    agents = {"a1": make_agent("a1", Activity.ON_CALL, "c1")}

    def apply(kind: str, seconds: int, dial: str | None = "d100", **fields: str) -> CallChange:
        tag: dict[str, Any] = {"attributes": {"dial_id": dial}} if dial else {}
        event = make_event(kind, occurred_at=at(seconds), **tag, **fields)
        return apply_call_event(call, agents, event, at(seconds), default_queue="x", queues=_queues)

    ringing = apply("call.ringing", 101)
    assert ringing.call.callback is not None and ringing.call.callback.dial is not None
    assert ringing.call.callback.dial.state is DialState.PLACED
    answered = apply("call.answered", 110)
    assert answered.call.answered_at == at(110)
    assert answered.call.callback is not None
    assert answered.call.callback.last_outcome is DialOutcome.ANSWERED
    busy = apply("call.ended", 105, end_reason="busy")
    assert busy.call.state is CallState.QUEUED
    assert [(a.id, a.activity) for a in busy.agents] == [("a1", Activity.IDLE)]
    assert busy.finished is None
    # the first leg's hang-up, reported late, is about an earlier leg: the attempt goes on
    # a report naming the attempt counts even when its clock (whole seconds) is earlier
    rounded = apply("call.ringing", 99)
    assert rounded.call.callback is not None and rounded.call.callback.dial is not None
    assert rounded.call.callback.dial.state is DialState.PLACED
    other = apply("call.ended", 120, dial="d1", end_reason="busy")  # an earlier attempt's
    assert (other.disposition, other.call) == (Disposition.STALE, call)
    # untagged: the customer's first leg leaving while it has not said so, then the attempt
    first = apply("call.ended", 120, dial=None, end_reason="busy")
    assert first.disposition is Disposition.STALE and first.call.state is CallState.CONNECTED
    assert first.call.callback is not None and not first.call.callback.first_leg
    call = first.call
    early = apply("call.ended", 90, dial=None, end_reason="busy")  # before the attempt began
    assert (early.disposition, early.call) == (Disposition.STALE, call)
    untagged = apply("call.ended", 121, dial=None, end_reason="busy")
    assert untagged.call.state is CallState.QUEUED


def test_after_the_answer_the_callback_ends_like_any_call() -> None:
    call = dialling()
    agents = {"a1": make_agent("a1", Activity.ON_CALL, "c1")}
    answered = apply_call_event(
        call, agents, make_event("call.answered", occurred_at=at(110)), at(110), default_queue="x"
    ).call
    hung_up = apply_call_event(
        answered,
        agents,
        make_event("call.ended", occurred_at=at(200)),
        at(200),
        default_queue="x",
    )
    assert hung_up.call.state is CallState.WRAP_UP
    assert hung_up.finished is not None
    assert (hung_up.finished.callback, hung_up.finished.talk_seconds) == ("answered", 90.0)


def test_the_first_legs_hang_up_does_not_end_a_waiting_callback() -> None:
    call = waiting_callback()
    change = apply_call_event(
        call, {}, make_event("call.ended", occurred_at=at(45)), at(45), default_queue="x"
    )
    assert change.disposition is Disposition.STALE
    assert call.callback is not None and change.call.callback is not None
    gone = msgspec.structs.replace(call.callback, first_leg=False)
    assert change.call == msgspec.structs.replace(call, callback=gone)


def test_a_final_failure_lands_in_the_history_summary() -> None:
    first, _ = dial_failed(dialling(), None, DialOutcome.BUSY, at(105), BILLING)
    call = dialling(first, attempt_at=110)  # the second of two attempts
    change = apply_call_event(
        call,
        {"a1": make_agent("a1", Activity.ON_CALL, "c1")},
        make_event(
            "call.ended",
            occurred_at=at(130),
            end_reason="no_answer",
            attributes={"dial_id": "d110"},
        ),
        at(130),
        default_queue="x",
        queues=_queues,
    )
    assert change.call.state is CallState.ENDED
    assert change.finished is not None
    assert (change.finished.outcome, change.finished.callback) == (Outcome.FAILED, "no_answer")


def test_cancel_ends_a_waiting_callback_and_withdraws_its_offer() -> None:
    call = msgspec.structs.replace(waiting_callback(), state=CallState.OFFERED, agent_id="a1")
    ended, freed = cancel(call, make_agent("a1", Activity.RESERVED, "c1"), at(50))
    assert (ended.state, ended.end_reason) == (CallState.ENDED, "callback_canceled")
    assert freed is not None and freed.activity is Activity.IDLE
    with pytest.raises(Conflict, match="no longer be canceled"):
        cancel(dialling(), None, at(120))
    with pytest.raises(Conflict, match="not a callback"):
        cancel(make_call(CallState.QUEUED), None, at(50))
