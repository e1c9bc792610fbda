"""A call's final sentiment and last lines arriving after the call was recorded in the
history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.callers import (
    EXCERPT_CHARS,
    SENTIMENT_EWMA_ALPHA,
    CallerHistory,
    CallSummary,
    excerpt_of,
    record_call,
    record_excerpt,
    record_sentiment,
)
from callcenter.domain.calls import Outcome

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def summary(call_id: str, at: datetime, sentiment: float | None = None) -> CallSummary:
    return CallSummary(
        call_id=call_id, at=at, queue="q", outcome=Outcome.HANDLED, sentiment=sentiment
    )


def test_a_late_sentiment_joins_the_history_once() -> None:
    history = record_call(CallerHistory(), summary("c1", T0))
    assert history.sentiment_ewma is None
    scored = record_sentiment(history, "c1", -0.6)
    assert scored.last_sentiment == -0.6 and scored.sentiment_ewma == -0.6
    assert scored.recent[0].sentiment == -0.6
    assert record_sentiment(scored, "c1", -0.6) is scored  # idempotent


def test_correcting_a_counted_sentiment_moves_the_ewma_by_its_weight() -> None:
    history = record_call(CallerHistory(), summary("c1", T0, 0.5))
    history = record_call(history, summary("c2", T0 + timedelta(days=1), -0.5))
    corrected = record_sentiment(history, "c1", -0.5)  # the older call, seen late
    straight = record_call(CallerHistory(), summary("c1", T0, -0.5))
    straight = record_call(straight, summary("c2", T0 + timedelta(days=1), -0.5))
    assert corrected.sentiment_ewma == pytest.approx(straight.sentiment_ewma)
    assert corrected.last_sentiment == -0.5  # the latest call's, unchanged
    assert SENTIMENT_EWMA_ALPHA < 1


def test_an_unknown_call_changes_nothing() -> None:
    history = record_call(CallerHistory(), summary("c1", T0, 0.1))
    assert record_sentiment(history, "other", -1.0) is history


def test_correcting_the_seeding_score_replaces_it_whole() -> None:
    history = record_call(CallerHistory(), summary("c1", T0, 0.5))
    assert record_sentiment(history, "c1", -0.5).sentiment_ewma == pytest.approx(-0.5)


def test_correcting_a_score_whose_older_calls_dropped_out_uses_weight_alpha() -> None:
    # older calls are counted (calls_total) but no longer kept: c1 did not seed the EWMA
    history = CallerHistory(
        calls_total=25, recent=[summary("c1", T0, 0.5)], sentiment_ewma=0.2, last_sentiment=0.5
    )
    corrected = record_sentiment(history, "c1", -0.5)
    assert corrected.sentiment_ewma == pytest.approx(0.2 - SENTIMENT_EWMA_ALPHA * 1.0)
    assert corrected.last_sentiment == -0.5


def test_each_newer_score_shrinks_a_correction_by_one_minus_alpha() -> None:
    history = record_call(CallerHistory(), summary("c1", T0 - timedelta(days=2), 0.5))
    history = record_call(history, summary("c2", T0 - timedelta(days=1)))  # no score
    history = record_call(history, summary("c3", T0, 0.0))
    corrected = record_sentiment(history, "c1", -0.5)
    assert history.sentiment_ewma is not None
    expected = history.sentiment_ewma + (1 - SENTIMENT_EWMA_ALPHA) * -1.0
    assert corrected.sentiment_ewma == pytest.approx(expected)
    assert corrected.last_sentiment == 0.0  # c3's, the latest call


def test_a_correction_never_takes_the_ewma_out_of_range() -> None:
    history = CallerHistory(calls_total=1, recent=[summary("c1", T0, -0.9)], sentiment_ewma=0.9)
    assert record_sentiment(history, "c1", 1.0).sentiment_ewma == 1.0
    assert record_sentiment(history, "c1", -1.0).sentiment_ewma == pytest.approx(0.8)


def test_an_excerpt_is_the_last_three_lines_each_cut() -> None:
    lines = [("caller", "one"), ("agent", "two"), ("caller", "x" * 500), ("agent", "four")]
    assert excerpt_of(lines) == ["agent: two", f"caller: {'x' * EXCERPT_CHARS}", "agent: four"]
    assert excerpt_of([]) == []


def test_late_lines_replace_the_excerpt_of_a_recorded_call_only() -> None:
    history = record_call(CallerHistory(), summary("c1", T0))
    lines = ["caller: where is my order", "agent: it ships today"]
    with_lines = record_excerpt(history, "c1", lines)
    assert with_lines.recent[0].excerpt == lines
    assert record_excerpt(with_lines, "c1", lines) is with_lines  # the same lines
    assert record_excerpt(with_lines, "c1", []) is with_lines  # nothing to say: kept
    assert record_excerpt(history, "other", lines) is history  # not recorded (yet)
