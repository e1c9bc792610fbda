"""Caller keys, the call history that routing reads, surveys and the repeat-caller flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.callers import (
    RECENT_CALLS_KEPT,
    CallerHistory,
    CallerProfile,
    CallSummary,
    caller_key,
    caller_view,
    record_call,
    record_survey,
    repeat_within,
)
from callcenter.domain.calls import Outcome, Survey

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def summary(
    call_id: str,
    hours: float,
    *,
    agent_id: str | None = "a1",
    queue: str = "billing",
    outcome: Outcome = Outcome.HANDLED,
    sentiment: float | None = None,
) -> CallSummary:
    return CallSummary(
        call_id=call_id,
        at=at(hours),
        queue=queue,
        outcome=outcome,
        agent_id=agent_id,
        sentiment=sentiment,
    )


def history_of(*calls: CallSummary) -> CallerHistory:
    history = CallerHistory()
    for call in calls:
        history = record_call(history, call)
    return history


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+15551230000", "+15551230000"),
        ("+1 555 123 0000", "+15551230000"),
        ("+1-555-123-0000", "+15551230000"),
        ("+1 (555) 123-0000", "+15551230000"),
        ("+1.555.123.0000", "+15551230000"),
        ("  +44 20 7946 0958 ", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("00441234567", "+441234567"),  # 9 digits after the prefix: E.164
        ("+4412345", "+4412345"),  # 7 digits: too short for E.164, kept as dialled
        ("+1234567890123456", "+1234567890123456"),  # 16 digits: too long, kept as dialled
        ("911", "911"),
        ("5551230000", "5551230000"),  # national number without country code
        ("0201234567", "0201234567"),
        ("Anonymous", "anonymous"),
        ("  Restricted  ", "restricted"),
        ("sip:Alice@Example.COM", "sip:alice@example.com"),
        ("sip:+15551230000@gw.example.com", "sip:+15551230000@gw.example.com"),
        ("+1 555 CALL NOW", "+1 555 call now"),
    ],
)
def test_caller_key(raw: str, key: str) -> None:
    assert caller_key(raw) == key


def test_first_call_fills_the_history() -> None:
    history = record_call(CallerHistory(), summary("c1", 0, sentiment=-0.5))
    assert history.calls_total == 1
    assert (history.last_call_at, history.last_agent, history.last_queue) == (
        at(0),
        "a1",
        "billing",
    )
    assert history.last_outcome is Outcome.HANDLED
    assert (history.last_sentiment, history.sentiment_ewma) == (-0.5, -0.5)
    assert [item.call_id for item in history.recent] == ["c1"]


def test_recording_the_same_call_twice_changes_nothing() -> None:
    history = history_of(summary("c1", 0), summary("c2", 1))
    again = record_call(history, summary("c1", 0, agent_id="a9", sentiment=0.9))
    assert again == history


def test_keeps_the_20_newest_calls_newest_first() -> None:
    history = history_of(*(summary(f"c{i}", i) for i in range(25)))
    assert history.calls_total == 25
    assert RECENT_CALLS_KEPT == 20
    assert [item.call_id for item in history.recent] == [f"c{i}" for i in range(24, 4, -1)]


def test_a_call_that_dropped_out_of_the_kept_list_is_not_counted_twice() -> None:
    # Duplicate deliveries re-record finished calls; the oldest may no longer be in `recent`.
    history = history_of(*(summary(f"c{i}", i) for i in range(RECENT_CALLS_KEPT + 1)))
    assert history.calls_total == RECENT_CALLS_KEPT + 1
    again = record_call(history, summary("c0", 0))
    assert again.calls_total == RECENT_CALLS_KEPT + 1


def test_a_late_older_call_does_not_change_the_last_fields() -> None:
    history = history_of(summary("new", 5, agent_id="a2", queue="sales", sentiment=0.4))
    late = record_call(
        history,
        summary(
            "old", 1, agent_id="a1", queue="billing", outcome=Outcome.ABANDONED, sentiment=-1.0
        ),
    )
    assert late.calls_total == 2
    assert (late.last_call_at, late.last_agent, late.last_queue) == (at(5), "a2", "sales")
    assert late.last_outcome is Outcome.HANDLED
    assert late.last_sentiment == 0.4
    assert [item.call_id for item in late.recent] == ["new", "old"]


def test_an_abandoned_newest_call_keeps_the_last_agent_who_talked() -> None:
    history = history_of(
        summary("c1", 0, agent_id="a1"),
        summary("c2", 1, agent_id=None, queue="sales", outcome=Outcome.ABANDONED),
    )
    assert history.last_agent == "a1"
    assert (history.last_queue, history.last_outcome) == ("sales", Outcome.ABANDONED)
    assert history.last_call_at == at(1)


def test_sentiment_ewma_weights_the_newest_call_by_0_3() -> None:
    history = history_of(summary("c1", 0, sentiment=0.5), summary("c2", 1, sentiment=-0.5))
    assert history.sentiment_ewma == pytest.approx(0.3 * -0.5 + 0.7 * 0.5)
    assert history.last_sentiment == -0.5
    history = record_call(history, summary("c3", 2, sentiment=1.0))
    assert history.sentiment_ewma == pytest.approx(0.3 * 1.0 + 0.7 * 0.2)


def test_a_call_without_sentiment_leaves_the_sentiment_alone() -> None:
    history = history_of(summary("c1", 0, sentiment=0.5), summary("c2", 1))
    assert (history.sentiment_ewma, history.last_sentiment) == (0.5, 0.5)


def test_record_survey_attaches_to_the_call_and_is_the_last_survey() -> None:
    history = history_of(summary("c1", 0), summary("c2", 1))
    survey = Survey(csat=4, nps=9)
    surveyed = record_survey(history, "c1", survey)
    by_id = {item.call_id: item for item in surveyed.recent}
    assert by_id["c1"].survey == survey
    assert by_id["c2"].survey is None
    assert surveyed.last_survey == survey
    assert surveyed.calls_total == history.calls_total
    newer = record_survey(surveyed, "c2", Survey(csat=1))
    assert newer.last_survey == Survey(csat=1)
    assert {item.call_id: item.survey for item in newer.recent} == {
        "c1": survey,
        "c2": Survey(csat=1),
    }


@pytest.mark.parametrize(
    ("call_at", "excluding", "expected"),
    [
        (at(-1), None, True),
        (at(0), None, True),
        (T0 - timedelta(days=7), None, True),
        (T0 - timedelta(days=7, seconds=1), None, False),
        (at(1), None, False),  # after `now`: not a call before this one
        (at(-1), "c1", False),  # the current call itself does not count
        (at(-1), "other", True),
    ],
)
def test_repeat_within_7_days(call_at: datetime, excluding: str | None, expected: bool) -> None:
    history = CallerHistory(
        recent=[CallSummary(call_id="c1", at=call_at, queue="q", outcome=Outcome.HANDLED)]
    )
    assert repeat_within(history, T0, excluding_call=excluding) is expected


def test_repeat_within_looks_past_the_current_call() -> None:
    history = history_of(summary("c1", -30), summary("c2", -0.5))
    assert repeat_within(history, T0, excluding_call="c2")
    assert not repeat_within(history, T0, timedelta(hours=1), excluding_call="c2")
    assert not repeat_within(CallerHistory(), T0)


def test_caller_view_of_an_unknown_caller() -> None:
    view = caller_view("+15551230000", None, None, T0)
    assert view.key == "+15551230000"
    assert view.profile == CallerProfile()
    assert view.history == CallerHistory()
    assert view.repeat_within_7d is False


def test_caller_view_shows_profile_history_and_repeat_flag() -> None:
    profile = CallerProfile(name="Bo", tier="vip", tags=["churn-risk"], account={"plan": "pro"})
    history = history_of(summary("c1", -24))
    view = caller_view("+15551230000", profile, history, T0)
    assert (view.profile, view.history) == (profile, history)
    assert view.repeat_within_7d is True
    assert caller_view("k", profile, history, T0 + timedelta(days=8)).repeat_within_7d is False
