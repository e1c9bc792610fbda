"""First-contact resolution in the caller history: a handled call is unresolved once its
caller comes back to the same queue within 7 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.domain.callers import (
    CallerHistory,
    CallSummary,
    newly_unresolved,
    record_call,
    record_sentiment,
    record_survey,
)
from callcenter.domain.calls import Outcome, Survey

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def call(
    call_id: str, days: float, outcome: Outcome = Outcome.HANDLED, queue: str = "billing"
) -> CallSummary:
    return CallSummary(call_id=call_id, at=T0 + timedelta(days=days), queue=queue, outcome=outcome)


def flags(history: CallerHistory) -> dict[str, bool]:
    return {item.call_id: item.unresolved for item in history.recent}


def test_a_call_within_7_days_flags_the_earlier_handled_call() -> None:
    history = record_call(CallerHistory(), call("c1", 0))
    assert flags(history) == {"c1": False}
    again = record_call(history, call("c2", 7))  # exactly 7 days later: still a repeat
    assert flags(again) == {"c1": True, "c2": False}
    assert [item.call_id for item in newly_unresolved(history, again)] == ["c1"]


def test_a_contact_about_another_queue_flags_nothing() -> None:
    history = record_call(CallerHistory(), call("c1", 0))
    other = record_call(history, call("c2", 1, queue="sales"))
    assert flags(other) == {"c1": False, "c2": False}
    assert newly_unresolved(history, other) == []
    back = record_call(other, call("c3", 2))  # then back to billing: c1 did not solve it
    assert flags(back) == {"c1": True, "c2": False, "c3": False}


def test_a_call_after_7_days_flags_nothing() -> None:
    history = record_call(record_call(CallerHistory(), call("c1", 0)), call("c2", 7.01))
    assert flags(history) == {"c1": False, "c2": False}


def test_only_handled_calls_can_be_unresolved() -> None:
    history = CallerHistory()
    for item in (call("c1", 0, Outcome.ABANDONED), call("c2", 1, Outcome.FAILED), call("c3", 2)):
        history = record_call(history, item)
    assert flags(history) == {"c1": False, "c2": False, "c3": False}


def test_each_call_is_newly_unresolved_once() -> None:
    first = record_call(CallerHistory(), call("c1", 0))
    second = record_call(first, call("c2", 1))
    third = record_call(second, call("c3", 2))
    assert [i.call_id for i in newly_unresolved(first, second)] == ["c1"]
    assert [i.call_id for i in newly_unresolved(second, third)] == ["c2"]
    assert newly_unresolved(third, record_call(third, call("c2", 1))) == []  # a re-delivery


def test_a_late_recorded_earlier_call_is_flagged_when_recorded() -> None:
    later = record_call(CallerHistory(), call("c2", 3))
    both = record_call(later, call("c1", 0))  # its end reached us after the second call's
    assert flags(both) == {"c2": False, "c1": True}
    assert [i.call_id for i in newly_unresolved(later, both)] == ["c1"]
    assert [i.call_id for i in newly_unresolved(None, both)] == ["c1"]


def test_the_flag_survives_survey_and_sentiment_updates() -> None:
    history = record_call(record_call(CallerHistory(), call("c1", 0)), call("c2", 1))
    history = record_survey(history, "c1", Survey(csat=2))
    history = record_sentiment(history, "c1", -0.5)
    assert flags(history)["c1"] is True
