"""Alert rules in the rule files: the shipped ones load, broken ones say file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.alerts import AlertKind, Severity
from callcenter.errors import RulesInvalid
from callcenter.rules.loader import load_rules
from tests.rules.test_loader import SHIPPED, line_of

ROUTING = "rules:\n  - name: default\n"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules.yaml").write_text(text)
    return tmp_path


def test_the_shipped_alert_rules_load() -> None:
    rules = load_rules(SHIPPED)
    by_name = {rule.name: rule for rule in rules.alerts}
    upset = by_name["caller-upset"]
    assert (upset.kind, upset.mood_below, upset.utterances) == (AlertKind.MOOD, -0.4, 2)
    assert upset.actions.raise_priority == 5 and upset.actions.tag_caller == "unhappy"
    words = by_name["escalation-words"]
    assert words.kind is AlertKind.KEYWORD and "lawyer" in words.phrases
    assert words.pattern is not None and words.pattern.search("i want a LAWYER")
    assert by_name["dead-air"].kind is AlertKind.SILENCE and by_name["dead-air"].speaker is None


def test_an_alert_rule_watches_exactly_one_thing(tmp_path: Path) -> None:
    text = ROUTING + (
        "alerts:\n"
        "  - name: both\n"
        "    mood_below: -0.5\n"
        "    phrases: [lawyer]\n"
        "  - name: none\n"
        "    severity: info\n"
    )
    with pytest.raises(RulesInvalid) as error:
        load_rules(write(tmp_path, text))
    problems = error.value.problems
    assert f"{tmp_path / 'rules.yaml'}:{line_of(text, 'name: both')}:" in problems[0]
    assert "exactly one of" in problems[0] and "(has 2)" in problems[0]
    assert f":{line_of(text, 'name: none')}:" in problems[1] and "(has 0)" in problems[1]


def test_bad_alert_values_name_their_line(tmp_path: Path) -> None:
    text = ROUTING + ("alerts:\n  - name: loud\n    mood_below: -3\n")
    with pytest.raises(RulesInvalid) as error:
        load_rules(write(tmp_path, text))
    assert f":{line_of(text, 'mood_below')}:" in error.value.problems[0]


def test_unknown_actions_and_duplicate_names_are_refused(tmp_path: Path) -> None:
    text = ROUTING + ("alerts:\n  - name: a\n    phrases: [x]\n    actions: {page_the_ceo: true}\n")
    with pytest.raises(RulesInvalid) as error:
        load_rules(write(tmp_path, text))
    assert "page_the_ceo" in error.value.problems[0]
    twice = ROUTING + (
        "alerts:\n"
        "  - name: a\n"
        "    phrases: [x]\n"
        "  - name: a\n"
        "    silence_seconds: 5\n"
        "    severity: critical\n"
    )
    with pytest.raises(RulesInvalid) as error:
        load_rules(write(tmp_path, twice))
    assert "defined twice" in error.value.problems[0]


def test_alert_fields_reach_the_rule(tmp_path: Path) -> None:
    text = ROUTING + (
        "alerts:\n"
        "  - name: words\n"
        "    phrases: [cancel my account]\n"
        "    speaker: agent\n"
        "    severity: critical\n"
        "    actions: {alert: false, tag_caller: churn-risk}\n"
    )
    (rule,) = load_rules(write(tmp_path, text)).alerts
    assert rule.speaker == "agent" and rule.severity is Severity.CRITICAL
    assert not rule.actions.alert and rule.actions.tag_caller == "churn-risk"
    assert rule.line == line_of(text, "name: words")
