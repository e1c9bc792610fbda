"""Call mood: time-weighted, per speaker, with a trend and a final sentiment."""

from __future__ import annotations

import pytest

from callcenter.domain.mood import (
    MOOD_HALF_LIFE_S,
    CallMood,
    Utterance,
    call_mood,
    rolling_score,
    trend,
)


def said(score: float, start: float, end: float, speaker: str = "caller") -> Utterance:
    return Utterance(speaker=speaker, start_s=start, end_s=end, score=score)


def test_a_long_utterance_outweighs_a_short_one() -> None:
    rant = said(-0.8, 0.0, 8.0)
    okay = said(0.4, 8.5, 9.0)
    score = rolling_score([rant, okay], at_s=9.0)
    assert score is not None and score < -0.5


def test_old_utterances_fade_with_the_half_life() -> None:
    early = said(-0.8, 0.0, 4.0)
    late = said(0.8, 4.0 + MOOD_HALF_LIFE_S * 3, 8.0 + MOOD_HALF_LIFE_S * 3)
    score = rolling_score([early, late], at_s=late.end_s)
    # the early one weighs 1/8 of the late one after three half-lives
    assert score == pytest.approx((0.8 - 0.8 / 8) / (1 + 1 / 8), abs=0.01)


def test_trend_is_the_end_against_the_start() -> None:
    calming = [said(-0.9, 0, 2), said(-0.5, 3, 5), said(0.0, 6, 8), said(0.6, 9, 11)]
    assert trend(calming) > 1.0
    assert trend(list(reversed([said(u.score, u.start_s, u.end_s) for u in calming]))) < 0
    assert trend(calming[:1]) == 0.0


def test_moods_are_kept_per_speaker() -> None:
    mood = CallMood()
    mood.add(said(-0.7, 0, 3, "caller"))
    agent = mood.add(said(0.6, 3, 5, "agent"))
    caller = mood.add(said(-0.5, 5, 8, "caller"))
    assert agent.score == pytest.approx(0.6) and agent.utterances == 1
    assert caller.score < -0.5 and caller.utterances == 2
    assert mood.mood("agent").score == pytest.approx(0.6)


def test_the_final_sentiment_is_the_callers_and_ignores_the_agent() -> None:
    mood = call_mood([said(0.9, 0, 5, "agent"), said(-0.6, 5, 9, "caller")])
    final = mood.final_sentiment()
    assert final is not None and final == pytest.approx(-0.6)
    assert call_mood([said(0.5, 0, 2, "agent")]).final_sentiment() is None
    mixed = call_mood([said(0.3, 0, 2, "mixed")]).final_sentiment()
    assert mixed == pytest.approx(0.3)


def test_late_delivered_utterances_are_ordered_by_their_end() -> None:
    mood = CallMood()
    mood.add(said(0.5, 10, 12))
    latest = mood.add(said(-0.5, 2, 4))  # recognised late, spoken earlier
    assert latest.at_s == 12
