"""Alert rules: mood runs, phrases, dead air; once per call and rule."""

from __future__ import annotations

import pytest

from callcenter.domain.alerts import (
    AlertKind,
    AlertRule,
    CallAlerts,
    phrase_pattern,
    shortest_silence,
)
from callcenter.domain.silence import CallSilence

UPSET = AlertRule(name="upset", kind=AlertKind.MOOD, mood_below=-0.4, utterances=2)
WORDS = AlertRule(
    name="words",
    kind=AlertKind.KEYWORD,
    phrases=("supervisor", "lawyer", "cancel my account"),
)
DEAD_AIR = AlertRule(name="dead-air", kind=AlertKind.SILENCE, silence_seconds=20, speaker=None)


def test_mood_must_stay_low_for_the_whole_run() -> None:
    alerts = CallAlerts([UPSET])
    assert alerts.on_utterance("caller", "this is bad", -0.6) == []
    assert alerts.on_utterance("caller", "fine", -0.2) == []  # the run is broken
    assert alerts.on_utterance("caller", "awful", -0.5) == []
    fired = alerts.on_utterance("caller", "terrible", -0.7)
    assert [t.rule.name for t in fired] == ["upset"]
    assert "below -0.40" in fired[0].reason and fired[0].speaker == "caller"


def test_a_rule_fires_once_per_call() -> None:
    alerts = CallAlerts([UPSET])
    alerts.on_utterance("caller", "a", -0.9)
    assert alerts.on_utterance("caller", "b", -0.9)
    assert alerts.on_utterance("caller", "c", -0.9) == []


def test_the_agents_mood_does_not_fire_a_caller_rule() -> None:
    alerts = CallAlerts([UPSET])
    for _ in range(3):
        assert alerts.on_utterance("agent", "ugh", -0.9) == []


def test_phrases_match_whole_words_in_any_case_and_spacing() -> None:
    pattern = phrase_pattern(["cancel my account", "lawyer"])
    assert pattern.search("i want to CANCEL  my account now")
    assert pattern.search("my lawyer will call")
    assert not pattern.search("lawyers are expensive")
    assert not pattern.search("cancel my accountant")


def test_keyword_rule_names_the_phrase_it_heard() -> None:
    alerts = CallAlerts([WORDS])
    assert alerts.on_utterance("caller", "put me through to your supervisors", 0.0) == []
    fired = alerts.on_utterance("caller", "get me a Supervisor", 0.0)
    assert fired and fired[0].reason == 'caller said "supervisor"'


def test_silence_fires_past_its_threshold_only() -> None:
    alerts = CallAlerts([DEAD_AIR, UPSET])
    assert alerts.on_silence(19.9) == []
    fired = alerts.on_silence(20.0)
    assert [t.rule.name for t in fired] == ["dead-air"]
    assert alerts.on_silence(40) == []
    assert shortest_silence([UPSET]) is None and shortest_silence([DEAD_AIR, UPSET]) == 20


def test_silence_counts_on_each_legs_audio_clock_after_someone_spoke() -> None:
    silence = CallSilence()
    silence.open("caller")
    silence.open("agent")
    assert silence.frame("caller", 5.0, voiced=False) == 0.0  # nobody spoke yet
    silence.frame("caller", 0.02, voiced=True)
    silence.frame("agent", 3.0, voiced=False)
    assert silence.frame("caller", 4.0, voiced=False) == pytest.approx(4.0)
    silence.frame("agent", 0.02, voiced=True)  # the agent answers
    assert silence.silence_s() == 0.0
    silence.frame("agent", 2.0, voiced=False)
    assert silence.frame("caller", 1.0, voiced=False) == pytest.approx(2.0)
